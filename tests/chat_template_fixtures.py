"""Tokenizers that carry the real chat templates of the models the recipes name, built without a download.

The helpers live in :mod:`rltrain.models.stand_in` (a dry run builds the same tokenizers); this module keeps
the names the chat-template tests import. Each is the built-in tiny byte-level tokenizer with its
``chat_template`` replaced by a template shipped under ``rltrain/models/chat_templates/`` (sources in the README
there) and the tokens that template writes added as single tokens, special or not as in the model's own
tokenizer.
"""

from __future__ import annotations

from typing import Any

from rltrain.models.shipped import CHAT_TEMPLATE_DIR as TEMPLATE_DIR
from rltrain.models.stand_in import (
    CHAT_MODELS,
    DEEPSEEK_BOS,
    DEEPSEEK_EOS,
    DEEPSEEK_ROLE_TOKENS,
    QWEN3,
    QWEN25,
    QWEN_TOOL_TOKENS,
    QWQ,
    R1_DISTILL,
    ChatModel,
    template_tokenizer,
)

__all__ = [
    "CHAT_MODELS", "DEEPSEEK_BOS", "DEEPSEEK_EOS", "DEEPSEEK_ROLE_TOKENS", "QWEN3", "QWEN25", "QWEN_TOOL_TOKENS", "QWQ",
    "R1_DISTILL", "TEMPLATE_DIR", "ChatModel", "template_tokenizer", "token_ids",
]


def token_ids(tokenizer: Any, text: str) -> list[int]:
    """``text`` as the model would have generated it: template tokens as single tokens, no BOS added."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])

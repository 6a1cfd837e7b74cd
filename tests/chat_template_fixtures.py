"""Tokenizers that carry the real chat templates of the models the recipes name, built without a download.

Each is the built-in tiny byte-level tokenizer (:func:`rltrain.models.tiny.build_tokenizer`) with its
``chat_template`` replaced by a template shipped under ``tests/data/chat_templates/`` (sources in the README
there) and the tokens that template writes added as single tokens, special or not as in the model's own
tokenizer: what the template renders, what TRL decodes and parses, and which tokens carry loss are then
those of the real model, only the vocabulary is smaller.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).parent / "data" / "chat_templates"

QWEN_TOOL_TOKENS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]
"""Single, non-special tokens in the Qwen 2.5 / QwQ / Qwen3 vocabularies (they survive ``skip_special_tokens``)."""

DEEPSEEK_BOS, DEEPSEEK_EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
DEEPSEEK_ROLE_TOKENS = ["<｜User｜>", "<｜Assistant｜>"]


@dataclass(frozen=True)
class ChatModel:
    """One model's template and the facts about it the tests check."""

    key: str
    """File stem under ``tests/data/chat_templates``."""
    model: str
    """The model whose ``tokenizer_config.json`` carries the template."""
    assistant_header: str
    """What opens an assistant turn."""
    end_of_turn: str
    """What closes an assistant turn in the rendering (the end-of-sequence token, then any newline)."""
    think_prefill: bool
    """The generation prompt ends with ``<think>\\n``: the model's completion starts inside its reasoning."""
    tools: bool
    """The template renders assistant tool calls and tool results (Hermes-style ``<tool_call>`` JSON)."""

    @property
    def template(self) -> str:
        return (TEMPLATE_DIR / f"{self.key}.jinja").read_text(encoding="utf-8")

    @property
    def eos(self) -> str:
        return self.end_of_turn.rstrip("\n")


QWQ = ChatModel("qwq_32b", "Qwen/QwQ-32B", "<|im_start|>assistant\n", "<|im_end|>\n", think_prefill=True, tools=True)
QWEN3 = ChatModel("qwen3_8b", "Qwen/Qwen3-8B", "<|im_start|>assistant\n", "<|im_end|>\n", think_prefill=False, tools=True)
R1_DISTILL = ChatModel("deepseek_r1_distill_qwen", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "<｜Assistant｜>", DEEPSEEK_EOS,
                       think_prefill=True, tools=False)
QWEN25 = ChatModel("qwen2_5_7b_instruct", "Qwen/Qwen2.5-7B-Instruct", "<|im_start|>assistant\n", "<|im_end|>\n",
                   think_prefill=False, tools=True)

CHAT_MODELS = [QWQ, QWEN3, R1_DISTILL, QWEN25]
"""Every shipped template, in the order of the QwQ recipe family (the policy first, then the cold starts)."""


def template_tokenizer(chat: ChatModel) -> Any:
    """The tiny byte-level tokenizer carrying ``chat``'s template, with the tokens that template writes.

    Qwen-family templates write ``<|im_start|>``/``<|im_end|>`` and ``<think>``/``</think>`` (which the tiny
    tokenizer already has, as the Qwen ones do) and the Hermes tool tags. DeepSeek-R1-Distill's write its own
    begin/end-of-sentence tokens (special: its bos, eos and pad) and role markers (not special).
    """
    from tokenizers import AddedToken

    from rltrain.models.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    tokenizer.chat_template = chat.template
    if chat is R1_DISTILL:
        tokenizer.add_special_tokens({"bos_token": DEEPSEEK_BOS, "eos_token": DEEPSEEK_EOS, "pad_token": DEEPSEEK_EOS})
        extra = DEEPSEEK_ROLE_TOKENS
    else:
        extra = QWEN_TOOL_TOKENS
    tokenizer.add_tokens([AddedToken(token, special=False, normalized=False) for token in extra])
    return tokenizer


def token_ids(tokenizer: Any, text: str) -> list[int]:
    """``text`` as the model would have generated it: template tokens as single tokens, no BOS added."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])

"""What a reward model reads: a conversation and a response rendered as one text.

The in-process model (:mod:`.model`), the server (:mod:`.server`) and the vLLM client (:mod:`.vllm`)
render pairs with the reward model's own chat template through :func:`render`; the OpenRLHF client
(:mod:`.client`) sends the plain concatenation of :func:`plain`. One module, so every path reads the
same text and none of them imports another to get it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from verifiers.errors import VerifierError
from verifiers.rules.check import strip_thinking

__all__ = ["Messages", "Pair", "Thinking", "messages_of", "plain", "render", "response_text"]

Messages = list[dict[str, Any]]
Pair = tuple[Messages, str]
"""A conversation (chat messages, or a plain prompt string) and the response to score."""

Thinking = Literal["strip", "keep"]


def messages_of(prompt: Any) -> Messages:
    """Chat messages from a prompt: a string becomes one user message."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if isinstance(prompt, Sequence) and all(isinstance(m, Mapping) for m in prompt):
        return [dict(m) for m in prompt]
    raise VerifierError(f"prompt must be a string or a list of chat messages, got {type(prompt).__name__}")


def response_text(response: str, thinking: Thinking = "strip") -> str:
    """The part of a response a reward model judges: the answer after ``</think>`` unless ``keep``."""
    return strip_thinking(response) if thinking == "strip" else response


def render(tokenizer, messages: Any, response: str, *, thinking: Thinking = "strip") -> str:
    """The text the reward model reads: the conversation and the response in the model's chat template."""
    conversation = messages_of(messages) + [{"role": "assistant", "content": response_text(response, thinking)}]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(conversation, tokenize=False)
    return "\n".join(m["content"] for m in conversation)  # a plain classifier without a template


def plain(messages: Any) -> str:
    """A conversation as plain text (OpenRLHF's ``/get_reward`` takes prompt + response strings)."""
    if isinstance(messages, str):
        return messages
    return "\n".join(str(m.get("content", "")) for m in messages)

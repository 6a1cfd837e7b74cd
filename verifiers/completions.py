"""Turn TRL completions into plain text.

TRL hands reward functions either plain strings (standard datasets) or, for conversational datasets,
a list of message dicts such as ``[{"role": "assistant", "content": "..."}]``. ``content`` may also be a
list of parts like ``{"type": "text", "text": "..."}``. When a response parser has already split the
reasoning out of the message (``reasoning_content``, ``reasoning`` or ``thinking``), it is put back as a
``<think>...</think>`` block so that format and answer extraction see the same text either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from verifiers.errors import VerifierError

__all__ = ["completion_text"]

_REASONING_KEYS = ("reasoning_content", "reasoning", "thinking")


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and part.get("type", "text") == "text":
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
        return "".join(parts)
    raise VerifierError(
        f"message content of type {type(content).__name__} is not text; expected a string or a list of "
        '{"type": "text", "text": ...} parts'
    )


def _message_text(message: Mapping[str, Any]) -> str:
    text = _content_text(message.get("content"))
    for key in _REASONING_KEYS:
        reasoning = message.get(key)
        if isinstance(reasoning, str) and reasoning:
            return f"<think>{reasoning}</think>{text}"
    return text


def completion_text(completion: Any) -> str:
    """The assistant text of one completion.

    Accepts a string (returned as is), a single message dict, or a list of message dicts; in the list
    case the text of every ``assistant`` message (messages without a role count as assistant) is joined
    with newlines, and tool or user turns are skipped. ``None`` gives ``""``.

    Raises:
        VerifierError: for any other type, naming the type received.
    """
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return _message_text(completion)
    if isinstance(completion, (list, tuple)):
        texts = []
        for message in completion:
            if isinstance(message, str):
                texts.append(message)
            elif isinstance(message, Mapping):
                if message.get("role", "assistant") == "assistant":
                    texts.append(_message_text(message))
            else:
                raise VerifierError(
                    f"completion message of type {type(message).__name__} is not a dict; expected "
                    '[{"role": "assistant", "content": ...}]'
                )
        return "\n".join(texts)
    raise VerifierError(
        f"completion of type {type(completion).__name__} is not supported; expected a string or a list of "
        'message dicts [{"role": "assistant", "content": ...}]'
    )

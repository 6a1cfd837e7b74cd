"""Think-format reward: reasoning closed by ``</think>``, then a non-empty answer.

Chat templates of reasoning models (QwQ, the R1 distills, the built-in tiny tokenizer) prefill
``<think>\\n`` in the prompt, so the completion starts directly with the reasoning and contains only the
closing tag. Both shapes are accepted::

    <think>reasoning</think>answer      # the model opened the block itself
    reasoning</think>answer             # the template opened it

A tool-using completion is several assistant turns (each a think block, then a tool call or the answer,
with tool results between them). Each turn is judged on its own: joined, their several ``</think>`` would
read as malformed and every completion that used a tool would score 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from verifiers.completions import completion_text
from verifiers.registry import RewardFn, register_reward

__all__ = ["answer_after_think", "final_answer", "think_format_reward"]

OPEN, CLOSE = "<think>", "</think>"


def _split(text: str) -> tuple[str, str] | None:
    """``(reasoning, answer)`` of a well-formed completion, else ``None``."""
    if not isinstance(text, str) or text.count(CLOSE) != 1:
        return None
    reasoning, answer = text.split(CLOSE)
    if OPEN in answer:
        return None
    opens = reasoning.count(OPEN)
    if opens > 1 or (opens == 1 and reasoning.lstrip()[: len(OPEN)] != OPEN):
        return None  # a second block, or text before the opening tag
    if opens == 1:
        reasoning = reasoning.lstrip()[len(OPEN) :]
    return reasoning.strip(), answer.strip()


def answer_after_think(text: str) -> str | None:
    """The answer after the single ``</think>`` of a well-formed completion, stripped; else ``None``.

    ``None`` when there is no ``</think>`` or more than one, when a ``<think>`` follows it, when there is
    more than one opening tag or text before it, or when the answer is empty.
    """
    parts = _split(text)
    if parts is None:
        return None
    return parts[1] or None


def _assistant_turns(completion: Any) -> list[str]:
    """The text of each assistant turn of a message-list completion; the whole text of any other."""
    if isinstance(completion, (list, tuple)) and all(isinstance(m, Mapping) for m in completion):
        turns = [completion_text(m) for m in completion if m.get("role", "assistant") == "assistant"]
        if turns:
            return turns
    return [completion_text(completion)]


def _turn_parts(completion: Any) -> list[tuple[str, str]] | None:
    """``(reasoning, answer)`` of each assistant turn when every one is well-formed, else ``None``."""
    turns = [_split(text) for text in _assistant_turns(completion)]
    return None if any(parts is None for parts in turns) else [p for p in turns if p is not None]


def final_answer(completion: Any) -> str | None:
    """The answer of a well-formed completion, stripped: after the single ``</think>`` of a text, or after
    the last turn's for a tool-using completion (a message list) whose every assistant turn is well-formed
    (earlier turns end in tool calls). ``None`` when malformed or when the answer is empty."""
    turns = _turn_parts(completion)
    if not turns or _ends_in_tool_call(completion):
        return None
    return turns[-1][1] or None


def _ends_in_tool_call(completion: Any) -> bool:
    """The last assistant message of a message list calls a tool (parsed ``tool_calls``): no answer yet."""
    if not isinstance(completion, (list, tuple)):
        return False
    assistant = [m for m in completion if isinstance(m, Mapping) and m.get("role", "assistant") == "assistant"]
    return bool(assistant and assistant[-1].get("tool_calls"))


def _think_format_score(completion: Any) -> float:
    """1.0 when every assistant turn is well-formed, some turn reasons and the last one answers."""
    turns = _turn_parts(completion)
    if not turns:
        return 0.0
    reasons = any(reasoning for reasoning, _ in turns)
    return 1.0 if reasons and turns[-1][1] else 0.0


def think_format_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """TRL reward: 1.0 for non-empty reasoning closed by ``</think>`` then a non-empty answer, else 0.0.

    For a tool-using completion: every assistant turn well-formed, reasoning in at least one, and a
    non-empty answer after the last ``</think>`` (earlier turns end in tool calls, not answers).
    """
    return [_think_format_score(completion) for completion in completions]


@register_reward("think_format", description="1.0 for reasoning closed by </think> followed by a non-empty answer")
def build_think_format() -> RewardFn:
    """Factory for the ``think_format`` reward (no parameters)."""

    def think_format(prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
        return list(think_format_reward(prompts, completions, **kwargs))

    return think_format

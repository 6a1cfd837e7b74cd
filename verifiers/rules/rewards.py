"""Rule rewards for stage two: instruction following (IFEval), answer format, length and repetition.

Registered names (see ``rltrain rewards``):

* ``ifeval``: the fraction of a row's instructions that the completion follows, or 1/0 for all of them
  (``mode: all``); rows carry ``instruction_id_list`` and ``kwargs`` columns (IFEval / RLVR-IFEval
  format; ``kwargs`` may also be a JSON string). Rows without instructions are masked (``None``), so
  the reward can be mixed with math rows. Logs the per-instruction following rate of each batch as
  ``ifeval/<instruction id>``.
* ``answer_format``: reasoning closed by one ``</think>``, then a non-empty answer; optionally nothing
  after the final ``\\boxed{}``.
* ``length_limit``: 1.0 up to a word/character budget of the answer, then a linear decay to 0.0.
* ``repetition_penalty``: ``max_penalty`` times the share of repeated word n-grams (0.0 for none).
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from typing import Any, Literal

from verifiers.completions import completion_text
from verifiers.errors import VerifierError
from verifiers.format import final_answer
from verifiers.registry import RewardFn, register_reward
from verifiers.rules.check import check, strip_thinking
from verifiers.rules.text import count_words

__all__ = ["answer_format_score", "repetition_score"]

logger = logging.getLogger(__name__)


def _row_kwargs(value: Any) -> list[dict[str, Any] | None] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise VerifierError(f"kwargs column: not valid JSON: {value[:80]!r}") from None
    return None if value is None else list(value)


@register_reward("ifeval", description="fraction (or all) of a row's IFEval instructions followed by the answer")
def build_ifeval(
    *,
    mode: Literal["fraction", "all"] = "fraction",
    strict: bool = True,
    ids_column: str = "instruction_id_list",
    kwargs_column: str = "kwargs",
) -> RewardFn:
    """``mode``: ``fraction`` of instructions followed, or ``all`` (1.0 only when every one is).
    ``strict``: IFEval's strict mode, or loose. ``ids_column``/``kwargs_column``: dataset columns."""

    def ifeval(prompts: list, completions: list, **columns: Any) -> list[float | None]:
        if ids_column not in columns:
            raise VerifierError(
                f"ifeval: the dataset has no {ids_column!r} column (columns: {sorted(columns)}); rename yours with "
                f"data.columns or set params.ids_column"
            )
        id_lists = columns[ids_column]
        kwargs_lists = columns.get(kwargs_column) or [None] * len(completions)
        scores: list[float | None] = []
        followed: dict[str, list[bool]] = defaultdict(list)
        for completion, ids, kwargs in zip(completions, id_lists, kwargs_lists, strict=False):
            if not ids:
                scores.append(None)
                continue
            try:
                verdicts = check(completion_text(completion), list(ids), _row_kwargs(kwargs), strict=strict)
            except VerifierError as exc:
                logger.warning("ifeval: row masked: %s", exc)
                scores.append(None)
                continue
            for instruction_id, verdict in zip(ids, verdicts, strict=False):
                followed[instruction_id].append(verdict)
            scores.append(float(all(verdicts)) if mode == "all" else sum(verdicts) / len(verdicts))
        log_metric = columns.get("log_metric")
        if log_metric is not None:
            for instruction_id, verdicts in sorted(followed.items()):
                log_metric(f"ifeval/{instruction_id}", sum(verdicts) / len(verdicts))
        return scores

    return ifeval


_BOXED_END = re.compile(r"\\boxed\{(?:[^{}]|\{[^{}]*\})*\}\s*\.?\s*$")


_BOXED = re.compile(r"\\boxed\{(?:[^{}]|\{[^{}]*\})*\}")


def answer_format_score(completion: Any, *, require_boxed: bool = False, nothing_after_boxed: bool = False) -> float:
    """1.0 for reasoning closed by one ``</think>`` then a non-empty answer (and, if asked, one with a
    complete ``\\boxed{...}``, or with nothing after the final one), else 0.0. A tool-using completion
    (a message list) is judged turn by turn: every assistant turn well-formed, the last one answering."""
    answer = final_answer(completion)
    if answer is None:
        return 0.0
    if require_boxed and not _BOXED.search(answer):
        return 0.0
    if nothing_after_boxed and not _BOXED_END.search(answer):
        return 0.0
    return 1.0


@register_reward("answer_format", description="1.0 for <think>...</think> then a non-empty answer (optionally with a \\boxed{})")
def build_answer_format(*, require_boxed: bool = False, nothing_after_boxed: bool = False) -> RewardFn:
    """``require_boxed``: the answer must hold a complete ``\\boxed{...}``. ``nothing_after_boxed``: the
    answer must end with its final ``\\boxed{...}``."""

    def answer_format(prompts: list, completions: list, **columns: Any) -> list[float | None]:
        return [answer_format_score(c, require_boxed=require_boxed, nothing_after_boxed=nothing_after_boxed)
                for c in completions]

    return answer_format


@register_reward("length_limit", description="1.0 within a word/character budget of the answer, decaying linearly past it")
def build_length_limit(
    *, max_words: int | None = None, max_chars: int | None = None, margin: float = 0.0, answer_only: bool = True
) -> RewardFn:
    """``max_words``/``max_chars``: budgets (at least one). ``margin``: how far past the budget, as a
    fraction of it, the score falls linearly to 0.0 (0: a hard cut). ``answer_only``: measure the answer
    after ``</think>`` rather than the whole completion."""
    if max_words is None and max_chars is None:
        raise VerifierError("length_limit: set max_words and/or max_chars")
    for name, value in (("max_words", max_words), ("max_chars", max_chars), ("margin", margin)):
        if value is not None and value < 0:
            raise VerifierError(f"length_limit: {name} must be >= 0, got {value}")

    def within(size: int, budget: int | None) -> float:
        if budget is None or size <= budget:
            return 1.0
        if margin <= 0:
            return 0.0
        return max(0.0, 1.0 - (size - budget) / (margin * max(budget, 1)))

    def length_limit(prompts: list, completions: list, **columns: Any) -> list[float | None]:
        scores: list[float | None] = []
        for completion in completions:
            text = completion_text(completion)
            text = strip_thinking(text) if answer_only else text
            scores.append(min(within(count_words(text), max_words), within(len(text), max_chars)))
        return scores

    return length_limit


def repetition_score(text: str, ngram: int = 3) -> float:
    """Share of repeated word n-grams in ``text``: 0.0 when every n-gram is distinct."""
    words = text.split()
    grams = [tuple(words[i : i + ngram]) for i in range(len(words) - ngram + 1)]
    return 0.0 if not grams else 1.0 - len(set(grams)) / len(grams)


@register_reward("repetition_penalty", description="max_penalty times the share of repeated word n-grams (<= 0)")
def build_repetition_penalty(*, ngram: int = 3, max_penalty: float = -1.0) -> RewardFn:
    """``ngram``: n-gram size in words. ``max_penalty``: reward of a completion made only of repeats (<= 0)."""
    if ngram < 1:
        raise VerifierError(f"repetition_penalty: ngram must be >= 1, got {ngram}")
    if max_penalty > 0:
        raise VerifierError(f"repetition_penalty: max_penalty must be <= 0 (a penalty), got {max_penalty}")

    def repetition_penalty(prompts: list, completions: list, **columns: Any) -> list[float | None]:
        return [max_penalty * repetition_score(completion_text(c), ngram) for c in completions]

    return repetition_penalty

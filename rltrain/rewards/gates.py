"""Combining rewards: weights, gates, and per-component metrics.

TRL sums a stage's rewards with ``reward_weights`` (the recipe's ``rewards[].weight``) and logs each
component as ``rewards/<name>/mean`` and ``/std`` next to the weighted total ``reward``; rltrain's guard
adds ``/masked``, ``/timed_out`` and ``/errored``. This module adds **gates**: ``rewards[].gate`` names
other rewards of the recipe (typically a format check) that a completion must pass, i.e. score at least
``gate_threshold``, for this reward to count; a completion failing a gate gets 0.0 from the gated reward,
so a reward model cannot pay for a well-written answer in a broken format. The share of gated
completions is logged as ``rewards/<name>/gated``. A gate that cannot judge a completion (``None``) does
not close it.

Gate rewards are rebuilt from the registry and called again on the same batch: gates are meant to be
cheap rule checks. A gated reward is ``async`` when it or any of its gates is, so that an async gate's
scores are awaited rather than read from an unawaited coroutine.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Sequence
from typing import Any

from rltrain.rewards.guard import awaited_scores
from verifiers.registry import RewardFn, Scores, is_async_reward, is_collective, mark_collective


def _passes(gate_scores: Sequence[Sequence[float | None]], threshold: float, n: int) -> list[bool]:
    return [all(_opens(scores[i], threshold) for scores in gate_scores) for i in range(n)]


def _opens(score: float | None, threshold: float) -> bool:
    """A gate opens at or above ``threshold``; one that could not judge (``None``) does not close."""
    return score is None or score >= threshold


def _sync_scores(result: Scores | Awaitable[Scores]) -> Scores:
    """The scores of a reward :func:`is_async_reward` calls sync; an awaitable here breaks that contract."""
    if inspect.isawaitable(result):
        raise TypeError("a synchronous reward returned an awaitable; declare it with `async def`")
    return list(result)


def _apply(name: str, scores: Scores, passes: list[bool], kwargs: dict[str, Any]) -> Scores:
    out = [s if ok or s is None else 0.0 for s, ok in zip(scores, passes, strict=False)]
    log_metric = kwargs.get("log_metric")
    if log_metric is not None and passes:
        log_metric(f"rewards/{name}/gated", sum(not ok for ok in passes) / len(passes))
    return out


def gated(name: str, fn: RewardFn, gates: Sequence[RewardFn], threshold: float) -> RewardFn:
    """``fn`` with its score replaced by 0.0 wherever a gate scores below ``threshold``."""

    def gate_calls(prompts: list, completions: list, kwargs: dict[str, Any]) -> list[Scores | Awaitable[Scores]]:
        quiet = {k: v for k, v in kwargs.items() if k != "log_metric"}  # the gates log as their own rewards
        return [gate(prompts, completions, **quiet) for gate in gates]

    if is_async_reward(fn) or any(is_async_reward(gate) for gate in gates):

        async def gated_async(prompts: list, completions: list, **kwargs: Any) -> Scores:
            scores = await awaited_scores(fn(prompts, completions, **kwargs))
            gate_scores = [await awaited_scores(result) for result in gate_calls(prompts, completions, kwargs)]
            return _apply(name, scores, _passes(gate_scores, threshold, len(completions)), kwargs)

        gated_async.__name__ = name
        return mark_collective(gated_async, _collective(fn, gates))

    def gated_sync(prompts: list, completions: list, **kwargs: Any) -> Scores:
        scores = _sync_scores(fn(prompts, completions, **kwargs))
        gate_scores = [_sync_scores(result) for result in gate_calls(prompts, completions, kwargs)]
        return _apply(name, scores, _passes(gate_scores, threshold, len(completions)), kwargs)

    gated_sync.__name__ = name
    return mark_collective(gated_sync, _collective(fn, gates))


def _collective(fn: RewardFn, gates: Sequence[RewardFn]) -> bool:
    """A gated reward is collective (see :class:`verifiers.registry.RewardFn`) when any of its parts is."""
    return any(is_collective(f) for f in (fn, *gates))

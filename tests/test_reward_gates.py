"""Gated rewards (rltrain.rewards.gates): sync and async rewards and gates, as the guard calls them."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from rltrain.rewards.gates import gated
from rltrain.rewards.guard import guard
from verifiers.registry import Scores, is_collective, mark_collective


def _sync_reward(values: list[float | None]):
    def reward(prompts: list, completions: list, **kwargs: Any) -> Scores:
        return list(values)

    return reward


def _async_reward(values: list[float | None]):
    async def reward(prompts: list, completions: list, **kwargs: Any) -> Scores:
        await asyncio.sleep(0)
        return list(values)

    return reward


def _score(fn: Any, n: int, **kwargs: Any) -> Scores:
    result = fn([None] * n, ["c"] * n, **kwargs)
    return asyncio.run(result) if inspect.isawaitable(result) else result


def test_a_sync_gate_zeroes_failing_completions_and_keeps_unjudged_ones():
    logged: dict[str, float] = {}
    fn = gated("quality", _sync_reward([0.9, 0.8, None, 0.7]), [_sync_reward([1.0, 0.0, 0.0, None])], 1.0)
    assert not inspect.iscoroutinefunction(fn)
    assert fn.__name__ == "quality"
    assert _score(fn, 4, log_metric=logged.__setitem__) == [0.9, 0.0, None, 0.7]
    assert logged == {"rewards/quality/gated": 0.5}


def test_an_async_gate_is_awaited_rather_than_read_as_a_coroutine():
    fn = gated("quality", _sync_reward([0.9, 0.8]), [_async_reward([0.0, 1.0])], 1.0)
    assert inspect.iscoroutinefunction(fn)
    assert _score(fn, 2) == [0.0, 0.8]


def test_an_async_reward_behind_a_sync_gate_stays_async_and_is_guarded_as_such():
    fn = gated("quality", _async_reward([0.5, 0.5]), [_sync_reward([1.0, 0.2])], 1.0)
    guarded = guard("quality", fn, timeout=5.0)
    assert inspect.iscoroutinefunction(guarded.__call__)
    assert _score(guarded, 2) == [0.5, 0.0]
    assert guarded.stats.errored_calls == 0


def test_a_gated_reward_is_collective_when_any_part_is():
    plain = gated("quality", _sync_reward([1.0]), [_sync_reward([1.0])], 1.0)
    assert not is_collective(plain)
    sharded_gate = mark_collective(_sync_reward([1.0]))
    assert is_collective(gated("quality", _sync_reward([1.0]), [sharded_gate], 1.0))

"""The guard around reward functions: deadlines, exceptions and masking never kill a step."""

import asyncio
import time

import pytest

from rltrain.rewards import AsyncGuardedReward, GuardedReward, guard


class MetricSink:
    def __init__(self):
        self.values: dict[str, list[float]] = {}

    def __call__(self, name: str, value: float) -> None:
        self.values.setdefault(name, []).append(value)


def test_values_pass_through_and_nan_is_masked():
    sink = MetricSink()
    reward = guard("ok", lambda prompts, completions, **kw: [1.0, None, float("nan")], timeout=5)
    assert reward(["p"] * 3, ["c"] * 3, log_metric=sink) == [1.0, None, None]
    assert sink.values["rewards/ok/masked"] == [pytest.approx(2 / 3)]
    assert sink.values["rewards/ok/errored"] == [0.0]
    assert reward.stats.masked == 2 and reward.stats.completions == 3


def test_exception_masks_the_batch_and_is_counted():
    def broken(prompts, completions, **kw):
        raise KeyError("answer")

    sink = MetricSink()
    reward = guard("broken", broken, timeout=5)
    assert reward(["p"] * 2, ["c"] * 2, log_metric=sink) == [None, None]
    assert sink.values["rewards/broken/errored"] == [1.0]
    assert reward.stats.errored_calls == 1 and "KeyError" in reward.stats.last_error


def test_deadline_returns_promptly_from_a_hanging_reward():
    def hangs(prompts, completions, **kw):
        time.sleep(30)
        return [1.0] * len(completions)

    sink = MetricSink()
    reward = guard("slow", hangs, timeout=0.3)
    started = time.monotonic()
    assert reward(["p"], ["c"], log_metric=sink) == [None]
    assert time.monotonic() - started < 2
    assert sink.values["rewards/slow/timed_out"] == [1.0]
    assert reward.stats.timed_out_calls == 1


def test_wrong_length_is_a_bug_and_raises():
    reward = guard("short", lambda prompts, completions, **kw: [1.0], timeout=5)
    with pytest.raises(ValueError, match="returned 1 values for 2 completions"):
        reward(["p"] * 2, ["c"] * 2)


def test_async_rewards_stay_async_and_time_out():
    async def slow(prompts, completions, **kw):
        await asyncio.sleep(10)
        return [1.0]

    async def fast(prompts, completions, **kw):
        return [0.5] * len(completions)

    slow_reward, fast_reward = guard("slow", slow, timeout=0.2), guard("fast", fast, timeout=5)
    assert isinstance(slow_reward, AsyncGuardedReward) and isinstance(fast_reward, AsyncGuardedReward)
    assert asyncio.run(slow_reward(["p"], ["c"])) == [None]
    assert asyncio.run(fast_reward(["p"] * 2, ["c"] * 2)) == [0.5, 0.5]
    assert slow_reward.stats.timed_out_calls == 1


def test_sync_guard_keeps_the_registry_name():
    reward = guard("math_accuracy", lambda prompts, completions, **kw: [0.0], timeout=1)
    assert isinstance(reward, GuardedReward) and reward.__name__ == "math_accuracy"


def test_a_collective_reward_runs_in_the_calling_thread_without_a_deadline():
    import threading
    import time

    from rltrain.rewards import guard

    seen = []

    def sharded(prompts, completions, **kwargs):
        seen.append(threading.current_thread())
        time.sleep(0.3)  # past the deadline: a collective must not be abandoned on one rank
        return [1.0] * len(completions)

    sharded.collective = True
    assert guard("rm", sharded, timeout=0.05)([None], ["x"]) == [1.0]
    assert seen == [threading.current_thread()]


def test_an_in_process_reward_model_under_zero3_needs_sync_rewards():
    from rltrain.errors import RecipeError
    from rltrain.recipe import recipe_from_dict

    base = {"model": {"name_or_path": "tiny"}, "data": {"source": "synthetic:arithmetic"}, "output_dir": "/tmp/x",
            "rewards": [{"name": "think_format"}, {"name": "reward_model", "params": {"model_path": "/tmp/rm"}}],
            "distributed": {"mode": "zero3", "num_processes": 2}}
    with pytest.raises(RecipeError, match=r"rewards\.1: an in-process reward model is sharded .* use reward_mode 'sync'"):
        recipe_from_dict({**base, "rollout": {"reward_mode": "overlapped"}})
    served = {"name": "reward_model", "params": {"mode": "remote", "url": "http://rm:8081"}}
    recipe_from_dict({**base, "rewards": [served], "rollout": {"reward_mode": "overlapped"}})

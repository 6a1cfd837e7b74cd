"""The guard around every recipe reward: a deadline, exception capture and masking metrics.

TRL calls reward functions with no time limit and no error handling, so one crashing or hanging
verifier kills or stalls the whole step. Each recipe reward is wrapped here so that:

* a call that raises returns ``None`` for the whole batch (masked, not scored as wrong) and is counted
  as ``errored``;
* a call that passes its deadline (``rewards[].timeout``) returns ``None`` for the whole batch and is
  counted as ``timed_out``; the call is left running in a daemon thread (Python cannot kill a thread;
  verifiers that run untrusted or heavy work use killable worker processes for per-sample limits);
* a result of the wrong length raises at once (a bug in the reward, not an infrastructure failure);
* NaN values are turned into ``None``.

A *collective* reward (:func:`verifiers.registry.is_collective`: a reward model sharded with the policy under ZeRO-3, whose
forward passes are collectives every rank must join) is called in the calling thread with no deadline:
a rank that gave up on its deadline would leave the others waiting in a collective. Exceptions are
still caught.

Per step, TRL's ``log_metric`` hook receives ``rewards/<name>/masked``, ``/timed_out`` and ``/errored``
as fractions of the step's completions; cumulative counts are kept in :class:`RewardStats` for
``summary.json``. In a recipe with tools, the mean reward of the completions that called a tool and of
those that did not is logged too (``rewards/<name>/with_tool``, ``/without_tool``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import threading
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from verifiers.registry import RewardFn, Scores, is_async_reward, is_collective

logger = logging.getLogger(__name__)


@dataclass
class RewardStats:
    """Cumulative counts of one reward function over a run (this process)."""

    calls: int = 0
    completions: int = 0
    masked: int = 0
    timed_out_calls: int = 0
    errored_calls: int = 0
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Deadline(Exception):
    pass


async def awaited_scores(result: Scores | Awaitable[Scores]) -> Scores:
    """A reward call's scores, awaited when the reward is ``async`` (a :class:`RewardFn` may be either)."""
    return await result if inspect.isawaitable(result) else result


def _run_with_deadline(fn: Callable[[], Any], timeout: float) -> Any:
    """Run ``fn`` in a daemon thread; raise _Deadline if it has not finished within ``timeout``."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            box["error"] = exc

    thread = threading.Thread(target=target, name="reward-call", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise _Deadline
    if "error" in box:
        raise box["error"]
    return box["value"]


class GuardedReward:
    """A TRL reward function with a deadline, exception capture and masking metrics.

    ``__name__`` is the registry name, so TRL logs ``rewards/<name>/mean``. Build it with :func:`guard`,
    which picks :class:`AsyncGuardedReward` for async reward functions.
    """

    def __init__(self, name: str, fn: RewardFn, timeout: float, *, split_by_tool_use: bool = False):
        self.__name__ = name
        self.fn = fn
        self.timeout = timeout
        self.split_by_tool_use = split_by_tool_use
        self.stats = RewardStats()

    def __call__(self, prompts: list, completions: list, **kwargs: Any) -> Scores:
        try:
            if is_collective(self.fn):
                result = self.fn(prompts, completions, **kwargs)
            else:
                result = _run_with_deadline(lambda: self.fn(prompts, completions, **kwargs), self.timeout)
        except _Deadline:
            return self._fail(len(completions), kwargs, timed_out=True, error=f"no answer within {self.timeout}s")
        except Exception as exc:  # noqa: BLE001 - a verifier bug must not kill the step
            return self._fail(len(completions), kwargs, timed_out=False, error=f"{type(exc).__name__}: {exc}")
        return self._finish(result, completions, kwargs)

    def _fail(self, n: int, kwargs: dict[str, Any], *, timed_out: bool, error: str) -> Scores:
        if self.stats.last_error != error:
            logger.warning("reward %s %s: %s (batch masked)", self.__name__, "timed out" if timed_out else "failed", error)
        self.stats.last_error = error
        self.stats.timed_out_calls += timed_out
        self.stats.errored_calls += not timed_out
        self._record(n, n, kwargs, timed_out=float(timed_out), errored=float(not timed_out))
        masked: Scores = [None] * n
        return masked

    def _finish(self, result: Any, completions: list, kwargs: dict[str, Any]) -> Scores:
        values, n = list(result), len(completions)
        if len(values) != n:
            raise ValueError(f"reward {self.__name__!r} returned {len(values)} values for {n} completions")
        clean = [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values]
        self._record(n, sum(v is None for v in clean), kwargs, timed_out=0.0, errored=0.0)
        if self.split_by_tool_use and kwargs.get("log_metric") is not None:
            self._log_tool_split(clean, completions, kwargs["log_metric"])
        return clean

    def _log_tool_split(self, values: list[float | None], completions: list, log_metric: Callable) -> None:
        from rltrain.tools.metrics import used_tool

        groups: dict[str, list[float]] = {"with_tool": [], "without_tool": []}
        for value, completion in zip(values, completions, strict=True):
            if value is not None:
                groups["with_tool" if used_tool(completion) else "without_tool"].append(value)
        for key, group in groups.items():
            if group:
                log_metric(f"rewards/{self.__name__}/{key}", sum(group) / len(group))

    def _record(self, n: int, masked: int, kwargs: dict[str, Any], *, timed_out: float, errored: float) -> None:
        self.stats.calls += 1
        self.stats.completions += n
        self.stats.masked += masked
        log_metric = kwargs.get("log_metric")
        if log_metric is not None and n:
            log_metric(f"rewards/{self.__name__}/masked", masked / n)
            log_metric(f"rewards/{self.__name__}/timed_out", timed_out)
            log_metric(f"rewards/{self.__name__}/errored", errored)


class AsyncGuardedReward(GuardedReward):
    """The guard for an async reward function; TRL gathers async rewards concurrently."""

    async def __call__(  # type: ignore[override]  # the same call, awaitable: TRL awaits async rewards
        self, prompts: list, completions: list, **kwargs: Any
    ) -> Scores:
        try:
            result = await asyncio.wait_for(awaited_scores(self.fn(prompts, completions, **kwargs)), self.timeout)
        except asyncio.TimeoutError:
            return self._fail(len(completions), kwargs, timed_out=True, error=f"no answer within {self.timeout}s")
        except Exception as exc:  # noqa: BLE001
            return self._fail(len(completions), kwargs, timed_out=False, error=f"{type(exc).__name__}: {exc}")
        return self._finish(result, completions, kwargs)


def guard(name: str, fn: RewardFn, timeout: float, *, split_by_tool_use: bool = False) -> GuardedReward:
    """Wrap ``fn`` in the guard matching its kind (sync or async)."""
    cls = AsyncGuardedReward if is_async_reward(fn) else GuardedReward
    return cls(name, fn, timeout, split_by_tool_use=split_by_tool_use)

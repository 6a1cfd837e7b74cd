"""Per-batch tool metrics: what the completions did with tools, and how the calls went.

From the completions (message lists after TRL's tool loop) and the batch's
:class:`~rltrain.tools.runtime.ToolCounts`, logged beside TRL's ``tools/call_frequency`` and
``tools/failure_frequency``:

* ``tools/calls_per_completion``: tool results in a completion, on average;
* ``tools/used_share``: completions that called a tool at least once;
* ``tools/clean_use_share``: completions that called a tool and got no error back from any call;
* ``tools/turns``: assistant turns per completion (1 without tools);
* ``tools/error_share``, ``tools/timeout_share``, ``tools/bad_arguments_share``: calls that failed, ran
  out of time, or were refused for bad arguments, as shares of the calls the runtime received
  (calls to unknown tools never reach it; TRL counts them as failures).

The reward split by tool use (``rewards/<name>/with_tool`` and ``/without_tool``) is logged by the
reward guard, which sees each completion's reward (:func:`used_tool`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rltrain.tools.runtime import ERROR_PREFIX, ToolCounts

COUNTERS = ("completions", "tool_results", "used", "clean_use", "turns", "calls", "error", "timeout", "bad_arguments")
"""The per-rank sums :func:`batch_counters` returns, in order (summed across ranks before the shares)."""


def used_tool(completion: Any) -> bool:
    """Whether a completion (a list of messages) contains a tool result."""
    return isinstance(completion, list) and any(isinstance(m, dict) and m.get("role") == "tool" for m in completion)


def batch_counters(completions: Sequence[Any], counts: ToolCounts) -> list[float]:
    """This rank's sums, in the order of :data:`COUNTERS`."""
    tool_results = turns = used = clean = 0
    for completion in completions:
        messages = completion if isinstance(completion, list) else [completion]
        results = [m for m in messages if isinstance(m, dict) and m.get("role") == "tool"]
        tool_results += len(results)
        used += bool(results)
        clean += bool(results) and not any(str(m.get("content", "")).startswith(ERROR_PREFIX) for m in results)
        turns += sum(isinstance(m, dict) and m.get("role", "assistant") == "assistant" for m in messages)
    return [float(len(completions)), float(tool_results), float(used), float(clean), float(turns),
            float(counts.calls), float(counts.error), float(counts.timeout), float(counts.bad_arguments)]


def batch_metrics(sums: Sequence[float]) -> dict[str, float]:
    """Metric values from the (all-rank) sums of :func:`batch_counters`."""
    s = dict(zip(COUNTERS, sums, strict=True))
    n, calls = max(s["completions"], 1.0), s["calls"]
    metrics = {
        "tools/calls_per_completion": s["tool_results"] / n,
        "tools/used_share": s["used"] / n,
        "tools/clean_use_share": s["clean_use"] / n,
        "tools/turns": s["turns"] / n,
    }
    if calls:
        for kind in ("error", "timeout", "bad_arguments"):
            metrics[f"tools/{kind}_share"] = s[kind] / calls
    return metrics

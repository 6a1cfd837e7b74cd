"""How the reports write numbers: the cells of the before/after table (:mod:`rltrain.reporting.table`)
and of the run report (:mod:`rltrain.reporting.render`), so both print the same value the same way;
held-out evaluations as accuracy, benchmarks (a summary's ``benchmarks_before``/``_after`` rows) as avg@n
with its standard error.

Every function takes what a summary or metrics record may hold, ``None`` and non-numbers included, and
returns text (``-`` for nothing to show): a report of a killed run must still render.
"""

from __future__ import annotations

import math
from typing import Any


def format_accuracy(value: float | None) -> str:
    """An accuracy in [0, 1] as a percentage, ``n/a`` when nothing was judged."""
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f}%"


def eval_cell(result: dict[str, Any] | None) -> str:
    """An evaluation's accuracy (``-`` without an evaluation)."""
    return "-" if not result else format_accuracy(result.get("accuracy"))


def delta_cell(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """The change in accuracy from ``before`` to ``after``, in percentage points."""
    if not before or not after or before.get("accuracy") is None or after.get("accuracy") is None:
        return "-"
    return f"{100 * (after['accuracy'] - before['accuracy']):+.1f} pts"


def reward_cell(value: float | None) -> str:
    """A reward value to three decimals."""
    return "-" if value is None else f"{value:.3f}"


def duration(seconds: Any) -> str:
    """Seconds as ``4.2 s``, ``2 min 05 s`` or ``1 h 03 min``."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return "-"
    seconds = float(seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def number_cell(value: Any) -> str:
    """A finite number as a reward cell; anything else (a bool, NaN, a string) is ``-``."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "-"
    return reward_cell(float(value))


def share_cell(value: float | None) -> str:
    """A share in [0, 1] as a percentage."""
    return "-" if value is None else f"{100 * value:.1f}%"


def metric_label(result: dict[str, Any]) -> str:
    """An evaluation's metric with its prompts x samples, e.g. ``math_accuracy (64x4)``."""
    metric = result.get("metric", "-")
    samples, prompts = result.get("num_samples"), result.get("num_prompts")
    return f"{metric} ({prompts}x{samples})" if samples else str(metric)


def benchmark_names(summary: dict[str, Any]) -> list[str]:
    """The benchmarks a stage summary has rows for (``benchmarks_before``/``_after``), in their order."""
    names: list[str] = []
    for key in ("benchmarks_before", "benchmarks_after"):
        rows = summary.get(key)
        names += [name for name in (rows if isinstance(rows, dict) else {}) if name not in names]
    return names


def benchmark_row(summary: dict[str, Any], when: str, name: str) -> dict[str, Any] | None:
    """One benchmark's row of a stage summary, ``when`` = ``before`` or ``after`` (``None`` if absent)."""
    rows = summary.get(f"benchmarks_{when}")
    row = rows.get(name) if isinstance(rows, dict) else None
    return row if isinstance(row, dict) else None


def benchmark_cell(row: dict[str, Any] | None) -> str:
    """A benchmark's avg@n with its standard error in points, e.g. ``12.5% ± 3.1`` (``-`` without a row)."""
    if not row:
        return "-"
    stderr = row.get("stderr")
    text = format_accuracy(row.get("avg_at_n"))
    return text if not isinstance(stderr, (int, float)) else f"{text} ± {100 * stderr:.1f}"


def benchmark_delta_cell(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """The change of avg@n from ``before`` to ``after``, in percentage points."""
    return delta_cell(*({"accuracy": row.get("avg_at_n")} if row else None for row in (before, after)))


def benchmark_label(row: dict[str, Any] | None) -> str:
    """What a benchmark row measures, e.g. ``avg@4 (30 items)`` (its cells carry the standard error)."""
    if not row:
        return "-"
    return f"avg@{row.get('n', '?')} ({row.get('items', '?')} items)"

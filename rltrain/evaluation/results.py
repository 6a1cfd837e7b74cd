"""``results.json`` and ``results.md`` of an evaluation directory, and the comparison of two of them.

``results.json`` holds what ran (model, backend, sampling settings, fingerprint, seconds, whether every
planned sample was scored) and, per benchmark, its :class:`~rltrain.evaluation.metrics.BenchmarkMetrics`
(avg@n with its standard error, pass@k, maj@n, truncation share, lengths, verdict reasons, per-group
figures and the benchmark's extra metrics). ``results.md`` is the same as tables.

:func:`compare` sets two evaluations side by side: per benchmark (and group), the difference of avg@n
with the standard error of the difference, ``sqrt(se_a^2 + se_b^2)`` (the two evaluations are treated as
independent draws; when both used the same problems this is conservative), and whether it exceeds two
standard errors.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rltrain.errors import RecipeError
from rltrain.evaluation.metrics import BenchmarkMetrics

__all__ = ["RESULTS_FILE", "RESULTS_MD", "Delta", "EvalResults", "compare", "compare_table", "read_results", "write_results"]

RESULTS_FILE = "results.json"
RESULTS_MD = "results.md"


@dataclass
class EvalResults:
    """Everything ``results.json`` records."""

    model: str
    backend: str
    fingerprint: str
    settings: dict[str, Any] | None
    """The sampling settings; ``None`` for completions generated elsewhere (``rltrain eval score``)."""
    benchmarks: dict[str, BenchmarkMetrics] = field(default_factory=dict)
    seconds: float = 0.0
    complete: bool = True
    """Whether every planned sample was generated and scored (a stopped run writes partial results)."""
    backend_identity: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["benchmarks"] = {name: m.as_dict() for name, m in self.benchmarks.items()}
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> EvalResults:
        values = dict(raw)
        benchmarks = {name: BenchmarkMetrics.from_dict(m) for name, m in (values.pop("benchmarks", {}) or {}).items()}
        known = {f for f in cls.__dataclass_fields__ if f != "benchmarks"}
        return cls(**{k: v for k, v in values.items() if k in known}, benchmarks=benchmarks)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(directory: str | Path, results: EvalResults) -> Path:
    """Write ``results.json`` and ``results.md`` into ``directory``; returns the JSON file."""
    out = Path(directory)
    _atomic_write(out / RESULTS_FILE, json.dumps(results.as_dict(), indent=2, ensure_ascii=False) + "\n")
    _atomic_write(out / RESULTS_MD, results_markdown(results))
    return out / RESULTS_FILE


def read_results(path: str | Path) -> EvalResults:
    """The results of an evaluation directory (or of its ``results.json``)."""
    p = Path(path)
    file = p / RESULTS_FILE if p.is_dir() else p
    if not file.is_file():
        raise RecipeError(f"{path}: no {RESULTS_FILE} (give an evaluation directory written by rltrain eval)")
    try:
        return EvalResults.from_dict(json.loads(file.read_text()))
    except (json.JSONDecodeError, TypeError, AttributeError) as exc:
        raise RecipeError(f"{file}: not a results file of rltrain eval ({exc})") from None


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _avg(m: BenchmarkMetrics) -> str:
    return _pct(m.avg_at_n) + ("" if m.stderr is None else f" ± {100 * m.stderr:.1f}")


def _length(m: BenchmarkMetrics) -> str:
    return f"{m.mean_completion_tokens:.0f} tok" if m.mean_completion_tokens is not None else f"{m.mean_completion_chars:.0f} chars"


def metrics_rows(name: str, m: BenchmarkMetrics) -> list[list[str]]:
    """Table rows of a benchmark and its groups: name, items, n, avg@n ± SE, pass@n, maj@n, truncated, length."""
    pass_n = m.pass_at_k.get(str(m.n))
    rows = [[name, str(m.items), str(m.n), _avg(m), _pct(pass_n), _pct(m.maj_at_n), _pct(m.truncated), _length(m)]]
    for key, by_value in m.groups.items():
        for value, g in by_value.items():
            rows.extend(metrics_rows(f"{name} [{key}={value}]", g))
    return rows


METRIC_HEADERS = ["benchmark", "items", "n", "avg@n ± SE (%)", "pass@n (%)", "maj@n (%)", "truncated (%)", "length"]


def _markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines.extend("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows)
    return "\n".join(lines) + "\n"


def results_markdown(results: EvalResults) -> str:
    """``results.md``: what ran, the metrics table, then each benchmark's pass@k, extra metrics and reasons."""
    settings = results.settings
    setting_text = ", ".join(f"{k} {v}" for k, v in settings.items()) if settings else "generated elsewhere (scored only)"
    parts = [
        f"# Evaluation of {results.model}\n",
        f"- backend: {results.backend}\n- sampling: {setting_text}\n- fingerprint: `{results.fingerprint}`\n"
        f"- time: {results.seconds:.0f} s{'' if results.complete else ' (incomplete: run the same command again)'}\n",
        _markdown_table(METRIC_HEADERS, [row for name, m in results.benchmarks.items() for row in metrics_rows(name, m)]),
    ]
    for name, m in results.benchmarks.items():
        lines = [f"## {name}", "pass@k: " + ", ".join(f"pass@{k} {_pct(v)}" for k, v in m.pass_at_k.items())]
        if m.extra:
            lines.append("extra: " + ", ".join(f"{k} {v:.4g}" for k, v in m.extra.items()))
        lines.append("verdicts: " + ", ".join(f"{k} {v}" for k, v in m.reasons.items()))
        parts.append("\n\n".join(lines) + "\n")
    return "\n".join(parts)


@dataclass(frozen=True)
class Delta:
    """avg@n of one benchmark (or group) in evaluations A and B, and B - A."""

    benchmark: str
    a: float
    b: float
    delta: float
    stderr: float | None
    """``sqrt(se_a^2 + se_b^2)``; ``None`` when either side has no standard error."""
    significant: bool
    """``|delta| > 2 * stderr``."""


def _flatten(results: EvalResults) -> dict[str, BenchmarkMetrics]:
    flat: dict[str, BenchmarkMetrics] = {}

    def visit(name: str, m: BenchmarkMetrics) -> None:
        flat[name] = m
        for key, by_value in m.groups.items():
            for value, g in by_value.items():
                visit(f"{name} [{key}={value}]", g)

    for name, m in results.benchmarks.items():
        visit(name, m)
    return flat


def compare(a: str | Path | EvalResults, b: str | Path | EvalResults) -> list[Delta]:
    """Per benchmark both evaluations have (groups included), B's avg@n minus A's with its uncertainty."""
    left = a if isinstance(a, EvalResults) else read_results(a)
    right = b if isinstance(b, EvalResults) else read_results(b)
    flat_a, flat_b = _flatten(left), _flatten(right)
    deltas = []
    for name in flat_a:
        if name not in flat_b:
            continue
        ma, mb = flat_a[name], flat_b[name]
        se = None if ma.stderr is None or mb.stderr is None else math.sqrt(ma.stderr**2 + mb.stderr**2)
        delta = mb.avg_at_n - ma.avg_at_n
        deltas.append(Delta(name, ma.avg_at_n, mb.avg_at_n, delta, se, se is not None and abs(delta) > 2 * se))
    return deltas


def setting_differences(a: EvalResults, b: EvalResults) -> dict[str, tuple[Any, Any]]:
    """The sampling settings (and backend) that differ between two evaluations: worth knowing before
    reading a difference as the models'."""
    sa, sb = {**(a.settings or {}), "backend": a.backend}, {**(b.settings or {}), "backend": b.backend}
    return {k: (sa.get(k), sb.get(k)) for k in sorted(set(sa) | set(sb)) if sa.get(k) != sb.get(k)}


def compare_table(deltas: list[Delta]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of a comparison, in percentage points."""
    headers = ["benchmark", "A (%)", "B (%)", "B − A (pp)", "± SE (pp)", "> 2 SE"]
    rows = [[d.benchmark, _pct(d.a), _pct(d.b), f"{100 * d.delta:+.1f}", "–" if d.stderr is None else f"{100 * d.stderr:.1f}",
             "yes" if d.significant else "no"] for d in deltas]
    return headers, rows

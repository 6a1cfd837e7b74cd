"""Human-readable reports: the before/after table of a stage or pipeline, and the per-benchmark table of
an evaluation directory (``rltrain report EVAL_DIR``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rltrain.reporting.formatting import (
    benchmark_cell,
    benchmark_delta_cell,
    benchmark_label,
    benchmark_names,
    benchmark_row,
    delta_cell,
    eval_cell,
    reward_cell,
)

if TYPE_CHECKING:
    from rltrain.evaluation.results import EvalResults


def _tool_use(result: dict[str, Any] | None) -> dict[str, Any] | None:
    """An evaluation's share of completions that called a tool cleanly, shaped like an eval result."""
    tools = (result or {}).get("tools")
    return {"accuracy": tools.get("tools/clean_use_share")} if tools else None


def print_table(summaries: list[dict[str, Any]], *, console=None, title: str = "before/after") -> None:
    """One row per stage: held-out accuracy before and after, training reward first and last; plus a
    ``retention`` row under a stage with ``eval.retention`` (an earlier stage's metric, before and after),
    and a ``tool use`` row under a stage evaluated with tools (completions that called a tool and got no
    error back, before and after), and one row per benchmark of ``eval.benchmarks`` (avg@n ± its standard
    error, before and after)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("stage", "kind", "steps", "held-out metric", "before", "after", "change",
                   "reward first", "reward last", "train s"):
        table.add_column(column, justify="left" if column in ("stage", "kind", "held-out metric") else "right")
    for s in summaries:
        before, after = s.get("eval_before"), s.get("eval_after")
        metric = (after or before or {}).get("metric", "-")
        samples = (after or before or {}).get("num_samples")
        prompts = (after or before or {}).get("num_prompts")
        label = f"{metric} ({prompts}x{samples})" if samples else metric
        table.add_row(
            str(s.get("stage", s.get("name", ""))),
            str(s.get("kind", "")),
            str(s.get("steps", "")),
            label,
            eval_cell(before),
            eval_cell(after),
            delta_cell(before, after),
            reward_cell(s.get("first_reward")),
            reward_cell(s.get("last_reward")),
            f"{s.get('train_seconds', 0):.0f}",
        )
        tools_before, tools_after = _tool_use(before), _tool_use(after)
        if tools_before or tools_after:
            table.add_row("  tool use", "eval", "", "tool calls, no error", eval_cell(tools_before),
                          eval_cell(tools_after), delta_cell(tools_before, tools_after), "", "", "")
        for name in benchmark_names(s):
            bench_before, bench_after = benchmark_row(s, "before", name), benchmark_row(s, "after", name)
            table.add_row(f"  {name}", "bench", "", benchmark_label(bench_after or bench_before), benchmark_cell(bench_before),
                          benchmark_cell(bench_after), benchmark_delta_cell(bench_before, bench_after), "", "", "")
        retention = s.get("retention")
        if retention:
            kept_before, kept_after = retention.get("before"), retention.get("after")
            result = kept_after or kept_before or {}
            table.add_row(
                "  retention", "eval", "",
                f"{result.get('metric', '-')} ({result.get('num_prompts')}x{result.get('num_samples')}) "
                f"of {retention.get('recipe', '?')}",
                eval_cell(kept_before), eval_cell(kept_after), delta_cell(kept_before, kept_after), "", "", "",
            )
    console = console or Console(stderr=True)
    if not console.is_terminal:  # logs and CI: wide enough that no cell is cut
        console = Console(file=console.file, width=max(console.width, 130))
    console.print(table)


def print_results_table(results: EvalResults, *, console=None) -> None:
    """An evaluation directory's per-benchmark table (its groups included), with the columns of its
    ``results.md``."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from rltrain.evaluation.results import METRIC_HEADERS, metrics_rows

    complete = "" if results.complete else " (incomplete)"
    table = Table(title=f"{results.model} ({results.backend}){complete}")
    for header in METRIC_HEADERS:
        table.add_column(header, justify="left" if header == "benchmark" else "right")
    for name, metrics in results.benchmarks.items():
        for row in metrics_rows(name, metrics):
            table.add_row(*map(Text, row))  # Text: a group's "[key=value]" is no markup
    console = console or Console(stderr=True)
    if not console.is_terminal:  # logs and CI: wide enough that no cell is cut
        console = Console(file=console.file, width=max(console.width, 130))
    console.print(table)

"""The run report's documents: a list of blocks (headings, paragraphs, tables, images) built from the
stages (:func:`build_document`) or from an evaluation directory's results (:func:`evaluation_document`),
rendered as Markdown (images referenced relatively) and as self-contained HTML (images embedded).
"""

from __future__ import annotations

import base64
import html
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rltrain.reporting.formatting import (
    benchmark_cell,
    benchmark_delta_cell,
    benchmark_label,
    benchmark_names,
    benchmark_row,
    delta_cell,
    duration,
    eval_cell,
    metric_label,
    number_cell,
    share_cell,
)
from rltrain.reporting.load import GUARD_COUNTERS, REWARD_MEAN, StageRun
from rltrain.reporting.plots import guard_series
from rltrain.run.layout import METRICS_FILE, SUMMARY_FILE

if TYPE_CHECKING:
    from rltrain.evaluation.results import EvalResults


def _status(stage: StageRun) -> str:
    s = stage.summary
    if s.get("interrupted"):
        return "interrupted"
    if s.get("completed"):
        return "done"
    return "incomplete"


def _steps(stage: StageRun) -> Any:
    steps = stage.summary.get("steps")
    if steps is None and stage.records:
        steps = stage.records[-1].get("step")
    return steps


def _first_last(stage: StageRun, key: str) -> tuple[float | None, float | None]:
    _, values = stage.series(key)
    return (values[0], values[-1]) if values else (None, None)


# A report is a list of blocks, rendered both as Markdown and as HTML:
# ("h1" | "h2" | "h3" | "p", text) with `code` spans, ("table", header, rows, right-aligned columns),
# ("img", path, caption).
Block = tuple[Any, ...]

TRACKED = ("reward", "completions/mean_length", "completions/clipped_ratio", "kl", "entropy", "loss")


def absent_series(stage: StageRun) -> list[str]:
    """The tracked series this stage did not log (so it has no plot for them)."""
    absent = [key for key in TRACKED if not stage.series(key)[1]]
    if not any(REWARD_MEAN.match(key) for record in stage.records for key in record):
        absent.insert(1, "rewards/<name>/mean")
    return absent


def _metric_cell(result: dict[str, Any] | None) -> str:
    """The metric label of an evaluation result, ``-`` where the stage has none."""
    return metric_label(result) if result else "-"


def _stage_table(stages: list[StageRun]) -> Block:
    header = ["stage", "kind", "steps", "train time", "held-out metric", "before", "after", "change",
              "reward first", "reward last", "status"]
    rows = []
    for stage in stages:
        s = stage.summary
        before, after = s.get("eval_before"), s.get("eval_after")
        first, last = s.get("first_reward"), s.get("last_reward")
        if first is None and last is None:
            first, last = _first_last(stage, "reward")
        steps = _steps(stage)
        rows.append([stage.name, stage.kind or "-", "-" if steps is None else str(steps),
                     duration(s.get("train_seconds")), _metric_cell(after or before),
                     eval_cell(before), eval_cell(after), delta_cell(before, after), number_cell(first), number_cell(last),
                     _status(stage)])
        for name in benchmark_names(s):
            bench_before, bench_after = benchmark_row(s, "before", name), benchmark_row(s, "after", name)
            rows.append([f"↳ {name}", "bench", "", "", benchmark_label(bench_after or bench_before), benchmark_cell(bench_before),
                         benchmark_cell(bench_after), benchmark_delta_cell(bench_before, bench_after), "", "", ""])
        retention = s.get("retention") or {}
        kept_before, kept_after = retention.get("before"), retention.get("after")
        if kept_before or kept_after:
            label = f"{_metric_cell(kept_after or kept_before)} of {retention.get('recipe', '?')}"
            rows.append(["↳ retention", "eval", "", "", label, eval_cell(kept_before), eval_cell(kept_after),
                         delta_cell(kept_before, kept_after), "", "", ""])
    return ("table", header, rows, {2, 3, 5, 6, 7, 8, 9})


def _reward_table(stage: StageRun) -> Block | None:
    names = stage.reward_names()
    if not names and not stage.series("reward")[1]:
        return None
    counts = stage.summary.get("rewards") or {}
    evals = [(stage.summary.get(k) or {}).get("rewards") or {} for k in ("eval_before", "eval_after")]
    header = ["reward", "first", "last", "mean", "held-out before", "held-out after", "masked", "timed out",
              "errored", "gated"]
    rows = []
    _, total = stage.series("reward")
    if total:
        rows.append(["reward (total)", number_cell(total[0]), number_cell(total[-1]), number_cell(sum(total) / len(total)),
                     "", "", "", "", "", ""])
    for name in names:
        _, values = stage.series(f"rewards/{name}/mean")
        first, last, mean = (values[0], values[-1], sum(values) / len(values)) if values else (None, None, None)
        row = [name, number_cell(first), number_cell(last), number_cell(mean),
               number_cell(evals[0].get(name)) if evals[0] else "-", number_cell(evals[1].get(name)) if evals[1] else "-"]
        stats = counts.get(name)
        for counter, count_key, of_key in (("masked", "masked", "completions"),
                                           ("timed_out", "timed_out_calls", "calls"),
                                           ("errored", "errored_calls", "calls")):
            if isinstance(stats, dict) and stats.get(count_key) is not None:
                total_of = stats.get(of_key)
                row.append(f"{stats[count_key]} / {total_of}" if total_of is not None else str(stats[count_key]))
            else:
                row.append(share_cell(_mean_share(stage, name, counter)))
        row.append(share_cell(_mean_share(stage, name, "gated")))
        rows.append(row)
    return ("table", header, rows, set(range(1, len(header))))


def _mean_share(stage: StageRun, name: str, counter: str) -> float | None:
    _, values = stage.series(f"rewards/{name}/{counter}")
    return sum(values) / len(values) if values else None


def _stage_notes(stage: StageRun) -> list[str]:
    s = stage.summary
    notes = []
    where = f"`{stage.directory}`" if stage.directory is not None else "no stage directory"
    notes.append(f"Directory: {where}.")
    if not s:
        notes.append(f"No `{SUMMARY_FILE}`: the stage did not finish (killed, or still running); "
                     "evaluation cells are `-`.")
    elif s.get("interrupted"):
        notes.append(f"Interrupted at step {s.get('steps')} after saving a checkpoint; continue with `--resume`.")
    elif "completed" not in s:
        notes.append(f"`{SUMMARY_FILE}` holds only the evaluation before training: the stage did not finish.")
    if s.get("resumed_from"):
        notes.append(f"Resumed from `{s['resumed_from']}`: the masked, timed-out and errored counts cover the "
                     "steps since then.")
    if not stage.has_metrics_file:
        notes.append(f"No `{METRICS_FILE}`: no training curves.")
    elif not stage.records:
        notes.append(f"`{METRICS_FILE}` holds no readable record: no training curves.")
    else:
        absent = absent_series(stage)
        if absent:
            notes.append("Not logged (no plot): " + ", ".join(f"`{key}`" for key in absent) + ".")
    if stage.skipped_lines:
        lines = ", ".join(str(n) for n in stage.skipped_lines)
        notes.append(f"Skipped unreadable `{METRICS_FILE}` line(s) {lines} (a run killed while writing).")
    counted = [c for c in GUARD_COUNTERS if any(stage.has(f"rewards/{name}/{c}") for name in stage.reward_names())]
    if counted and not guard_series(stage):
        words = [c.replace("_", " ") for c in counted]
        listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
        notes.append(f"No completion was {listed}.")
    return notes


_READING = (
    "Held-out accuracy is the mean of the stage's `eval.metric` over every sampled completion, before and after "
    "training (same prompts and sampling seed); retention rows evaluate an earlier stage's held-out set; benchmark "
    "rows (`eval.benchmarks`) give avg@n, the mean share of correct samples per item, ± its standard error over "
    "items, with the full figures in the stage's `benchmarks/before` and `benchmarks/after`. Reward "
    "first/last/mean are training batch means over the logged steps; the held-out columns are the evaluations' "
    "means per reward. Masked counts completions, timed out and errored count reward calls, over the run as "
    "`summary.json` records them (the main process, since the last resume); without it, the mean share per logged "
    "step. Gated is the mean share of completions that failed a gate."
)


def build_document(output_dir: Path, kind: str, stages: list[StageRun], plots: list[list[tuple[Path, str]]],
                   eval_plot: Path | None, benchmark_plot: Path | None = None) -> list[Block]:
    title = f"Run report: {output_dir.resolve().name}"
    what = f"pipeline of {len(stages)} stage(s)" if kind == "pipeline" else "single stage"
    blocks: list[Block] = [
        ("h1", title),
        ("p", f"Output directory `{output_dir.resolve()}` ({what}); generated {datetime.now():%Y-%m-%d %H:%M}."),
        ("h2", "Stages"),
        _stage_table(stages),
    ]
    if eval_plot is not None:
        blocks.append(("img", eval_plot, "held-out accuracy before and after each stage (retention included)"))
    if benchmark_plot is not None:
        blocks.append(("img", benchmark_plot, "benchmark avg@n before and after each stage, ± 1 standard error"))
    for stage, stage_plots in zip(stages, plots, strict=False):
        blocks.append(("h2", f"Stage {stage.name}" + (f" ({stage.kind})" if stage.kind else "")))
        blocks += [("p", note) for note in _stage_notes(stage)]
        table = _reward_table(stage)
        if table is not None:
            blocks += [("h3", "Rewards"), table]
        blocks += [("img", path, caption) for path, caption in stage_plots]
    return [*blocks, ("h2", "Reading the tables"), ("p", _READING)]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def evaluation_document(directory: Path, results: EvalResults, plot: Path | None) -> list[Block]:
    """An evaluation directory's report: what ran, the per-benchmark table of its ``results.md`` (the same
    rows, :func:`rltrain.evaluation.results.metrics_rows`), the avg@n plot, then each benchmark's pass@k,
    extra metrics and verdict counts."""
    from rltrain.evaluation.results import METRIC_HEADERS, metrics_rows

    settings = results.settings
    sampling = ", ".join(f"{k} {v}" for k, v in settings.items()) if settings else "generated elsewhere (scored only)"
    blocks: list[Block] = [
        ("h1", f"Evaluation report: {directory.resolve().name}"),
        ("p", f"Evaluation directory `{directory.resolve()}`; generated {datetime.now():%Y-%m-%d %H:%M}."),
        ("p", f"Model `{results.model}`, backend `{results.backend}`"
              + (f" (`{results.backend_identity}`)" if results.backend_identity else "")
              + f"; sampling: {sampling}; fingerprint `{results.fingerprint}`; {duration(results.seconds)}."),
    ]
    if not results.complete:
        blocks.append(("p", "Incomplete: some planned samples are missing or unscored; run the same `rltrain eval` "
                            "command again to fill them in."))
    rows = [row for name, metrics in results.benchmarks.items() for row in metrics_rows(name, metrics)]
    blocks += [("h2", "Benchmarks"), ("table", METRIC_HEADERS, rows, set(range(1, len(METRIC_HEADERS))))]
    if plot is not None:
        blocks.append(("img", plot, "avg@n per benchmark, ± 1 standard error"))
    for name, metrics in results.benchmarks.items():
        blocks.append(("h3", name))
        blocks.append(("p", "pass@k: " + ", ".join(f"pass@{k} {_percent(v)}%" for k, v in metrics.pass_at_k.items())))
        if metrics.extra:
            blocks.append(("p", "extra: " + ", ".join(f"`{k}` {v:.4g}" for k, v in metrics.extra.items())))
        blocks.append(("p", "verdicts: " + ", ".join(f"{k} {v}" for k, v in metrics.reasons.items())))
    return blocks


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or " "


def render_markdown(blocks: list[Block], base: Path) -> str:
    out: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + block[1])
        elif kind == "p":
            out.append(block[1])
        elif kind == "table":
            _, header, rows, right = block
            out.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
            out.append("|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
        elif kind == "img":
            _, path, caption = block
            out.append(f"![{caption}]({Path(path).relative_to(base).as_posix()})")
        out.append("")
    return "\n".join(out)


def _inline_html(text: str) -> str:
    parts = text.split("`")
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts))


_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #ddd; padding-bottom: .2em; }
h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #eee; }
h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; }
th { background: #f4f4f4; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f4f4f4; padding: 0 .2em; font-size: .92em; }
figure { margin: .8em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85em; color: #666; }
"""


def render_html(blocks: list[Block], title: str) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{html.escape(title)}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>"]
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3", "p"):
            out.append(f"<{kind}>{_inline_html(block[1])}</{kind}>")
        elif kind == "table":
            _, header, rows, right = block
            out.append("<table>")
            out.append("<tr>" + "".join(f'<th class="{"r" if i in right else "l"}">{html.escape(h)}</th>'
                                        for i, h in enumerate(header)) + "</tr>")
            for row in rows:
                out.append("<tr>" + "".join(f'<td class="{"r" if i in right else "l"}">{html.escape(c)}</td>'
                                            for i, c in enumerate(row)) + "</tr>")
            out.append("</table>")
        elif kind == "img":
            _, path, caption = block
            data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
            out.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
                       f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)

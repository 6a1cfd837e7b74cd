"""``rltrain report``: PNG plots and a one-page Markdown and HTML summary of a stage or pipeline output
directory (read by :mod:`rltrain.reporting.load`, drawn by :mod:`rltrain.reporting.plots`, written by
:mod:`rltrain.reporting.render`).

:func:`write_report` writes, by default under ``<output_dir>/report/``:

* ``<stage>_rewards.png``: the weighted total ``reward`` with a one-standard-deviation band
  (``reward_std``) and one line per ``rewards/<name>/mean``;
* ``<stage>_lengths.png``: completion length (mean, min-max band) and the share of clipped completions;
* ``<stage>_kl.png``, ``<stage>_entropy.png``, ``<stage>_loss.png``: each only when that series was logged;
* ``<stage>_reward_guard.png``: the shares of completions masked, timed out, errored or gated per reward,
  only when one of them is ever non-zero;
* ``eval_accuracy.png``: held-out accuracy before and after every stage, retention evaluations included;
* ``benchmarks.png``: avg@n ± one standard error of every stage's ``eval.benchmarks``, before and after;
* ``report.md`` (images referenced relatively) and ``report.html`` (images embedded, no external files).

A series a stage did not log gets no plot; the report names it instead.

Given an evaluation directory of ``rltrain eval`` (one holding ``results.json``; a stage's
``benchmarks/before`` is one too), :func:`write_report` writes its report instead
(:func:`write_evaluation_report`): ``benchmarks.png`` and the per-benchmark table of its ``results.md``
as ``report.md`` and ``report.html``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rltrain.reporting.load import is_evaluation_dir, load_evaluation, load_run
from rltrain.reporting.plots import BenchmarkBars, benchmark_bars, plot_benchmarks, plot_eval, stage_plots
from rltrain.reporting.render import Block, build_document, evaluation_document, render_html, render_markdown
from rltrain.run.layout import REPORT_DIR


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote."""

    directory: Path
    markdown: Path
    html: Path
    plots: tuple[Path, ...]

    def paths(self) -> list[Path]:
        """Every file written: the two documents, then the plots."""
        return [self.markdown, self.html, *self.plots]


BENCHMARK_PLOT = "benchmarks.png"
"""The plot of benchmark avg@n in a report directory."""


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "stage"


def write_report(output_dir: str | Path, dest: str | Path | None = None) -> ReportFiles:
    """Write the plots, ``report.md`` and ``report.html`` for a stage or pipeline output directory, or for
    an evaluation directory (:func:`write_evaluation_report`).

    ``dest`` defaults to ``<output_dir>/report/``. Raises :class:`RecipeError` when ``output_dir`` holds
    no ``metrics.jsonl``, ``summary.json``, ``pipeline_summary.json`` or ``results.json``.
    """
    out = Path(output_dir)
    if is_evaluation_dir(out):
        return write_evaluation_report(out, dest)
    kind, stages = load_run(out)
    target = Path(dest) if dest is not None else out / REPORT_DIR
    target.mkdir(parents=True, exist_ok=True)

    plots: list[list[tuple[Path, str]]] = []
    used: set[str] = set()
    for stage in stages:
        slug = _slug(stage.name)
        while slug in used:
            slug += "_"
        used.add(slug)
        plots.append(stage_plots(stage, target, slug))
    eval_plot = plot_eval(stages, target / "eval_accuracy.png")
    benchmark_plot = plot_benchmarks(benchmark_bars(stages), ("before", "after"), target / BENCHMARK_PLOT,
                                     "benchmarks before and after each stage")

    blocks = build_document(out, kind, stages, plots, eval_plot, benchmark_plot)
    summary_plots = [plot for plot in (eval_plot, benchmark_plot) if plot is not None]
    return _write_documents(target, blocks, [*summary_plots, *(path for made in plots for path, _ in made)])


def write_evaluation_report(directory: str | Path, dest: str | Path | None = None) -> ReportFiles:
    """Write ``benchmarks.png``, ``report.md`` and ``report.html`` for an evaluation directory (default
    ``<directory>/report/``): the per-benchmark table of its ``results.md`` with the plot. Raises
    :class:`RecipeError` when ``results.json`` is missing or unreadable."""
    out = Path(directory)
    results = load_evaluation(out)
    target = Path(dest) if dest is not None else out / REPORT_DIR
    target.mkdir(parents=True, exist_ok=True)
    bars: BenchmarkBars = [(name, [{"avg_at_n": m.avg_at_n, "stderr": m.stderr}]) for name, m in results.benchmarks.items()]
    plot = plot_benchmarks(bars, ("avg@n",), target / BENCHMARK_PLOT, f"{results.model} ({results.backend})")
    return _write_documents(target, evaluation_document(out, results, plot), [plot] if plot is not None else [])


def _write_documents(target: Path, blocks: list[Block], plots: list[Path]) -> ReportFiles:
    markdown = target / "report.md"
    markdown.write_text(render_markdown(blocks, target))
    page = target / "report.html"
    page.write_text(render_html(blocks, blocks[0][1]))
    return ReportFiles(directory=target, markdown=markdown, html=page, plots=tuple(plots))

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
* ``report.md`` (images referenced relatively) and ``report.html`` (images embedded, no external files).

A series a stage did not log gets no plot; the report names it instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rltrain.reporting.load import load_run
from rltrain.reporting.plots import plot_eval, stage_plots
from rltrain.reporting.render import build_document, render_html, render_markdown
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


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "stage"


def write_report(output_dir: str | Path, dest: str | Path | None = None) -> ReportFiles:
    """Write the plots, ``report.md`` and ``report.html`` for a stage or pipeline output directory.

    ``dest`` defaults to ``<output_dir>/report/``. Raises :class:`RecipeError` when ``output_dir`` holds
    no ``metrics.jsonl``, ``summary.json`` or ``pipeline_summary.json``.
    """
    out = Path(output_dir)
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

    blocks = build_document(out, kind, stages, plots, eval_plot)
    markdown = target / "report.md"
    markdown.write_text(render_markdown(blocks, target))
    page = target / "report.html"
    page.write_text(render_html(blocks, blocks[0][1]))
    written = ([eval_plot] if eval_plot is not None else []) + [path for made in plots for path, _ in made]
    return ReportFiles(directory=target, markdown=markdown, html=page, plots=tuple(written))

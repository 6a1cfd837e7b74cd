"""Run reports: PNG plots and a one-page Markdown and HTML summary of a stage or pipeline output directory.

A stage's ``output_dir`` holds ``metrics.jsonl`` (one JSON object per logging step, see
:class:`rltrain.callbacks.MetricsLogger`) and ``summary.json`` (:func:`rltrain.stage.run_stage`); a
pipeline's holds one such directory per stage plus ``pipeline_summary.json``, the stage summaries in
pipeline order. Both are read here, also from a run that was interrupted or killed: a truncated last line
of ``metrics.jsonl`` is skipped with a warning, a missing ``summary.json`` leaves its cells ``-``, and a
killed pipeline without ``pipeline_summary.json`` is read from its stage directories in the order they
were started.

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

import base64
import html
import json
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rltrain.errors import RecipeError
from rltrain.report import _delta, _eval_cell, _reward

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
RECIPE_FILE = "recipe.yaml"
PIPELINE_SUMMARY_FILE = "pipeline_summary.json"
REPORT_DIR = "report"

GUARD_COUNTERS = ("masked", "timed_out", "errored", "gated")
"""rltrain's per-step reward counters, ``rewards/<name>/<counter>``: shares of the step's completions."""

_REWARD_MEAN = re.compile(r"^rewards/(?P<name>.+)/mean$")


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


@dataclass
class StageRun:
    """One stage as read from disk: its summary (``{}`` when none) and its metrics records."""

    name: str
    directory: Path | None
    summary: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    skipped_lines: list[int] = field(default_factory=list)
    has_metrics_file: bool = False
    recipe: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str | None:
        """``grpo``, ``sft`` or ``reward``: from the summary, else from the resolved ``recipe.yaml``."""
        kind = self.summary.get("kind") or self.recipe.get("stage")
        return str(kind) if kind else None

    def series(self, key: str) -> tuple[list[float], list[float]]:
        """Steps and values of one logged key, over the records that have it as a finite number."""
        steps: list[float] = []
        values: list[float] = []
        for i, record in enumerate(self.records):
            value = record.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            step = record.get("step")
            steps.append(float(step) if isinstance(step, (int, float)) else float(i + 1))
            values.append(float(value))
        return steps, values

    def has(self, key: str) -> bool:
        return any(key in record for record in self.records)

    def reward_names(self) -> list[str]:
        """Reward functions in the order they first appear: logged means, then summary counts, then evals."""
        names: list[str] = []
        for record in self.records:
            for key in record:
                match = _REWARD_MEAN.match(key)
                if match and match["name"] not in names:
                    names.append(match["name"])
        sources = [self.summary.get("rewards")]
        if self.kind != "reward":  # a reward-model stage's eval "rewards" is its margin
            sources += [(self.summary.get(k) or {}).get("rewards") for k in ("eval_after", "eval_before")]
        for source in sources:
            for name in source if isinstance(source, dict) else {}:
                if name not in names:
                    names.append(name)
        return names


# ---------------------------------------------------------------------------------------------- reading


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RecipeError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); the file may have been "
                          "cut short, remove it or re-run the stage") from exc
    except OSError as exc:
        raise RecipeError(f"{path}: cannot be read ({exc.strerror})") from exc


def read_metrics(path: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """The records of a ``metrics.jsonl`` and the numbers of the lines skipped as unreadable.

    A run killed while writing leaves a truncated last line; it (and any other line that is not a JSON
    object) is skipped with a warning rather than failing the whole report.
    """
    records: list[dict[str, Any]] = []
    skipped: list[int] = []
    lines = path.read_text(errors="replace").splitlines()
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            skipped.append(i + 1)
            what = "truncated last line" if i == last else "unreadable line"
            logger.warning("%s: skipped %s %d (not a JSON object; a run killed while writing leaves one)",
                           path, what, i + 1)
            continue
        records.append(record)
    return records, skipped


def _is_stage_dir(path: Path) -> bool:
    return (path / METRICS_FILE).is_file() or (path / SUMMARY_FILE).is_file()


def _load_stage(name: str, directory: Path | None, fallback_summary: dict[str, Any] | None = None) -> StageRun:
    run = StageRun(name=name, directory=directory, summary=dict(fallback_summary or {}))
    if directory is not None and (directory / SUMMARY_FILE).is_file():
        summary = _read_json(directory / SUMMARY_FILE)
        if not isinstance(summary, dict):
            raise RecipeError(f"{directory / SUMMARY_FILE}: expected a JSON object (a stage summary)")
        run.summary = {**run.summary, **summary}
    if directory is not None and (directory / METRICS_FILE).is_file():
        run.records, run.skipped_lines = read_metrics(directory / METRICS_FILE)
        run.has_metrics_file = True
    if directory is not None and (directory / RECIPE_FILE).is_file():
        run.recipe = _read_recipe(directory / RECIPE_FILE)
    return run


def _read_recipe(path: Path) -> dict[str, Any]:
    """The resolved recipe a stage ran (for its name and kind when it left no summary); ``{}`` if unreadable."""
    import yaml

    try:
        recipe = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        logger.warning("%s: cannot be read (%s); the report names the stage after its directory", path, exc)
        return {}
    return recipe if isinstance(recipe, dict) else {}


def _started(path: Path) -> float:
    """When a stage directory's run began: its resolved recipe is written first."""
    for name in (RECIPE_FILE, METRICS_FILE, SUMMARY_FILE):
        if (path / name).exists():
            return (path / name).stat().st_mtime
    return path.stat().st_mtime


def load_run(output_dir: str | Path) -> tuple[str, list[StageRun]]:
    """Read a stage or pipeline output directory: ``("stage" | "pipeline", stages in order)``.

    Raises :class:`RecipeError` naming the directory and what was expected when it holds no run output.
    """
    out = Path(output_dir)
    if not out.is_dir():
        raise RecipeError(f"{out}: no such directory (expected a stage or pipeline output_dir)")
    pipeline_file = out / PIPELINE_SUMMARY_FILE
    if pipeline_file.is_file():
        entries = _read_json(pipeline_file)
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise RecipeError(f"{pipeline_file}: expected a JSON list of stage summaries")
        stages = []
        for i, entry in enumerate(entries):
            name = str(entry.get("stage") or entry.get("name") or f"stage{i + 1}")
            directory = out / name
            stages.append(_load_stage(name, directory if directory.is_dir() else None, entry))
        listed = {s.name for s in stages}
        # pipeline_summary.json lists only the stages of the last invocation (`--only STAGE` runs one),
        # and a killed re-run leaves stages newer than it: every stage directory is reported, in the
        # order the stages started (the pipeline's order, as stages run one after another).
        extra = [p for p in out.iterdir() if p.is_dir() and p.name not in listed and _is_stage_dir(p)]
        if extra:
            logger.info("%s: stages not in %s, placed by start time: %s", out, PIPELINE_SUMMARY_FILE,
                        ", ".join(sorted(p.name for p in extra)))
            keyed, started = [], float("-inf")
            for i, stage in enumerate(stages):
                started = _started(stage.directory) if stage.directory is not None else started
                keyed.append((started, i, stage))
            keyed += [(_started(p), len(stages) + j, _load_stage(p.name, p)) for j, p in enumerate(extra)]
            stages = [stage for _, _, stage in sorted(keyed, key=lambda item: item[:2])]
        return "pipeline", stages
    if _is_stage_dir(out):
        stage = _load_stage(out.name, out)
        stage.name = str(stage.summary.get("name") or stage.recipe.get("name") or out.name)
        return "stage", [stage]
    children = sorted((p for p in out.iterdir() if p.is_dir() and _is_stage_dir(p)), key=_started)
    if children:
        logger.warning("%s: no %s (the pipeline did not finish); stages ordered by start time: %s",
                       out, PIPELINE_SUMMARY_FILE, ", ".join(p.name for p in children))
        return "pipeline", [_load_stage(p.name, p) for p in children]
    raise RecipeError(
        f"{out}: no run output found: expected {METRICS_FILE} or {SUMMARY_FILE} (a stage's output_dir), "
        f"or {PIPELINE_SUMMARY_FILE} or stage sub-directories holding them (a pipeline's output_dir)"
    )


# ---------------------------------------------------------------------------------------------- formatting


def _duration(seconds: Any) -> str:
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


def _number(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "-"
    return _reward(float(value))


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _metric_label(result: dict[str, Any]) -> str:
    metric = result.get("metric", "-")
    samples, prompts = result.get("num_samples"), result.get("num_prompts")
    return f"{metric} ({prompts}x{samples})" if samples else str(metric)


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


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "stage"


# ---------------------------------------------------------------------------------------------- plots


def _figure(panels: int = 1) -> tuple[Any, list[Any]]:
    """A figure on the Agg canvas (no pyplot, no display) with ``panels`` axes side by side."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4 * panels if panels > 1 else 7.2, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, panels, i + 1) for i in range(panels)]
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.set_xlabel("step")
    return fig, axes


def _marker(steps: Sequence[float]) -> dict[str, Any]:
    return {"marker": "o", "markersize": 3} if len(steps) <= 30 else {}


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, dpi=100, format="png")
    return path


def _plot_rewards(stage: StageRun, path: Path) -> Path | None:
    names = [n for n in stage.reward_names() if stage.series(f"rewards/{n}/mean")[1]]
    steps, total = stage.series("reward")
    if not names and not total:
        return None
    fig, (ax,) = _figure()
    for name in names:
        x, y = stage.series(f"rewards/{name}/mean")
        ax.plot(x, y, label=name, linewidth=1.2, **_marker(x))
    if total:
        ax.plot(steps, total, label="reward (total)", color="black", linewidth=2, **_marker(steps))
        std = dict(zip(*stage.series("reward_std")))
        band = [(x, y, std[x]) for x, y in zip(steps, total) if x in std]
        if band:
            bx = [b[0] for b in band]
            ax.fill_between(bx, [y - s for _, y, s in band], [y + s for _, y, s in band], color="black",
                            alpha=0.12, label="total ± 1 std")
    ax.set_title(f"{stage.name}: training reward")
    ax.set_ylabel("reward (batch mean)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return _save(fig, path)


def _plot_lengths(stage: StageRun, path: Path) -> Path | None:
    x, mean = stage.series("completions/mean_length")
    cx, clipped = stage.series("completions/clipped_ratio")
    panels = bool(mean) + bool(clipped)
    if not panels:
        return None
    fig, axes = _figure(panels)
    if mean:
        ax = axes[0]
        lows, highs = dict(zip(*stage.series("completions/min_length"))), dict(zip(*stage.series("completions/max_length")))
        band = [s for s in x if s in lows and s in highs]
        if band:
            ax.fill_between(band, [lows[s] for s in band], [highs[s] for s in band], alpha=0.2, label="min-max")
        ax.plot(x, mean, label="mean", linewidth=1.5, **_marker(x))
        ax.set_title(f"{stage.name}: completion length")
        ax.set_ylabel("tokens")
        ax.legend(fontsize="small")
    if clipped:
        ax = axes[-1]
        ax.plot(cx, [100 * v for v in clipped], color="tab:red", linewidth=1.5, **_marker(cx))
        ax.set_title(f"{stage.name}: clipped at max length")
        ax.set_ylabel("% of completions")
        ax.set_ylim(bottom=0)
    return _save(fig, path)


def _plot_single(stage: StageRun, key: str, title: str, ylabel: str, path: Path) -> Path | None:
    x, y = stage.series(key)
    if not y:
        return None
    fig, (ax,) = _figure()
    ax.plot(x, y, linewidth=1.5, **_marker(x))
    ax.set_title(f"{stage.name}: {title}")
    ax.set_ylabel(ylabel)
    return _save(fig, path)


def _plot_loss(stage: StageRun, path: Path) -> Path | None:
    x, loss = stage.series("loss")
    lx, lr = stage.series("learning_rate")
    panels = bool(loss) + bool(lr)
    if not loss:
        return None
    fig, axes = _figure(panels)
    axes[0].plot(x, loss, linewidth=1.5, **_marker(x))
    axes[0].set_title(f"{stage.name}: training loss")
    axes[0].set_ylabel("loss")
    if lr:
        axes[1].plot(lx, lr, color="tab:gray", linewidth=1.5, **_marker(lx))
        axes[1].set_title("learning rate")
        axes[1].ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    return _save(fig, path)


def guard_series(stage: StageRun) -> list[tuple[str, str]]:
    """``(reward, counter)`` pairs whose per-step share is non-zero at some step."""
    found = []
    for name in stage.reward_names():
        for counter in GUARD_COUNTERS:
            if any(v != 0 for v in stage.series(f"rewards/{name}/{counter}")[1]):
                found.append((name, counter))
    return found


def _plot_guard(stage: StageRun, path: Path) -> Path | None:
    pairs = guard_series(stage)
    if not pairs:
        return None
    fig, (ax,) = _figure()
    styles = {"masked": "-", "timed_out": "--", "errored": ":", "gated": "-."}
    for name, counter in pairs:
        x, y = stage.series(f"rewards/{name}/{counter}")
        ax.plot(x, [100 * v for v in y], styles[counter], label=f"{name} {counter.replace('_', ' ')}",
                linewidth=1.5, **_marker(x))
    ax.set_title(f"{stage.name}: completions masked / timed out / errored / gated")
    ax.set_ylabel("% of the step's completions")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return _save(fig, path)


def eval_bars(stages: Iterable[StageRun]) -> list[tuple[str, float | None, float | None]]:
    """``(label, accuracy before, accuracy after)`` per stage evaluation, retention rows included."""
    bars = []
    for stage in stages:
        before, after = stage.summary.get("eval_before"), stage.summary.get("eval_after")
        if before or after:
            metric = (after or before or {}).get("metric", "")
            bars.append((f"{stage.name}\n{metric}", (before or {}).get("accuracy"), (after or {}).get("accuracy")))
        retention = stage.summary.get("retention") or {}
        kept_before, kept_after = retention.get("before"), retention.get("after")
        if kept_before or kept_after:
            metric = (kept_after or kept_before or {}).get("metric", "")
            bars.append((f"{stage.name}\nretention: {metric}", (kept_before or {}).get("accuracy"),
                         (kept_after or {}).get("accuracy")))
    return bars


def _plot_eval(stages: list[StageRun], path: Path) -> Path | None:
    bars = eval_bars(stages)
    if not any(isinstance(v, (int, float)) for _, b, a in bars for v in (b, a)):
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, 1.7 * len(bars) + 1.5), 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.38
    for offset, index, label, color in ((-width / 2, 1, "before", "tab:gray"), (width / 2, 2, "after", "tab:blue")):
        xs = [i + offset for i, bar in enumerate(bars) if isinstance(bar[index], (int, float))]
        ys = [100 * bar[index] for bar in bars if isinstance(bar[index], (int, float))]
        drawn = ax.bar(xs, ys, width, label=label, color=color)
        ax.bar_label(drawn, fmt="%.1f", fontsize="small", padding=2)
    ax.set_xticks(range(len(bars)), [label for label, _, _ in bars], fontsize="small")
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title("held-out evaluation before and after each stage")
    ax.legend(fontsize="small")
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------- document

# A report is a list of blocks, rendered both as Markdown and as HTML:
# ("h1" | "h2" | "h3" | "p", text) with `code` spans, ("table", header, rows, right-aligned columns),
# ("img", path, caption).
Block = tuple[Any, ...]

TRACKED = ("reward", "completions/mean_length", "completions/clipped_ratio", "kl", "entropy", "loss")


def absent_series(stage: StageRun) -> list[str]:
    """The tracked series this stage did not log (so it has no plot for them)."""
    absent = [key for key in TRACKED if not stage.series(key)[1]]
    if not any(_REWARD_MEAN.match(key) for record in stage.records for key in record):
        absent.insert(1, "rewards/<name>/mean")
    return absent


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
                     _duration(s.get("train_seconds")), _metric_label(after or before) if (after or before) else "-",
                     _eval_cell(before), _eval_cell(after), _delta(before, after), _number(first), _number(last),
                     _status(stage)])
        retention = s.get("retention") or {}
        kept_before, kept_after = retention.get("before"), retention.get("after")
        if kept_before or kept_after:
            label = f"{_metric_label(kept_after or kept_before)} of {retention.get('recipe', '?')}"
            rows.append(["↳ retention", "eval", "", "", label, _eval_cell(kept_before), _eval_cell(kept_after),
                         _delta(kept_before, kept_after), "", "", ""])
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
        rows.append(["reward (total)", _number(total[0]), _number(total[-1]), _number(sum(total) / len(total)),
                     "", "", "", "", "", ""])
    for name in names:
        _, values = stage.series(f"rewards/{name}/mean")
        first, last, mean = (values[0], values[-1], sum(values) / len(values)) if values else (None, None, None)
        row = [name, _number(first), _number(last), _number(mean),
               _number(evals[0].get(name)) if evals[0] else "-", _number(evals[1].get(name)) if evals[1] else "-"]
        stats = counts.get(name)
        for counter, count_key, of_key in (("masked", "masked", "completions"),
                                           ("timed_out", "timed_out_calls", "calls"),
                                           ("errored", "errored_calls", "calls")):
            if isinstance(stats, dict) and stats.get(count_key) is not None:
                total_of = stats.get(of_key)
                row.append(f"{stats[count_key]} / {total_of}" if total_of is not None else str(stats[count_key]))
            else:
                row.append(_share(_mean_share(stage, name, counter)))
        row.append(_share(_mean_share(stage, name, "gated")))
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
    "training (same prompts and sampling seed); retention rows evaluate an earlier stage's held-out set. Reward "
    "first/last/mean are training batch means over the logged steps; the held-out columns are the evaluations' "
    "means per reward. Masked counts completions, timed out and errored count reward calls, over the run as "
    "`summary.json` records them (the main process, since the last resume); without it, the mean share per logged "
    "step. Gated is the mean share of completions that failed a gate."
)


def _document(output_dir: Path, kind: str, stages: list[StageRun], plots: list[list[tuple[Path, str]]],
              eval_plot: Path | None) -> list[Block]:
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
    for stage, stage_plots in zip(stages, plots):
        blocks.append(("h2", f"Stage {stage.name}" + (f" ({stage.kind})" if stage.kind else "")))
        blocks += [("p", note) for note in _stage_notes(stage)]
        table = _reward_table(stage)
        if table is not None:
            blocks += [("h3", "Rewards"), table]
        blocks += [("img", path, caption) for path, caption in stage_plots]
    return [*blocks, ("h2", "Reading the tables"), ("p", _READING)]


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


# ---------------------------------------------------------------------------------------------- entry point


def _stage_plots(stage: StageRun, dest: Path, slug: str) -> list[tuple[Path, str]]:
    made = [
        (_plot_rewards(stage, dest / f"{slug}_rewards.png"), "training reward: total (± 1 std) and per reward function"),
        (_plot_lengths(stage, dest / f"{slug}_lengths.png"), "completion length and share clipped at the maximum"),
        (_plot_single(stage, "kl", "KL to the reference model", "KL", dest / f"{slug}_kl.png"), "KL divergence"),
        (_plot_single(stage, "entropy", "token entropy", "nats", dest / f"{slug}_entropy.png"), "token entropy"),
        (_plot_loss(stage, dest / f"{slug}_loss.png"), "training loss and learning rate"),
        (_plot_guard(stage, dest / f"{slug}_reward_guard.png"), "shares of completions masked, timed out, errored or gated"),
    ]
    return [(path, f"{stage.name}: {caption}") for path, caption in made if path is not None]


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
        plots.append(_stage_plots(stage, target, slug))
    eval_plot = _plot_eval(stages, target / "eval_accuracy.png")

    blocks = _document(out, kind, stages, plots, eval_plot)
    markdown = target / "report.md"
    markdown.write_text(render_markdown(blocks, target))
    page = target / "report.html"
    page.write_text(render_html(blocks, blocks[0][1]))
    written = ([eval_plot] if eval_plot is not None else []) + [path for made in plots for path, _ in made]
    return ReportFiles(directory=target, markdown=markdown, html=page, plots=tuple(written))

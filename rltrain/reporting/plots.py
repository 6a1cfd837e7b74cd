"""The run report's plots: PNG files drawn on matplotlib's Agg canvas (no display), one per series a
stage logged (rewards, completion lengths, KL, entropy, loss, the reward guard's counters), one bar
chart of held-out accuracy before and after every stage, and one of benchmark avg@n with its standard
error (before and after every stage of a run, or an evaluation directory's benchmarks). A series that was
not logged gets no plot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rltrain.reporting.load import GUARD_COUNTERS, StageRun


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
        std = dict(zip(*stage.series("reward_std"), strict=False))
        band = [(x, y, std[x]) for x, y in zip(steps, total, strict=False) if x in std]
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
        lows = dict(zip(*stage.series("completions/min_length"), strict=False))
        highs = dict(zip(*stage.series("completions/max_length"), strict=False))
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


def plot_eval(stages: list[StageRun], path: Path) -> Path | None:
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
        measured = [(i, value) for i, bar in enumerate(bars) if isinstance(value := bar[index], (int, float))]
        xs = [i + offset for i, _ in measured]
        ys = [100 * value for _, value in measured]
        drawn = ax.bar(xs, ys, width, label=label, color=color)
        ax.bar_label(drawn, fmt="%.1f", fontsize="small", padding=2)
    ax.set_xticks(range(len(bars)), [label for label, _, _ in bars], fontsize="small")
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title("held-out evaluation before and after each stage")
    ax.legend(fontsize="small")
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)


BenchmarkBars = list[tuple[str, list[dict[str, Any] | None]]]
"""``(label, one metrics row per series)``; a row holds ``avg_at_n`` and ``stderr`` (``None``: not measured)."""


def benchmark_bars(stages: Iterable[StageRun]) -> BenchmarkBars:
    """``(stage and benchmark, [row before, row after])`` for every benchmark row of every stage summary."""
    from rltrain.reporting.formatting import benchmark_names, benchmark_row

    return [(f"{stage.name}\n{name}", [benchmark_row(stage.summary, "before", name), benchmark_row(stage.summary, "after", name)])
            for stage in stages for name in benchmark_names(stage.summary)]


def _measured(row: dict[str, Any] | None) -> bool:
    return isinstance(row, dict) and isinstance(row.get("avg_at_n"), (int, float))


def plot_benchmarks(bars: BenchmarkBars, series: Sequence[str], path: Path, title: str) -> Path | None:
    """avg@n per benchmark as bars with one-standard-error whiskers, one colour per series (e.g. before
    and after); ``None`` when nothing was measured."""
    if not any(_measured(row) for _, rows in bars for row in rows):
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, 1.2 * len(series) * len(bars) + 1.5), 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.8 / len(series)
    colors = ["tab:gray", "tab:blue"] if len(series) == 2 else ["tab:blue"] * len(series)
    for k, (label, color) in enumerate(zip(series, colors, strict=False)):
        measured = [(i, row) for i, (_, rows) in enumerate(bars) if (row := rows[k]) is not None and _measured(row)]
        xs = [i + (k - (len(series) - 1) / 2) * width for i, _ in measured]
        ys = [100 * row["avg_at_n"] for _, row in measured]
        errors = [100 * (row.get("stderr") or 0.0) for _, row in measured]
        drawn = ax.bar(xs, ys, width, yerr=errors, capsize=3, label=label, color=color)
        ax.bar_label(drawn, fmt="%.1f", fontsize="small", padding=2)
    ax.set_xticks(range(len(bars)), [label for label, _ in bars], fontsize="small")
    ax.set_ylabel("avg@n (%), ± 1 standard error")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    if len(series) > 1:
        ax.legend(fontsize="small")
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, path)


def stage_plots(stage: StageRun, dest: Path, slug: str) -> list[tuple[Path, str]]:
    """Draw every plot of ``stage`` into ``dest`` (files named ``<slug>_<what>.png``); ``(path, caption)``
    of each drawn."""
    made = [
        (_plot_rewards(stage, dest / f"{slug}_rewards.png"), "training reward: total (± 1 std) and per reward function"),
        (_plot_lengths(stage, dest / f"{slug}_lengths.png"), "completion length and share clipped at the maximum"),
        (_plot_single(stage, "kl", "KL to the reference model", "KL", dest / f"{slug}_kl.png"), "KL divergence"),
        (_plot_single(stage, "entropy", "token entropy", "nats", dest / f"{slug}_entropy.png"), "token entropy"),
        (_plot_loss(stage, dest / f"{slug}_loss.png"), "training loss and learning rate"),
        (_plot_guard(stage, dest / f"{slug}_reward_guard.png"), "shares of completions masked, timed out, errored or gated"),
    ]
    return [(path, f"{stage.name}: {caption}") for path, caption in made if path is not None]

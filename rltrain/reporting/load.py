"""Reading a run folder for the run report: a stage's or a pipeline's ``output_dir`` as :class:`StageRun`
objects, also from a run that was interrupted or killed; or an evaluation directory of ``rltrain eval``
(its ``results.json``, :func:`load_evaluation`).

A stage's ``output_dir`` holds ``metrics.jsonl`` (one JSON object per logging step, see
:class:`rltrain.run.callbacks.MetricsLogger`) and ``summary.json`` (:func:`rltrain.run.stage.run_stage`); a
pipeline's holds one such directory per stage plus ``pipeline_summary.json``, the stage summaries in
pipeline order (file names: :mod:`rltrain.run.layout`). A truncated last line of ``metrics.jsonl`` is
skipped with a warning, a missing ``summary.json`` leaves its cells ``-``, and a killed pipeline without
``pipeline_summary.json`` is read from its stage directories in the order they were started.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rltrain.errors import RecipeError
from rltrain.run.layout import METRICS_FILE, PIPELINE_SUMMARY_FILE, RECIPE_FILE, SUMMARY_FILE, read_jsonl

if TYPE_CHECKING:
    from rltrain.evaluation.results import EvalResults

logger = logging.getLogger(__name__)

GUARD_COUNTERS = ("masked", "timed_out", "errored", "gated")
"""rltrain's per-step reward counters, ``rewards/<name>/<counter>``: shares of the step's completions."""

REWARD_MEAN = re.compile(r"^rewards/(?P<name>.+)/mean$")
"""A logged per-reward mean, ``rewards/<name>/mean``."""


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
                match = REWARD_MEAN.match(key)
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


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RecipeError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); the file may have been "
                          "cut short, remove it or re-run the stage") from exc
    except OSError as exc:
        raise RecipeError(f"{path}: cannot be read ({exc.strerror})") from exc


def read_metrics(path: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """The records of a ``metrics.jsonl`` and the numbers of the lines skipped as unreadable (see
    :func:`rltrain.run.layout.read_jsonl`)."""
    found = read_jsonl(path)
    return found.records, found.skipped


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


def is_evaluation_dir(path: str | Path) -> bool:
    """Whether ``path`` is an evaluation directory (``rltrain eval``'s, or a stage's ``benchmarks/before``)."""
    from rltrain.evaluation.results import RESULTS_FILE

    return (Path(path) / RESULTS_FILE).is_file()


def load_evaluation(path: str | Path) -> EvalResults:
    """The results of an evaluation directory; :class:`RecipeError` naming the file when it is unreadable."""
    from rltrain.evaluation.results import read_results

    return read_results(path)

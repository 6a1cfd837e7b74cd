"""Pipelines: stages run in order, each starting from the previous stage's final weights.

A pipeline file names an ``output_dir`` and a list of stages; each stage points at a recipe file
(relative to the pipeline file) plus overrides. Stage ``i`` trains in ``<output_dir>/<name>``. A stage
whose ``summary.json`` says ``completed`` is skipped on a re-run; an interrupted one resumes from its
newest complete checkpoint. After every stage the before/after table is printed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rltrain.errors import RecipeError
from rltrain.recipe.loading import apply_overrides, format_validation_error, parse_overrides, read_yaml, recipe_from_dict
from rltrain.recipe.schema import Recipe
from rltrain.run.distributed import SINGLE_NODE, NodePlacement
from rltrain.run.layout import RunLayout


class StageSpec(BaseModel):
    """One entry of a pipeline's ``stages``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Stage name; also its sub-directory of output_dir.")
    recipe: str = Field(description="Recipe file, relative to the pipeline file.")
    set: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides, dotted path -> value; '{output_dir}' in a string value is the pipeline's output_dir.",
    )
    from_previous: bool = Field(True, description="Start from the previous stage's final weights.")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not value or "/" in value or value.startswith("."):
            raise ValueError("must be a plain directory name")
        return value


class Pipeline(BaseModel):
    """A pipeline file: stages run in order under one ``output_dir``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("pipeline", description="Pipeline name.")
    output_dir: str = Field(description="Parent directory of the stages' output directories.")
    stages: list[StageSpec] = Field(min_length=1, description="Stages, run in order.")

    @field_validator("stages")
    @classmethod
    def _unique(cls, stages: list[StageSpec]) -> list[StageSpec]:
        names = [s.name for s in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique, got {names}")
        return stages


def load_pipeline(
    path: str | Path, overrides: list[str] | None = None, stage_overrides_all: list[str] | None = None,
    *, num_machines: int | None = None,
) -> tuple[Pipeline, list[Recipe]]:
    """Validate the pipeline and every stage recipe up front; a bad stage fails before stage one runs.
    ``stage_overrides_all`` apply to every stage's recipe, after the pipeline's own ``set`` entries;
    ``num_machines``: the node count, when training (see :func:`rltrain.recipe.loading.recipe_from_dict`)."""
    path = Path(path)
    raw = apply_overrides(read_yaml(path), parse_overrides(overrides or []))
    try:
        pipeline = Pipeline.model_validate(raw)
    except ValidationError as exc:
        raise RecipeError(format_validation_error(str(path), exc)) from None
    recipes: list[Recipe] = []
    for i, stage in enumerate(pipeline.stages):
        recipe_path = (path.resolve().parent / stage.recipe)
        stage_raw = read_yaml(recipe_path)
        out = str(Path(pipeline.output_dir).resolve())
        stage_overrides = [
            f"{k}={json.dumps(v.replace('{output_dir}', out) if isinstance(v, str) else v)}" for k, v in stage.set.items()
        ]
        stage_overrides.append(f"output_dir={json.dumps(str(Path(pipeline.output_dir) / stage.name))}")
        pending = None
        if i > 0 and stage.from_previous:
            previous_stage = pipeline.stages[i - 1].name
            previous = RunLayout.of(Path(pipeline.output_dir).resolve()).stage(previous_stage).final
            stage_overrides.append(f"model.name_or_path={json.dumps(str(previous))}")
            pending = f"the final weights of stage {previous_stage}"  # written when that stage finishes
        stage_raw = apply_overrides(stage_raw, parse_overrides([*stage_overrides, *(stage_overrides_all or [])]))
        pending = pending or _adapter_from_earlier_stage(stage_raw, recipe_path.parent, Path(pipeline.output_dir))
        source = f"{recipe_path} (stage {stage.name})"
        recipes.append(recipe_from_dict(stage_raw, source=source, base_dir=recipe_path.parent,
                                        num_machines=num_machines, pending_model=pending))
    return pipeline, recipes


def _adapter_from_earlier_stage(raw: dict[str, Any], base_dir: Path, output_dir: Path) -> str | None:
    """Why a stage's ``model.adapter`` may be missing at validation: it lies in this pipeline's
    ``output_dir``, where an earlier stage writes it (e.g. ``{output_dir}/sft/final/adapter``)."""
    model = raw.get("model")
    adapter = model.get("adapter") if isinstance(model, dict) else None
    if not isinstance(adapter, str):
        return None
    path = (base_dir / Path(adapter).expanduser()).resolve()
    if path.exists() or output_dir.resolve() not in path.parents:
        return None
    return f"the adapter {path}, written by an earlier stage"


def stage_status(recipe: Recipe, placement: NodePlacement = SINGLE_NODE) -> str:
    """``done``, ``resume`` or ``new``. The head goes by the stage's ``summary.json`` (written after the
    evaluation); another node of a multi-node run by its own training result, since it does not wait
    for the head's evaluation."""
    from rltrain.run.stage import finished_training

    if not placement.is_head:
        return "done" if finished_training(recipe, placement) is not None else "resume"
    layout = RunLayout.of(recipe.output_dir)
    if layout.summary.is_file() and json.loads(layout.summary.read_text()).get("completed"):
        return "done"
    return "resume" if layout.recipe.exists() else "new"


def run_pipeline(
    path: str | Path,
    overrides: list[str] | None = None,
    *,
    console=None,
    placement: NodePlacement = SINGLE_NODE,
    only: str | None = None,
    stage_overrides_all: list[str] | None = None,
    before_stage: Callable[[Recipe], None] | None = None,
) -> list[dict[str, Any]]:
    """Run (or continue) every stage; returns the stage summaries. Stops at an interrupted stage. On a
    non-head node of a multi-node run, each stage only trains (the head evaluates and reports).

    ``before_stage`` is called on the head with each stage's resolved recipe just before that stage starts
    or resumes (its model, the previous stage's final weights, exists by then): ``rltrain pipeline`` prints
    the memory plan's verdict there, as ``rltrain train`` does at launch.

    ``only`` runs that one stage, after checking that the stages before it have finished (the SLURM
    pipeline script runs stages one at a time, each with the servers it needs).
    """
    from rltrain.reporting.table import print_table
    from rltrain.run.stage import run_stage

    pipeline, recipes = load_pipeline(path, overrides, stage_overrides_all, num_machines=placement.num_machines)
    names = [s.name for s in pipeline.stages]
    if only is not None and only not in names:
        raise RecipeError(f"--only {only!r}: {path} has stages {names}")
    summaries: list[dict[str, Any]] = []
    for spec, recipe in zip(pipeline.stages, recipes, strict=False):
        status = stage_status(recipe, placement)
        if only is not None and spec.name != only:
            if names.index(spec.name) < names.index(only) and status != "done":
                raise RecipeError(f"--only {only}: the earlier stage {spec.name!r} has not finished; run it first")
            continue
        if status == "done" and not placement.is_head:
            _say(console, f"[bold]stage {spec.name}[/]: trained earlier, skipped on node {placement.machine_rank}")
            continue
        if status == "done":
            summary = json.loads(RunLayout.of(recipe.output_dir).summary.read_text())
            _say(console, f"[bold]stage {spec.name}[/]: finished earlier, skipped")
        else:
            _say(console, f"[bold]stage {spec.name}[/] ({recipe.stage}): {'resuming' if status == 'resume' else 'starting'}")
            if before_stage is not None and placement.is_head:
                before_stage(recipe)
            summary = run_stage(recipe, resume=True, placement=placement)
        summaries.append({"stage": spec.name, **summary})
        if placement.is_head:
            print_table(summaries, console=console, title=f"{pipeline.name}: before/after")
        if summary.get("interrupted"):
            break
    if placement.is_head:  # every stage that has a summary, also those an earlier `--only` ran
        recorded = [
            {"stage": spec.name, **json.loads(RunLayout.of(r.output_dir).summary.read_text())}
            for spec, r in zip(pipeline.stages, recipes, strict=False)
            if RunLayout.of(r.output_dir).summary.is_file()
        ]
        RunLayout.of(pipeline.output_dir).pipeline_summary.write_text(json.dumps(recorded, indent=2, default=str))
    return summaries


def _say(console, text: str) -> None:
    if console is not None:
        console.print(text)

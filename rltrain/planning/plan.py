"""Planning a recipe or a pipeline: its model's shape, its settings, its memory terms and the verdict.

A plan reads recipes leniently: the fields are validated as training validates them (schema and TRL
options), but nothing the plan does not need has to exist yet (the data file, a server the recipe names
through an unset ``${VARIABLE}``), so a cluster run can be planned on a laptop before its data is built.
``rltrain train`` still checks all of that at launch. Nothing is downloaded: only ``config.json`` files
are read, from where :func:`rltrain.planning.model_shape.locate_config` looks.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rltrain.errors import RecipeError
from rltrain.planning.memory import MemoryPlan, PlanContext, estimate_memory
from rltrain.planning.model_shape import ModelConfigNotFound, ModelShape, locate_config, shape_from_config_file, tiny_shape
from rltrain.planning.verdict import Verdict, judge
from rltrain.planning.workload import Device, Hardware, Workload, workload_from_recipe
from rltrain.recipe.env import expand_env
from rltrain.recipe.loading import apply_overrides, format_validation_error, parse_overrides
from rltrain.recipe.schema import Recipe


@dataclass(frozen=True)
class PlanRequest:
    """What the plan is asked about: the hardware (unset: the recipe's ``distributed.num_processes`` GPUs
    of 80 GiB on one node) and where model configs are found."""

    nodes: int | None = None
    gpus_per_node: int | None = None
    memory_bytes: int | None = None
    device: Device = "cuda"
    config: Path | None = None
    """The policy's config.json (or its directory), overriding the lookup."""
    model_configs: tuple[Path, ...] = ()
    """Directories of ``<org>__<name>/config.json`` files."""
    prompt_tokens: int | None = None

    def hardware(self, recipe: Recipe) -> Hardware:
        return Hardware(
            nodes=self.nodes or 1,
            gpus_per_node=self.gpus_per_node or recipe.distributed.num_processes,
            memory_bytes=self.memory_bytes or Hardware().memory_bytes,
            device=self.device,
        )


@dataclass(frozen=True)
class StagePlan:
    """The plan of one stage."""

    name: str
    source: str
    policy: ModelShape
    workload: Workload
    hardware: Hardware
    memory: MemoryPlan
    verdict: Verdict
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        w = self.workload
        return {
            "stage": self.name,
            "recipe": self.source,
            "model": {k: v for k, v in self.policy.as_dict().items() if k not in ("linear_groups", "params_by_name")},
            "hardware": {"nodes": self.hardware.nodes, "gpus_per_node": self.hardware.gpus_per_node,
                         "memory_bytes": self.hardware.memory_bytes, "device": self.hardware.device},
            "settings": {
                "distributed": w.zero if not w.offload else "zero3_offload", "micro_batch": w.micro_batch,
                "prompt_tokens": w.prompt_tokens, "prompt_tokens_from": w.prompt_source,
                "completion_tokens": w.completion_tokens, "gradient_checkpointing": w.gradient_checkpointing,
                "attn_implementation": w.attn_implementation, "beta": w.beta, "generation": w.generation,
                "vllm_gpu_memory_utilization": w.vllm_gpu_memory_utilization, "vllm_sleep": w.vllm_sleep,
                "generation_batch_per_rank": w.generation_batch_per_rank, "trainable_params": w.trainable_params,
                "reward_models": [rm.shape.name for rm in w.reward_models],
            },
            "terms": [t.as_dict() for t in self.memory.terms],
            "phases": {phase: self.memory.phase_total(phase) for phase in ("generation", "scoring", "training")},
            "model_state_bytes": self.memory.model_state_bytes,
            "host_bytes_per_node": self.memory.host_bytes_per_node,
            "kv_cache": self.memory.kv_cache.as_dict() if self.memory.kv_cache else None,
            **self.verdict.as_dict(),
            "notes": list(self.notes),
        }


@functools.lru_cache(maxsize=32)
def _shape(path: str, name: str, sequence_classification: bool | None) -> ModelShape:
    return shape_from_config_file(Path(path), name, sequence_classification=sequence_classification)


def find_shape(name: str, *, base_dir: Path = Path("."), config: Path | None = None,
               model_configs: tuple[Path, ...] = (), sequence_classification: bool | None = None) -> ModelShape:
    """The shape of model ``name`` (a hub id or local path), from a config.json found without network."""
    path = locate_config(name, base_dir=base_dir, config=config, search_dirs=list(model_configs))
    return _shape(str(path.resolve()), name, sequence_classification)


def policy_shape(recipe: Recipe, request: PlanRequest) -> ModelShape:
    """The shape of the model a recipe trains."""
    reward_stage = recipe.stage == "reward"
    if recipe.model.is_tiny:
        return tiny_shape(recipe.model.tiny, sequence_classification=reward_stage)
    return find_shape(recipe.model.name_or_path, base_dir=recipe.base_dir, config=request.config,
                      model_configs=request.model_configs, sequence_classification=reward_stage or None)


def plan_stage(recipe: Recipe, request: PlanRequest = PlanRequest(), *, name: str | None = None, source: str = "",
               policy: ModelShape | None = None) -> StagePlan:
    """Plan one stage; ``policy`` gives the model's shape when the recipe's model does not exist yet (a
    pipeline stage that starts from the previous stage's weights)."""
    policy = policy or policy_shape(recipe, request)
    hardware = request.hardware(recipe)

    missing: list[str] = []

    def reward_shape(model: str, classifier: bool) -> ModelShape | None:
        try:
            return find_shape(model, base_dir=recipe.base_dir, model_configs=request.model_configs,
                              sequence_classification=classifier)
        except ModelConfigNotFound:
            missing.append(f"reward model {model}: no config.json on this machine, not counted "
                           f"(--model-configs DIR with {model.replace('/', '__')}/config.json)")
            return None

    workload = workload_from_recipe(recipe, policy, hardware, find_shape=reward_shape, prompt_tokens=request.prompt_tokens)
    ctx = PlanContext(policy=policy, workload=workload, hardware=hardware)
    memory = estimate_memory(ctx)
    return StagePlan(name=name or recipe.name, source=source, policy=policy, workload=workload, hardware=hardware,
                     memory=memory, verdict=judge(ctx, memory), notes=(*missing, *_notes(recipe, workload)))


def _notes(recipe: Recipe, workload: Workload) -> tuple[str, ...]:
    notes = [f"prompt length {workload.prompt_tokens}: {workload.prompt_source}"]
    if workload.generation == "vllm_server":
        notes.append("generation runs on a vLLM server node: its memory is not on these GPUs")
    for i, reward in enumerate(recipe.rewards):
        if reward.name == "reward_model" and reward.params.get("mode", "in_process") != "in_process":
            notes.append(f"rewards.{i}: the reward model is served ({reward.params.get('mode')}): not on these GPUs")
    return tuple(notes)


# --- reading files leniently ----------------------------------------------------------------------------


def _expand_leniently(raw: Any, *, source: str) -> Any:
    """``${NAME}`` references expanded where set; an unset one without default stays a visible placeholder
    (servers and URLs do not change memory)."""
    if isinstance(raw, dict):
        return {k: _expand_leniently(v, source=source) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_expand_leniently(v, source=source) for v in raw]
    if isinstance(raw, str) and "$" in raw:
        try:
            return expand_env(raw, source=source)
        except RecipeError:
            return f"<unset: {raw}>"
    return raw


def _read(path: Path) -> dict[str, Any]:
    from rltrain.recipe.loading import read_yaml_unexpanded

    return _expand_leniently(read_yaml_unexpanded(path), source=str(path))


def read_recipe_for_plan(path: Path, overrides: list[str] | None = None, raw: dict[str, Any] | None = None) -> Recipe:
    """A recipe's fields, validated by the schema, without requiring its inputs to exist."""
    data = apply_overrides(raw if raw is not None else _read(path), parse_overrides(overrides or []))
    try:
        return Recipe.model_validate({**data, "base_dir": path.resolve().parent})
    except ValidationError as exc:
        raise RecipeError(format_validation_error(str(path), exc)) from None


def plan_file(path: str | Path, request: PlanRequest = PlanRequest(), overrides: list[str] | None = None) -> list[StagePlan]:
    """Plan a recipe (one stage) or a pipeline (each stage, in order). ``overrides`` (``--set``) apply to
    the recipe, or to every stage of a pipeline."""
    path = Path(path)
    raw = _read(path)
    if "stages" not in raw:
        return [plan_stage(read_recipe_for_plan(path, overrides, raw), request, source=str(path))]
    from rltrain.run.pipeline import Pipeline

    try:
        pipeline = Pipeline.model_validate(raw)
    except ValidationError as exc:
        raise RecipeError(format_validation_error(str(path), exc)) from None
    plans: list[StagePlan] = []
    previous: ModelShape | None = None
    for spec in pipeline.stages:
        recipe_path = path.resolve().parent / spec.recipe
        out = str(Path(pipeline.output_dir).resolve())
        stage_sets = [f"{k}={json.dumps(v.replace('{output_dir}', out) if isinstance(v, str) else v)}"
                      for k, v in spec.set.items()]
        recipe = read_recipe_for_plan(recipe_path, [*stage_sets, *(overrides or [])])
        # A stage that starts from the previous one's final weights has that stage's architecture.
        inherited = previous if (spec.from_previous and previous is not None) else None
        plan = plan_stage(recipe, request, name=spec.name, source=str(recipe_path), policy=inherited)
        plans.append(plan)
        previous = plan.policy
    return plans


def plans_json(plans: list[StagePlan], source: str) -> dict[str, Any]:
    """The JSON document ``rltrain plan --json`` writes."""
    return {
        "source": source,
        "fits": all(p.verdict.fits for p in plans),
        "stages": [p.as_dict() for p in plans],
    }

"""One training process: recipe → TRL config → GRPOTrainer, SFTTrainer or RewardTrainer → checkpoints and
final weights.

This runs in every rank (directly for a single process, or under ``accelerate launch``). The algorithm
is TRL's; what is added here is the wiring: guarded rewards, metrics.jsonl, graceful stop on
SIGTERM/SIGUSR1, complete-checkpoint markers, resume from the newest complete checkpoint (the
Trainer restores optimizer, scheduler, per-rank RNG state and skips the batches already seen), final
weights written in Hugging Face format, and a clean distributed teardown.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rltrain.recipe.schema import Recipe
from rltrain.run.distributed import apply_cpu_deepspeed_shim, teardown
from rltrain.run.layout import RunLayout

logger = logging.getLogger(__name__)

EXIT_INTERRUPTED = 75
"""Exit status of a run stopped by SIGTERM/SIGUSR1 after saving (EX_TEMPFAIL: requeue and resume)."""


@dataclass
class TrainResult:
    """What one node's training did, written by its first rank (:meth:`RunLayout.train_result`) and read
    by the stage that launched it, and by a resumed run to skip training that already finished."""

    output_dir: str
    global_step: int
    interrupted: bool
    resumed_from: str | None
    final_dir: str | None
    train_seconds: float
    first_log: dict[str, Any] | None
    last_log: dict[str, Any] | None
    rewards: dict[str, dict[str, Any]]
    tools: dict[str, Any] | None = None


def train_result_path(output_dir: Path, machine_rank: int = 0) -> Path:
    """Where a node's first rank writes its :class:`TrainResult` (see :meth:`RunLayout.train_result`)."""
    return RunLayout(output_dir).train_result(machine_rank)


def read_train_result(path: Path) -> TrainResult | None:
    """The result stored at ``path``, or ``None`` if there is none (or it is unreadable)."""
    try:
        return TrainResult(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _node_rank() -> int:
    """This rank's node (torchrun's ``GROUP_RANK``; 0 outside a multi-node launch)."""
    return int(os.environ.get("GROUP_RANK", "0") or 0)


def trl_config(recipe: Recipe):
    """The TRL ``GRPOConfig``/``SFTConfig`` of a recipe, with device-dependent defaults filled in."""
    import torch
    from trl import GRPOConfig, RewardConfig, SFTConfig

    options = recipe.trl_options()
    on_gpu = torch.cuda.is_available()
    options.setdefault("bf16", on_gpu and torch.cuda.is_bf16_supported())
    # DeepSpeed on CPU runs with use_cpu=False (accelerate disables DeepSpeed for use_cpu); see
    # rltrain.run.distributed for the gloo shim that makes that work.
    options.setdefault("use_cpu", not on_gpu and recipe.distributed.mode == "single")
    options.update(
        output_dir=recipe.output_dir,
        seed=recipe.seed,
        report_to=recipe.logging.report_to or "none",
        disable_tqdm=not recipe.logging.progress,
        save_strategy="steps",
        # rltrain rotates itself, after the completion marker (rltrain.run.callbacks.CheckpointMarker): the
        # Trainer would delete the older checkpoints before the new one is marked complete.
        save_total_limit=None,
    )
    if not recipe.model.is_tiny:
        from rltrain.models.loading import rope_parameters, torch_dtype

        init = {"dtype": torch_dtype(recipe.model), "trust_remote_code": recipe.model.trust_remote_code}
        rope = rope_parameters(recipe)  # model.rope_scaling, for the policy and a KL reference model alike
        if rope is not None:
            init["rope_parameters"] = rope
        options["model_init_kwargs"] = {**init, **(options.get("model_init_kwargs") or {})}
    if recipe.stage == "grpo":
        options["reward_weights"] = [r.weight for r in recipe.rewards]
        return GRPOConfig(**options)
    if recipe.stage == "reward":
        return RewardConfig(**options)
    return SFTConfig(**options)


def _model_argument(recipe: Recipe, tokenizer):
    """A path for TRL to load (so ZeRO-3 partitions while loading), or the model built in memory: the tiny
    model, or base + ``model.adapter`` merged (a launched stage has merged those on disk beforehand,
    :func:`rltrain.models.adapters.start_weights`)."""
    from rltrain.models.loading import load_model, model_source

    in_memory = recipe.model.is_tiny or recipe.model.adapter is not None
    return load_model(recipe, tokenizer) if in_memory else model_source(recipe)


def _peft_argument(recipe: Recipe, model) -> dict[str, Any]:
    """``peft_config`` for TRL's trainer when the recipe trains adapters; TRL wraps the model with it."""
    if recipe.peft is None:
        return {}
    from rltrain.models.adapters import lora_config_for

    return {"peft_config": lora_config_for(recipe, model)}


@contextlib.contextmanager
def reference_source(model, args, *, peft: bool = False) -> Iterator[None]:
    """While TRL's trainer is built, let it load the KL reference model of a policy built in memory.

    With ``beta`` other than 0, TRL loads the reference with ``from_pretrained`` from the policy's
    ``config._name_or_path``: the path the policy was loaded from, but nothing for the built-in tiny
    model. Such a policy is written to a temporary directory that stands as its path meanwhile, so the
    reference starts from the very weights the policy starts from (each rank writes its own). With
    adapters (``peft``) TRL loads no reference: it disables the adapters to compute it.
    """
    if isinstance(model, str) or not getattr(args, "beta", 0.0) or peft:
        yield
        return
    previous = model.config._name_or_path
    with tempfile.TemporaryDirectory(prefix="rltrain-reference-") as tmp:
        model.save_pretrained(tmp)
        model.config._name_or_path = tmp
        try:
            yield
        finally:
            model.config._name_or_path = previous


def build_trainer(recipe: Recipe, callbacks: list):
    """Construct the TRL trainer for a recipe (model, data, rewards, callbacks)."""
    from transformers import set_seed

    from rltrain.data.prompts import load_splits
    from rltrain.models.loading import load_tokenizer
    from rltrain.rewards.build import build_rewards
    from rltrain.tools import build_toolset

    args = trl_config(recipe)  # before loading the model: DeepSpeed ZeRO-3 init reads it
    set_seed(recipe.seed)
    toolset = build_toolset(recipe.tools)
    # The data first: its errors (an empty file, a bad JSON line) are the recipe's, reported before a
    # tokenizer or model is fetched.
    splits = load_splits(recipe, tool_schemas=[f.schema for f in toolset.functions] if recipe.stage == "sft" else None)
    tokenizer = load_tokenizer(recipe)
    if toolset:
        from rltrain.tools.parsing import ensure_tool_parser

        ensure_tool_parser(tokenizer)
    model = _model_argument(recipe, tokenizer)
    adapters = _peft_argument(recipe, model)
    if recipe.stage == "grpo":
        from rltrain.rollout.grpo import build_grpo_trainer

        with reference_source(model, args, peft=bool(adapters)):
            return build_grpo_trainer(
                recipe.rollout,
                toolset=toolset,
                model=model,
                reward_funcs=build_rewards(recipe),
                args=args,
                train_dataset=splits.train,
                processing_class=tokenizer,
                callbacks=callbacks,
                **adapters,
            )
    if recipe.stage == "reward":
        from trl import RewardTrainer

        return RewardTrainer(model=model, args=args, train_dataset=splits.train, processing_class=tokenizer,
                             callbacks=callbacks, **adapters)
    from trl import SFTTrainer

    from rltrain.data.prompts import fit_completions_to_template

    # Targets in the shape the model generates after its generation prompt (a <think>\n prefill included).
    train = fit_completions_to_template(splits.train, tokenizer, assistant_only_loss=bool(args.assistant_only_loss))
    return SFTTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer, callbacks=callbacks,
                      **adapters)


def _save_final(recipe: Recipe, trainer, final: Path) -> None:
    """Hugging Face weights in ``final/`` (consolidated, also under ZeRO-3) and the tokenizer. With adapters,
    the adapter goes to ``final/adapter/`` and, outside a launched run, the merged weights to ``final/``
    here; a launched run's stage merges them once its ranks have exited (no rank holds whole weights
    under ZeRO-3)."""
    if recipe.peft is None:
        trainer.save_model(str(final))
        if trainer.is_world_process_zero():
            trainer.processing_class.save_pretrained(str(final))
        return
    from rltrain.models.adapters import save_adapter_final, write_merged_final
    from rltrain.run.distributed import is_launched

    save_adapter_final(trainer, final)
    if not is_launched():
        write_merged_final(recipe, final)


def train_process(recipe: Recipe, resume: str | bool | None = None) -> TrainResult:
    """Train in this process (one rank); returns what happened. Tears distributed state down."""
    from rltrain.run.callbacks import CheckpointMarker, GracefulStop, MetricsLogger
    from rltrain.run.checkpoints import check_adapter_checkpoint, resolve_resume, write_errors

    apply_cpu_deepspeed_shim()
    out = Path(recipe.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = resolve_resume(out, resume)
    if checkpoint is not None:
        check_adapter_checkpoint(checkpoint, adapters=recipe.peft is not None)
    metrics, stop = MetricsLogger(RunLayout(out).metrics), GracefulStop()
    marker = CheckpointMarker(save_total_limit=recipe.trl_options().get("save_total_limit"))
    try:
        trainer = build_trainer(recipe, [metrics, stop, marker])
        if checkpoint:
            logger.info("resuming from %s", checkpoint)
        started = time.monotonic()
        with write_errors(lambda: marker.saving or out):  # a full disk: one message naming the checkpoint
            trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        seconds = time.monotonic() - started
        interrupted = stop.stopped_at is not None
        final = None
        if not interrupted:
            final = RunLayout(out).final
            with write_errors(lambda: final):
                _save_final(recipe, trainer, final)
        rewards = getattr(trainer, "reward_funcs", [])
        result = TrainResult(
            output_dir=str(out),
            global_step=trainer.state.global_step,
            interrupted=interrupted,
            resumed_from=str(checkpoint) if checkpoint else None,
            final_dir=str(final) if final else None,
            train_seconds=round(seconds, 2),
            first_log=metrics.first,
            last_log=metrics.last,
            rewards={r.__name__: r.stats.as_dict() for r in rewards if hasattr(r, "stats")},
            tools=trainer.toolset.ledger.total.as_dict() if getattr(trainer, "toolset", None) else None,
        )
        if trainer.is_local_process_zero():  # one result per node; the head's is train_result.json
            path = train_result_path(out, _node_rank())
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(asdict(result), indent=2))
            tmp.replace(path)
        return result
    finally:
        teardown()

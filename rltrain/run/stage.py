"""One stage end to end: evaluate the starting model, train (in this process or launched on several
ranks), evaluate the result, and write ``summary.json``. With ``eval.retention``, both models are also
evaluated on another recipe's held-out set (e.g. stage two on stage one's math); with
``eval.benchmarks``, on benchmarks (AIME, IFEval, a JSONL file ...) into ``<output_dir>/benchmarks/before``
and ``after``, whose samples a resumed stage reuses.

Multi-process and DeepSpeed stages are run by re-executing ``rltrain train`` under ``accelerate
launch`` on the resolved recipe saved as ``<output_dir>/recipe.yaml``; this process waits, forwards
SIGTERM/SIGUSR1 to the training ranks (not to the launcher, which would kill them before they save),
and reads the ranks' ``train_result.json``. Evaluations run here, on a single process, from weights
on disk, so they never depend on how training was sharded.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from rltrain.errors import RunFailed
from rltrain.evaluation.runner import evaluate_model, retention_recipe
from rltrain.evaluation.stage_benchmarks import evaluate_benchmarks
from rltrain.recipe.schema import Recipe
from rltrain.run.distributed import SINGLE_NODE, NodePlacement
from rltrain.run.layout import RunLayout
from rltrain.run.trainer import EXIT_INTERRUPTED, TrainResult, read_train_result, train_result_path

logger = logging.getLogger(__name__)

WORKER_ENV = "RLTRAIN_WORKER"
"""Set in ranks launched by :func:`launch_training`: they only train."""


def resolved_recipe(recipe: Recipe) -> dict[str, Any]:
    """The recipe as plain data with input paths made absolute, for ``<output_dir>/recipe.yaml``."""
    raw = recipe.model_dump(mode="json", exclude={"base_dir"})
    source = recipe.data.source
    if not source.startswith("synthetic:") and recipe.resolve_input(source).exists():
        raw["data"]["source"] = str(recipe.resolve_input(source).resolve())
    name = recipe.model.name_or_path
    if not recipe.model.is_tiny and recipe.resolve_input(name).exists():
        raw["model"]["name_or_path"] = str(recipe.resolve_input(name).resolve())
    if recipe.model.adapter is not None:
        raw["model"]["adapter"] = str(recipe.resolve_input(recipe.model.adapter).resolve())
    raw["output_dir"] = str(Path(recipe.output_dir).resolve())
    if recipe.eval is not None and recipe.eval.benchmarks:
        from rltrain.evaluation.recipe_benchmarks import benchmark_specs

        raw["eval"]["benchmarks"] = benchmark_specs(recipe)  # JSONL files by absolute path
    return raw


def save_resolved(recipe: Recipe, placement: NodePlacement = SINGLE_NODE) -> Path:
    """Write ``<output_dir>/recipe.yaml``. Every node of a multi-node run writes the same text (the
    placement is not part of it), each through its own temporary file, so the nodes never race."""
    layout = RunLayout.of(recipe.output_dir)
    layout.root.mkdir(parents=True, exist_ok=True)
    path = layout.recipe
    tmp = layout.root / f".{path.name}.{placement.machine_rank}.tmp"
    tmp.write_text(yaml.safe_dump(resolved_recipe(recipe), sort_keys=False))
    tmp.replace(path)
    return path


def launch_training(
    recipe: Recipe, recipe_file: Path, resume: str | bool | None, placement: NodePlacement = SINGLE_NODE
) -> TrainResult:
    """Run this node's ranks under ``accelerate launch`` on ``recipe_file`` and wait; return the result
    its first rank wrote (every node's first rank writes one; the head's is ``train_result.json``)."""
    from rltrain.run.distributed import environment_for_launch, launch_command

    argv = ["train", str(recipe_file)]
    if resume is True:
        argv.append("--resume")
    elif resume:
        argv += ["--resume", str(resume)]
    cmd = launch_command(
        recipe.distributed.mode,
        recipe.distributed.num_processes,
        argv,
        main_process_port=placement.main_process_port or recipe.distributed.main_process_port,
        placement=placement,
    )
    env = {**os.environ, **environment_for_launch(), WORKER_ENV: "1"}
    result_file = train_result_path(Path(recipe.output_dir), placement.machine_rank)
    result_file.unlink(missing_ok=True)
    logger.info("launching: %s", " ".join(cmd))
    proc = subprocess.Popen(cmd, env=env)
    previous = {sig: signal.signal(sig, lambda s, f: _forward(proc.pid, s)) for sig in (signal.SIGTERM, signal.SIGUSR1)}
    try:
        code = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    result = read_train_result(result_file)
    if result is None:
        raise RunFailed(f"training ranks exited with status {code} without a result; the rank's error is above")
    return result


def _forward(launcher_pid: int, signum: int) -> None:
    """Send a stop request to the training ranks: the launcher's children (accelerate runs the
    elastic agent in the launcher process itself), not their own helpers such as verifier workers."""
    import psutil

    try:
        ranks = psutil.Process(launcher_pid).children(recursive=False)
    except psutil.NoSuchProcess:
        return
    for rank in ranks:
        try:
            rank.send_signal(signum)
        except psutil.NoSuchProcess:
            pass


def finished_training(recipe: Recipe, placement: NodePlacement = SINGLE_NODE) -> TrainResult | None:
    """This node's result of a training run that reached its end (final weights written), if any: a
    stage stopped after training (e.g. preempted while evaluating) is not trained again. A run whose
    ``max_steps`` was raised since is not finished: resuming it trains the further steps."""
    result = read_train_result(train_result_path(Path(recipe.output_dir), placement.machine_rank))
    if result is None or result.interrupted or not result.final_dir or not Path(result.final_dir).is_dir():
        return None
    max_steps = recipe.trl_options().get("max_steps", -1)
    if max_steps is not None and max_steps > 0 and result.global_step < max_steps:
        return None
    return result


def train_stage(recipe: Recipe, resume: str | bool | None, placement: NodePlacement = SINGLE_NODE) -> TrainResult:
    """Train (or continue training) on this node. With ``resume``, a run that already reached its end is
    not repeated (a requeued job that was preempted while evaluating goes straight to evaluation)."""
    from rltrain.run.distributed import needs_launcher
    from rltrain.run.trainer import train_process

    done = finished_training(recipe, placement) if resume is True else None
    if done is not None:
        logger.info("training finished earlier (%d steps, %s); not training again", done.global_step, done.final_dir)
        return _with_merged_adapter(recipe, done, placement)
    launched = needs_launcher(recipe.distributed.mode, recipe.distributed.num_processes, placement)
    if launched:  # data errors here, as one recipe error, not once per rank behind the launcher
        from rltrain.data.prompts import load_splits
        from rltrain.models.adapters import start_weights

        load_splits(recipe)
        recipe = start_weights(recipe, placement.machine_rank)  # ranks load base + model.adapter by path
    recipe_file = save_resolved(recipe, placement)
    if launched:
        return _with_merged_adapter(recipe, launch_training(recipe, recipe_file, resume, placement), placement)
    return train_process(recipe, resume)


def _with_merged_adapter(recipe: Recipe, result: TrainResult, placement: NodePlacement) -> TrainResult:
    """With adapters, write the merged weights into ``final/`` once the ranks are gone (the head node
    does, once; a stage stopped before it merges when resumed); ``result`` unchanged."""
    if recipe.peft is not None and result.final_dir and not result.interrupted and placement.is_head:
        from rltrain.models.adapters import write_merged_final

        write_merged_final(recipe, Path(result.final_dir))
    return result


def run_worker_stage(recipe: Recipe, resume: str | bool | None, placement: NodePlacement) -> dict[str, Any]:
    """A non-head node of a multi-node run: train only (the head evaluates and writes ``summary.json``)."""
    result = train_stage(recipe, resume, placement)
    return {"name": recipe.name, "kind": recipe.stage, "completed": not result.interrupted,
            "interrupted": result.interrupted, "steps": result.global_step, "machine_rank": placement.machine_rank}


def run_stage(recipe: Recipe, resume: str | bool | None = None, placement: NodePlacement = SINGLE_NODE) -> dict[str, Any]:
    """Evaluate before, train, evaluate after; return (and write) the stage summary. On a non-head node
    of a multi-node run, only train (see :func:`run_worker_stage`)."""
    if not placement.is_head:
        return run_worker_stage(recipe, resume, placement)
    layout = RunLayout.of(recipe.output_dir)
    layout.root.mkdir(parents=True, exist_ok=True)
    summary_path = layout.summary
    previous = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    recorded = dict(previous)  # what is evaluated before training is written at once: a resumed stage keeps it
    started = time.monotonic()
    held_out, benchmarks = _evaluates_held_out(recipe), bool(recipe.eval and recipe.eval.benchmarks)

    eval_before = previous.get("eval_before")
    if held_out and recipe.eval and recipe.eval.before and eval_before is None:
        logger.info("evaluating the starting model on held-out prompts")
        eval_before = recorded["eval_before"] = evaluate_model(recipe, None, recipe.model.name_or_path)
        _write(summary_path, recorded)

    benchmarks_before = previous.get("benchmarks_before")
    if benchmarks and recipe.eval and recipe.eval.before and benchmarks_before is None:
        logger.info("evaluating the starting model on benchmarks (%s)", ", ".join(recipe.eval.benchmarks))
        benchmarks_before = recorded["benchmarks_before"] = evaluate_benchmarks(recipe, None, layout.benchmarks / "before")
        _write(summary_path, recorded)

    retention = previous.get("retention")
    if recipe.eval and recipe.eval.retention and retention is None:
        logger.info("evaluating the starting model on %s (retention)", recipe.eval.retention.recipe)
        retention = recorded["retention"] = {"recipe": recipe.eval.retention.recipe,
                                             "before": evaluate_model(retention_recipe(recipe), None, recipe.model.name_or_path)}
        _write(summary_path, recorded)

    result = train_stage(recipe, resume, placement)

    eval_after = benchmarks_after = None
    if recipe.eval and not result.interrupted:
        if held_out:
            logger.info("evaluating the trained model on held-out prompts")
            eval_after = evaluate_model(recipe, result.final_dir, result.final_dir or "")
        if benchmarks:
            logger.info("evaluating the trained model on benchmarks (%s)", ", ".join(recipe.eval.benchmarks))
            benchmarks_after = evaluate_benchmarks(recipe, result.final_dir, layout.benchmarks / "after")
        if retention is not None and recipe.eval.retention is not None:  # the resumed recipe may have dropped it
            logger.info("evaluating the trained model on %s (retention)", recipe.eval.retention.recipe)
            retention["after"] = evaluate_model(retention_recipe(recipe), result.final_dir, result.final_dir or "")
    summary = {
        "name": recipe.name,
        "kind": recipe.stage,
        "completed": not result.interrupted,
        "interrupted": result.interrupted,
        "steps": result.global_step,
        "train_seconds": result.train_seconds,
        "wall_seconds": round(time.monotonic() - started + previous.get("wall_seconds", 0.0), 2),
        "first_reward": (result.first_log or {}).get("reward"),
        "last_reward": (result.last_log or {}).get("reward"),
        "first_log": result.first_log,
        "last_log": result.last_log,
        "rewards": result.rewards,
        "resumed_from": result.resumed_from,
        "final_dir": result.final_dir,
        "eval_before": eval_before,
        "eval_after": eval_after,
        "benchmarks_before": benchmarks_before,
        "benchmarks_after": benchmarks_after,
        "retention": retention,
        "distributed": {**recipe.distributed.model_dump(), "num_machines": placement.num_machines},
    }
    _write(summary_path, summary)
    return summary


def _evaluates_held_out(recipe: Recipe) -> bool:
    """Whether the stage samples its held-out rows: it has an eval section, and held-out rows or no
    benchmarks (a stage evaluated on benchmarks only needs no ``data.eval_size``)."""
    if recipe.eval is None:
        return False
    return recipe.data.eval_size > 0 or not recipe.eval.benchmarks


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    tmp.replace(path)


def exit_status(summary: dict[str, Any]) -> int:
    return EXIT_INTERRUPTED if summary.get("interrupted") else 0


"""Command-line pieces for clusters: node placement flags, ``rltrain wait-ready`` and ``rltrain slurm-plan``.

The SLURM scripts in ``slurm/`` keep no logic of their own beyond starting processes: what a recipe or
pipeline needs (its stages, whether a stage wants a vLLM server and for which model) is read here, in
Python, and printed as shell assignments; waiting for servers to come up is done here too.
"""

from __future__ import annotations

import argparse
import shlex
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rltrain.errors import RecipeError
from rltrain.run.distributed import NodePlacement


def add_placement_args(parser: argparse.ArgumentParser) -> None:
    """``--num-machines/--machine-rank/--main-process-ip/--main-process-port/--processes-per-node``."""
    group = parser.add_argument_group("multi-node placement (filled in by slurm/*.slurm)")
    group.add_argument("--num-machines", type=int, default=1, metavar="N", help="nodes training together (default 1)")
    group.add_argument("--machine-rank", type=int, default=0, metavar="R", help="this node's rank, 0 = head (default 0)")
    group.add_argument("--main-process-ip", metavar="HOST", help="the head node's address (multi-node runs)")
    group.add_argument("--main-process-port", type=int, metavar="PORT", help="rendezvous port on the head")
    group.add_argument("--rendezvous-timeout", type=int, default=1800, metavar="S",
                       help="seconds nodes wait for each other at start; the head evaluates first (default 1800)")
    group.add_argument("--processes-per-node", type=int, metavar="P",
                       help="override distributed.num_processes of every stage (e.g. the GPUs SLURM gave the node)")
    group.add_argument("--status-file", metavar="PATH",
                       help="write the exit status here on exit (the batch scripts read the head's: 75 = requeue)")


def placement_from_args(args: argparse.Namespace) -> NodePlacement:
    try:
        return NodePlacement(
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            main_process_ip=args.main_process_ip,
            main_process_port=args.main_process_port,
            rendezvous_timeout=args.rendezvous_timeout,
        )
    except ValueError as exc:
        raise RecipeError(str(exc)) from None


def placement_overrides(args: argparse.Namespace) -> list[str]:
    """Recipe overrides implied by the placement flags."""
    if args.processes_per_node is None:
        return []
    if args.processes_per_node < 1:
        raise RecipeError(f"--processes-per-node must be at least 1, got {args.processes_per_node}")
    return [f"distributed.num_processes={args.processes_per_node}"]


# --- wait-ready ------------------------------------------------------------------------------------


def probe(url: str, timeout: float = 5.0) -> str | None:
    """``None`` when ``GET url`` answers 200, else a short reason (refused, HTTP 503, ...)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return None if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return str(reason)


def _exited(pid: int) -> bool:
    """Whether process ``pid`` is gone or a zombie (exited, not yet reaped by its parent)."""
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_ready(
    urls: list[str], *, timeout: float, interval: float = 2.0, say=print, watch_pids: tuple[int, ...] = ()
) -> list[str]:
    """Poll every URL until each answers 200 or ``timeout`` seconds pass; returns those still not ready.
    Gives up at once when a process of ``watch_pids`` (the servers' launchers) has exited."""
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise RecipeError(f"wait-ready: {url!r} is not an http(s) URL")
    pending = list(urls)
    deadline = time.monotonic() + timeout
    reasons: dict[str, str] = {}
    while pending:
        dead = [pid for pid in watch_pids if _exited(pid)]
        if dead:
            say(f"a server process exited before it was ready (pid {', '.join(map(str, dead))})")
            break
        for url in list(pending):
            reason = probe(url)
            if reason is None:
                pending.remove(url)
                say(f"ready: {url}")
            elif reasons.get(url) != reason:
                reasons[url] = reason
                say(f"waiting for {url} ({reason})")
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
    return pending


def cmd_wait_ready(args: argparse.Namespace) -> int:
    import sys

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    missing = wait_ready(args.urls, timeout=args.timeout, interval=args.interval, say=say,
                         watch_pids=tuple(args.watch_pid))
    if missing:
        say(f"not ready after {args.timeout:g} s: {' '.join(missing)}")
        return 1
    return 0


# --- slurm-plan ------------------------------------------------------------------------------------


def _is_pipeline(raw: dict[str, Any]) -> bool:
    return "stages" in raw


def _stage_plan(recipe) -> dict[str, str]:
    from rltrain.run.pipeline import stage_status

    grpo = recipe.grpo if recipe.stage == "grpo" else {}
    vllm_server = bool(grpo.get("use_vllm")) and grpo.get("vllm_mode", "colocate") == "server"
    return {
        "RLTRAIN_STAGE_KIND": recipe.stage,
        "RLTRAIN_OUTPUT_DIR": str(Path(recipe.output_dir).resolve()),
        "RLTRAIN_VLLM_SERVER": "1" if vllm_server else "0",
        "RLTRAIN_VLLM_MODEL": recipe.model.name_or_path if vllm_server else "",
        "RLTRAIN_VLLM_MAX_MODEL_LEN": str(grpo.get("vllm_max_model_length") or "") if vllm_server else "",
        "RLTRAIN_PROCESSES_PER_NODE": str(recipe.distributed.num_processes),
        "RLTRAIN_STAGE_DONE": "1" if stage_status(recipe) == "done" else "0",
    }


def slurm_plan(
    path: Path, stage: str | None, overrides: list[str], stage_overrides: list[str] | None = None
) -> dict[str, str]:
    """What a SLURM script needs to know about a recipe or a pipeline (one stage of it, with ``stage``).
    ``stage_overrides`` apply to every stage's recipe (those implied by ``--processes-per-node``)."""
    from rltrain.recipe.loading import load_recipe, read_yaml
    from rltrain.run.pipeline import load_pipeline

    raw = read_yaml(path)
    if not _is_pipeline(raw):
        if stage:
            raise RecipeError(f"{path} is a recipe, not a pipeline: --stage does not apply")
        recipe = load_recipe(path, [*overrides, *(stage_overrides or [])])
        return {"RLTRAIN_KIND": "recipe", "RLTRAIN_STAGES": "", **_stage_plan(recipe)}
    pipeline, recipes = load_pipeline(path, overrides, stage_overrides)
    names = [s.name for s in pipeline.stages]
    plan = {"RLTRAIN_KIND": "pipeline", "RLTRAIN_STAGES": " ".join(names)}
    if stage is None:
        return plan
    if stage not in names:
        raise RecipeError(f"--stage {stage!r}: {path} has stages {names}")
    return {**plan, **_stage_plan(recipes[names.index(stage)])}


def cmd_slurm_plan(args: argparse.Namespace) -> int:
    plan = slurm_plan(Path(args.file), args.stage, args.set, placement_overrides(args))
    for key, value in plan.items():
        print(f"{key}={shlex.quote(value)}")
    return 0


def add_cluster_parsers(sub: Any) -> None:
    """Register ``rltrain wait-ready`` and ``rltrain slurm-plan``."""
    p = sub.add_parser(
        "wait-ready", help="wait until servers answer their health URL",
        description="Poll each URL (e.g. http://node:8600/health) until it answers 200; exit 1 if one is not ready in time.",
    )
    p.add_argument("urls", nargs="+", metavar="URL", help="health URL to poll")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds to wait in all (default 900)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between polls (default 2)")
    p.add_argument("--watch-pid", type=int, action="append", default=[], metavar="PID",
                   help="stop waiting (exit 1) as soon as this process exits, e.g. the server's srun; repeatable")
    p.set_defaults(func=cmd_wait_ready)

    p = sub.add_parser(
        "slurm-plan", help="what a SLURM script needs to know about a recipe or pipeline",
        description="Print shell assignments (RLTRAIN_KIND, RLTRAIN_STAGES, RLTRAIN_VLLM_SERVER, ...) for `eval`.",
    )
    p.add_argument("file", metavar="RECIPE_OR_PIPELINE", help="recipe or pipeline YAML file")
    p.add_argument("--stage", help="a pipeline's stage to describe")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="overrides, as for train/pipeline")
    # The scripts pass their RLTRAIN_ARGS to both slurm-plan and train/pipeline, so the placement flags are
    # accepted here too; only --processes-per-node changes the plan.
    add_placement_args(p)
    p.set_defaults(func=cmd_slurm_plan)

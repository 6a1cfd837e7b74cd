"""``rltrain plan``: will a recipe (or each stage of a pipeline) fit its GPUs? A table of memory terms per
training process and phase, the verdict, the largest term and computed advice; ``--json`` writes it all.

Also the one-line verdict ``rltrain train`` prints at launch (:func:`launch_verdict`), which never stops a
launch: a plan that cannot be made (no config.json on this machine) is logged and skipped.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rltrain.cli.console import SET_HELP, console

if TYPE_CHECKING:
    from rltrain.planning.plan import PlanRequest, StagePlan
    from rltrain.recipe.schema import Recipe
    from rltrain.run.distributed import NodePlacement

logger = logging.getLogger(__name__)

EXIT_DOES_NOT_FIT = 1
"""``rltrain plan``'s exit status when a stage does not fit (0 when every stage fits, tight included)."""

_STYLE = {"fits": "bold green", "tight": "bold yellow", "does not fit": "bold red"}


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f}" if n else "-"


def print_plan(plan: StagePlan, out: Any) -> None:
    """The table of one stage's terms by phase, then its verdict, warnings, advice and notes."""
    from rich.table import Table

    from rltrain.planning.memory import PHASES

    m, w = plan.memory, plan.workload
    params = f"{plan.policy.num_params / 1e9:.2f}B params"
    if w.trainable_params is not None:
        params += f", {w.trainable_params / 1e6:.1f}M trained (LoRA)"
    title = (f"{plan.name}: {plan.policy.name} ({params}) on {plan.hardware.describe()}, "
             f"{'zero3_offload' if w.offload else w.zero}, micro-batch {w.micro_batch} x "
             f"({w.prompt_tokens} + {w.completion_tokens}) tokens")
    table = Table(title=title, title_justify="left")
    table.add_column("term")
    for phase in PHASES:
        table.add_column(f"{phase} GiB", justify="right")
    table.add_column("how")
    for term in m.terms:
        table.add_row(term.label, *(_gib(term.bytes) if p in term.phases else "" for p in PHASES), term.formula)
    peak = m.peak_phase
    table.add_row("[bold]total per process[/]",
                  *(f"[bold]{_gib(m.phase_total(p))}[/]" if p == peak else _gib(m.phase_total(p)) for p in PHASES), "",
                  end_section=True)
    out.print(table)
    verdict = plan.verdict
    out.print(f"[{_STYLE[verdict.status]}]{verdict.status.upper()}[/] " + verdict.line().split(": ", 1)[1],
              highlight=False, soft_wrap=True)
    if m.host_bytes_per_node:
        what = "offloaded states" if w.offload else "load-time buffers"
        out.print(f"  host memory per node (DeepSpeed's estimate, {what}): {_gib(m.host_bytes_per_node)} GiB",
                  highlight=False)
    for text in verdict.warnings:
        out.print(f"  [yellow]warning:[/] {text}", highlight=False)
    if verdict.advice:
        out.print("  to change:" if verdict.fits else "  [bold]what would make it fit[/] (each alone):")
        for advice in verdict.advice:
            out.print(f"    - {advice.text()}", highlight=False, markup=False)
    for note in plan.notes:
        out.print(f"  [dim]{note}[/]", highlight=False)


def request_from_args(args: argparse.Namespace) -> PlanRequest:
    from rltrain.planning.plan import PlanRequest
    from rltrain.planning.workload import GIB

    return PlanRequest(
        nodes=args.nodes, gpus_per_node=args.gpus_per_node,
        memory_bytes=int(args.gpu_memory_gib * GIB) if args.gpu_memory_gib else None,
        device=args.device, config=Path(args.config) if args.config else None,
        model_configs=tuple(Path(p) for p in args.model_configs), prompt_tokens=args.prompt_length,
    )


def cmd_plan(args: argparse.Namespace) -> int:
    from rltrain.planning.plan import plan_file, plans_json

    plans = plan_file(args.target, request_from_args(args), args.set)
    out = console()
    for plan in plans:
        print_plan(plan, out)
    if args.json:
        document = json.dumps(plans_json(plans, str(args.target)), indent=2)
        if args.json == "-":
            print(document)
        else:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(document + "\n")
            out.print(f"wrote {args.json}", highlight=False)
    return 0 if all(p.verdict.fits for p in plans) else EXIT_DOES_NOT_FIT


def _gpu_memory_bytes() -> int | None:
    """The first GPU's memory from nvidia-smi: asking torch would create a CUDA context in this launching
    process, which would then hold GPU memory for the whole run."""
    import shutil
    import subprocess

    if shutil.which("nvidia-smi") is None:
        return None
    done = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                          capture_output=True, text=True, timeout=20, check=False)
    first = done.stdout.strip().splitlines()[:1]
    return int(float(first[0]) * 2**20) if done.returncode == 0 and first and first[0].strip() else None


def _launch_hardware(recipe: Recipe, placement: NodePlacement) -> tuple[PlanRequest, str]:
    """This machine's memory per training process: the first GPU's, or host RAM shared by the CPU ranks."""
    import os

    import torch

    from rltrain.planning.plan import PlanRequest

    if torch.cuda.is_available():
        request = PlanRequest(nodes=placement.num_machines, gpus_per_node=recipe.distributed.num_processes,
                              memory_bytes=_gpu_memory_bytes(), device="cuda")
        return request, "cuda"
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // recipe.distributed.num_processes
    request = PlanRequest(nodes=placement.num_machines, gpus_per_node=recipe.distributed.num_processes,
                          memory_bytes=memory, device="cpu")
    return request, "cpu"


def launch_verdict(recipe: Recipe, placement: NodePlacement, recipe_path: str) -> None:
    """Print the plan's one-line verdict before a stage launches, loudly when it does not fit. Uses only a
    config.json already on this machine (never downloads) and never fails the launch."""
    try:
        from rltrain.planning.plan import plan_stage

        request, _ = _launch_hardware(recipe, placement)
        plan = plan_stage(recipe, request, source=recipe_path)
    except Exception as exc:  # noqa: BLE001 - the planner must never stop a launch
        logger.info("memory plan skipped: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return
    verdict, out = plan.verdict, console()
    if verdict.fits:
        out.print(f"memory plan: {verdict.line()} (details: rltrain plan {recipe_path})", highlight=False, markup=False,
                  soft_wrap=True)
        return
    out.rule("[bold red]MEMORY PLAN: DOES NOT FIT[/]", style="red")
    out.print(f"[bold red]{verdict.line()}[/]", highlight=False, soft_wrap=True)
    for advice in verdict.advice:
        out.print(f"  - {advice.text()}", highlight=False, markup=False, soft_wrap=True)
    out.print(f"The run may die with out-of-memory; see: rltrain plan {recipe_path}", highlight=False, markup=False,
              soft_wrap=True)
    out.rule(style="red")


def add_plan_parser(sub: Any) -> None:
    """Register ``rltrain plan``."""
    p = sub.add_parser(
        "plan", help="memory per GPU of a recipe or pipeline: table, verdict, advice (nothing downloaded)",
        description="Estimate the memory each training process needs, term by term (weights, gradients, optimizer "
                    "states under the recipe's ZeRO stage, reference and reward models, activations, logits, vLLM), "
                    "in each phase of a step; say whether it fits, the largest term and what to change. Reads only "
                    "the models' config.json (local directory, Hugging Face cache, --model-configs or --config). "
                    "Exit status 1 when a stage does not fit. docs/planning.md has the formulas.",
    )
    p.add_argument("target", metavar="RECIPE_OR_PIPELINE", help="recipe or pipeline YAML file")
    p.add_argument("--nodes", type=int, default=None, help="training nodes (default 1)")
    p.add_argument("--gpus-per-node", type=int, default=None, help="GPUs per node (default: distributed.num_processes)")
    p.add_argument("--gpu-memory-gib", type=float, default=None, help="memory of one GPU in GiB (default 80)")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                   help="plan for GPUs (default) or CPU ranks (fp32, TRL's torch fallback of the fused head)")
    p.add_argument("--prompt-length", type=int, default=None,
                   help="longest prompt in tokens (default: vLLM's context or the model's positions less the completion)")
    p.add_argument("--config", metavar="PATH", help="the policy's config.json (or its directory)")
    p.add_argument("--model-configs", metavar="DIR", action="append", default=[],
                   help="a directory of <org>__<name>/config.json files (repeatable; also RLTRAIN_MODEL_CONFIGS)")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help=SET_HELP + " (for a pipeline: applied to every stage's recipe)")
    p.add_argument("--json", metavar="OUT", help="write the plan as JSON to OUT ('-': standard output)")
    p.set_defaults(func=cmd_plan)

"""``rltrain train`` and ``rltrain pipeline``: one stage from a recipe, or a pipeline's stages in order.

Both take the multi-node placement flags (:mod:`rltrain.cli.cluster`) and end in exit status 75 when
stopped by SIGTERM/SIGUSR1 (see :func:`rltrain.cli.app.main`).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from rltrain.cli.cluster import add_placement_args, placement_from_args, placement_overrides
from rltrain.cli.console import SET_HELP, console

DRY_RUN_HELP = ("two steps on CPU with a tiny stand-in of the model, a few rows of data, in-process generation and "
                "servers, a checkpoint saved and resumed; PASS/FAIL per stage (output under a temp dir or --set output_dir=DIR)")


def cmd_train(args: argparse.Namespace) -> int:
    if getattr(args, "dry_run", False):
        return _dry_run(args.recipe, args.set, pipeline=False)
    from rltrain.recipe.loading import load_recipe
    from rltrain.run.distributed import is_launched
    from rltrain.run.stage import WORKER_ENV, exit_status, run_stage

    placement = placement_from_args(args)
    # Ranks started by the launcher read the resolved recipe without placement flags: the node count is
    # unknown there, and the parent has checked what depends on it.
    machines = None if is_launched() else placement.num_machines
    recipe = load_recipe(args.recipe, [*args.set, *placement_overrides(args)], num_machines=machines)
    if is_launched():
        from rltrain.run.trainer import EXIT_INTERRUPTED, train_process

        result = train_process(recipe, args.resume)
        # Ranks started by our own launcher exit 0 on a clean stop; the parent reports it.
        interrupted = result.interrupted and os.environ.get(WORKER_ENV) != "1"
        return EXIT_INTERRUPTED if interrupted else 0
    if placement.is_head:
        from rltrain.cli.plan import launch_verdict

        launch_verdict(recipe, placement, args.recipe)
    summary = run_stage(recipe, args.resume, placement)
    if not placement.is_head:
        return 0  # a stop is reported by the head (75); a non-zero status here would end the step early
    from rltrain.reporting.table import print_table

    print_table([{**summary, "stage": recipe.name}], console=console(), title=f"{recipe.name}: before/after")
    if summary["interrupted"]:
        console().print(f"stopped at step {summary['steps']}; continue with: rltrain train {args.recipe} --resume")
    return exit_status(summary)


def _dry_run(path: str, overrides: list[str], *, pipeline: bool) -> int:
    """``--dry-run``: the recipe (or every pipeline stage) for two steps on CPU with stand-ins (rltrain.run.dry_run)."""
    from rltrain.run.dry_run import dry_run_pipeline, dry_run_recipe, print_report

    report = (dry_run_pipeline if pipeline else dry_run_recipe)(path, overrides)
    print_report(report, console())
    return 0 if report.passed else 1


def cmd_pipeline(args: argparse.Namespace) -> int:
    if getattr(args, "dry_run", False):
        return _dry_run(args.pipeline, args.set, pipeline=True)
    from rltrain.cli.plan import launch_verdict
    from rltrain.run.pipeline import run_pipeline
    from rltrain.run.stage import exit_status

    placement = placement_from_args(args)
    summaries = run_pipeline(args.pipeline, args.set, console=console(), placement=placement,
                             only=args.only, stage_overrides_all=placement_overrides(args),
                             before_stage=lambda recipe: launch_verdict(recipe, placement, args.pipeline))
    if not placement.is_head:
        return 0  # a stop is reported by the head (75); a non-zero status here would end the step early
    return exit_status(summaries[-1]) if summaries else 0


def add_train_parsers(sub: Any) -> None:
    """Register ``rltrain train`` and ``rltrain pipeline``."""
    p = sub.add_parser("train", help="train one stage from a recipe", description="Train one stage (GRPO or SFT) from a recipe.")
    p.add_argument("recipe", help="recipe YAML file")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help=SET_HELP)
    p.add_argument(
        "--resume", nargs="?", const=True, default=None, metavar="CKPT",
        help="continue from CKPT, or (bare) from the newest complete checkpoint in output_dir if any",
    )
    p.add_argument("--dry-run", action="store_true", help=DRY_RUN_HELP)
    add_placement_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("pipeline", help="run stages in order", 
                       description="Run a pipeline's stages in order; a re-run skips finished stages and resumes an "
                                   "interrupted one.")
    p.add_argument("pipeline", help="pipeline YAML file")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help=SET_HELP + " (pipeline fields, e.g. output_dir=DIR)")
    p.add_argument("--only", metavar="STAGE", help="run just this stage (the stages before it must have finished)")
    p.add_argument("--dry-run", action="store_true", help=DRY_RUN_HELP)
    add_placement_args(p)
    p.set_defaults(func=cmd_pipeline)

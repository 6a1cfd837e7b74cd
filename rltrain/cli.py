"""The ``rltrain`` command line: train, pipeline, eval, init-tiny, rewards, verify, rm, sandbox, report, rollout,
wait-ready, slurm-plan.

Exit status: 0 success; 2 invalid recipe or arguments (reported before any model is loaded);
75 stopped by SIGTERM/SIGUSR1 after saving a checkpoint (run again with ``--resume``); 1 other errors.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from rltrain.cli_cluster import add_cluster_parsers, add_placement_args, placement_from_args, placement_overrides
from rltrain.cli_rm import add_rm_parser
from rltrain.cli_report import add_report_parser
from rltrain.cli_rollout import add_rollout_parser
from rltrain.cli_sandbox import add_sandbox_parser
from rltrain.cli_verify import add_verify_math, add_verify_rules
from rltrain.errors import RecipeError

EXIT_RECIPE = 2


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _setup_logging() -> None:
    from rich.logging import RichHandler

    logging.basicConfig(level=logging.WARNING, format="%(message)s", handlers=[RichHandler(console=_console(), show_path=False)])
    logging.getLogger("rltrain").setLevel(logging.INFO)
    logging.getLogger("verifiers").setLevel(logging.INFO)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def cmd_train(args: argparse.Namespace) -> int:
    from rltrain.config import load_recipe
    from rltrain.distributed import is_launched
    from rltrain.stage import WORKER_ENV, exit_status, run_stage

    placement = placement_from_args(args)
    # Ranks started by the launcher read the resolved recipe without placement flags: the node count is
    # unknown there, and the parent has checked what depends on it.
    machines = None if is_launched() else placement.num_machines
    recipe = load_recipe(args.recipe, [*args.set, *placement_overrides(args)], num_machines=machines)
    if is_launched():
        from rltrain.trainer import EXIT_INTERRUPTED, train_process

        result = train_process(recipe, args.resume)
        # Ranks started by our own launcher exit 0 on a clean stop; the parent reports it.
        interrupted = result.interrupted and os.environ.get(WORKER_ENV) != "1"
        return EXIT_INTERRUPTED if interrupted else 0
    summary = run_stage(recipe, args.resume, placement)
    if not placement.is_head:
        return 0  # a stop is reported by the head (75); a non-zero status here would end the step early
    from rltrain.report import print_table

    print_table([{**summary, "stage": recipe.name}], console=_console(), title=f"{recipe.name}: before/after")
    if summary["interrupted"]:
        _console().print(f"stopped at step {summary['steps']}; continue with: rltrain train {args.recipe} --resume")
    return exit_status(summary)


def cmd_pipeline(args: argparse.Namespace) -> int:
    from rltrain.pipeline import run_pipeline
    from rltrain.stage import exit_status

    placement = placement_from_args(args)
    summaries = run_pipeline(args.pipeline, args.set, console=_console(), placement=placement,
                             only=args.only, stage_overrides_all=placement_overrides(args))
    if not placement.is_head:
        return 0  # a stop is reported by the head (75); a non-zero status here would end the step early
    return exit_status(summaries[-1]) if summaries else 0


def cmd_init_tiny(args: argparse.Namespace) -> int:
    from rltrain.config import TinyModelConfig
    from rltrain.tiny import write_tiny

    shape = TinyModelConfig(
        hidden_size=args.hidden_size, num_hidden_layers=args.layers, seed=args.seed,
        intermediate_size=2 * args.hidden_size,
    )
    out = write_tiny(args.out_dir, shape)
    print(f"wrote a tiny Qwen2 model and tokenizer to {out}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rltrain.config import load_recipe
    from rltrain.report import print_table
    from rltrain.stage import evaluate_model

    overrides = list(args.set)
    for key, value in (("eval.num_samples", args.num_samples), ("eval.num_prompts", args.num_prompts)):
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.greedy:
        overrides.append("eval.greedy=true")
    target = Path(args.target)
    if target.is_dir():  # `rltrain eval MODEL_DIR --recipe R.yaml`
        if not args.recipe:
            raise RecipeError(f"{target} is a model directory: also pass --recipe R.yaml for data, rewards and eval settings")
        if args.model:
            raise RecipeError("give the model either as the first argument or with --model, not both")
        recipe_path, model = args.recipe, str(target)
    else:
        recipe_path, model = args.target, args.model
    recipe = load_recipe(recipe_path, overrides)
    result = evaluate_model(recipe, str(Path(model).resolve()) if model else None, model or recipe.model.name_or_path)
    output = Path(args.output) if args.output else Path(recipe.output_dir) / "eval.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2))
    print_table([{"stage": recipe.name, "kind": "eval", "eval_after": result}], console=_console(), title="held-out evaluation")
    print(json.dumps({k: v for k, v in result.items() if k != "examples"}, indent=2))
    return 0


def cmd_rewards(args: argparse.Namespace) -> int:
    import verifiers

    for name in verifiers.available_rewards():
        print(f"{name:24s} {verifiers.get_reward(name).description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rltrain", description="Outcome-reward RL (GRPO) training from YAML recipes.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    set_help = "override a recipe field, e.g. --set grpo.max_steps=10 (value parsed as YAML); repeatable"

    p = sub.add_parser("train", help="train one stage from a recipe", description="Train one stage (GRPO or SFT) from a recipe.")
    p.add_argument("recipe", help="recipe YAML file")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help=set_help)
    p.add_argument(
        "--resume", nargs="?", const=True, default=None, metavar="CKPT",
        help="continue from CKPT, or (bare) from the newest complete checkpoint in output_dir if any",
    )
    add_placement_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("pipeline", help="run stages in order", description="Run a pipeline's stages in order; a re-run skips finished stages and resumes an interrupted one.")
    p.add_argument("pipeline", help="pipeline YAML file")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help=set_help + " (pipeline fields, e.g. output_dir=DIR)")
    p.add_argument("--only", metavar="STAGE", help="run just this stage (the stages before it must have finished)")
    add_placement_args(p)
    p.set_defaults(func=cmd_pipeline)

    p = sub.add_parser("eval", help="held-out accuracy with a recipe's rewards", description="Sample completions for held-out prompts and score them with the recipe's rewards; prints and writes JSON.")
    p.add_argument("target", metavar="RECIPE_OR_MODEL", help="recipe YAML file, or a model directory (then pass --recipe)")
    p.add_argument("--recipe", help="recipe giving data, rewards and eval settings when RECIPE_OR_MODEL is a model")
    p.add_argument("--model", help="model directory to evaluate instead of the recipe's model")
    p.add_argument("--num-samples", type=int, help="completions per prompt (eval.num_samples)")
    p.add_argument("--num-prompts", type=int, help="held-out prompts (eval.num_prompts)")
    p.add_argument("--greedy", action="store_true", help="greedy decoding, one completion per prompt")
    p.add_argument("--output", help="JSON file to write (default: <output_dir>/eval.json)")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help=set_help)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("init-tiny", help="write a tiny Qwen2 model and tokenizer (no download)", description="Write a tiny randomly initialised Qwen2-architecture model and a local byte-level tokenizer with a chat template.")
    p.add_argument("out_dir", help="directory to write")
    p.add_argument("--hidden-size", type=int, default=128, help="hidden size (default 128)")
    p.add_argument("--layers", type=int, default=4, help="transformer blocks (default 4)")
    p.add_argument("--seed", type=int, default=0, help="initialisation seed")
    p.set_defaults(func=cmd_init_tiny)

    p = sub.add_parser("rewards", help="list registered reward functions", description="List the reward functions recipes can name.")
    p.set_defaults(func=cmd_rewards)

    p = sub.add_parser("verify", help="run a verifier on given completions", description="Run a verifier outside training: one case from flags, or many from a JSONL file.")
    verify_sub = p.add_subparsers(dest="verifier", required=True, metavar="VERIFIER")
    add_verify_math(verify_sub)
    add_verify_rules(verify_sub)
    add_rm_parser(sub)
    add_sandbox_parser(sub)
    add_report_parser(sub)
    add_rollout_parser(sub)
    add_cluster_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging()
    code = 1
    try:
        code = _stoppable(args) if args.command in ("train", "pipeline") else args.func(args)
    except RecipeError as exc:
        console = _console()
        console.print("[bold red]error:[/] ", end="")
        console.print(str(exc), markup=False, highlight=False, soft_wrap=True)
        code = exc.exit_status  # 2 (EXIT_RECIPE), or 1 for a run that failed (RunFailed: a full disk…)
    finally:
        if getattr(args, "status_file", None):  # srun reports one status for all nodes; this is this node's
            Path(args.status_file).write_text(f"{code}\n")
    return code


class StopRequested(BaseException):
    """SIGTERM/SIGUSR1 arrived while no training step was running (e.g. during evaluation). A
    ``BaseException``, like ``KeyboardInterrupt``, so that no ``except Exception`` swallows it."""


def _stoppable(args: argparse.Namespace) -> int:
    """Run train/pipeline so that SIGTERM/SIGUSR1 always ends in exit status 75 (resumable).

    While ranks train, the stage forwards these signals to them and they save a checkpoint; outside
    training (model loading, evaluation) there is nothing new to save, so the command stops at once.
    Ranks started by a launcher keep the trainer's own handling.
    """
    import signal
    import threading

    from rltrain.distributed import is_launched
    from rltrain.trainer import EXIT_INTERRUPTED

    if is_launched() or threading.current_thread() is not threading.main_thread():
        return args.func(args)

    def stop(signum, frame):
        raise StopRequested(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGUSR1)}
    try:
        return args.func(args)
    except StopRequested as exc:
        _console().print(f"stopped by {exc} outside a training step; nothing new to save. Continue with --resume "
                         "(a pipeline resumes by itself).", markup=False, highlight=False)
        return EXIT_INTERRUPTED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())

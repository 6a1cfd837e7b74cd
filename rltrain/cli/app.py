"""The ``rltrain`` command line: the parser, and ``main``, which maps errors and stop signals to exit
statuses. Each command group lives in its own module of :mod:`rltrain.cli`: train, pipeline (``train``),
eval (``eval``), init-tiny (``models``), plan (``plan``), rewards and verify (``verify``), rm serve (``rm``), sandbox
serve|self-test (``sandbox``), report (``report``), rollout (``rollout``), wait-ready and slurm-plan
(``cluster``).

Exit status: 0 success; 2 invalid recipe or arguments (reported before any model is loaded);
75 stopped by SIGTERM/SIGUSR1 after saving a checkpoint (run again with ``--resume``); 1 other errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rltrain.cli.cluster import add_cluster_parsers
from rltrain.cli.console import console, setup_logging
from rltrain.cli.eval import add_eval_parser
from rltrain.cli.models import add_models_parser
from rltrain.cli.plan import add_plan_parser
from rltrain.cli.report import add_report_parser
from rltrain.cli.rm import add_rm_parser
from rltrain.cli.rollout import add_rollout_parser
from rltrain.cli.sandbox import add_sandbox_parser
from rltrain.cli.train import add_train_parsers
from rltrain.cli.verify import add_verify_parsers
from rltrain.errors import RecipeError

EXIT_RECIPE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rltrain", description="Outcome-reward RL (GRPO) training from YAML recipes.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_train_parsers(sub)
    add_eval_parser(sub)
    add_models_parser(sub)
    add_plan_parser(sub)
    add_verify_parsers(sub)
    add_rm_parser(sub)
    add_sandbox_parser(sub)
    add_report_parser(sub)
    add_rollout_parser(sub)
    add_cluster_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    code = 1
    try:
        code = _stoppable(args) if args.command in STOP_HINTS else args.func(args)
    except RecipeError as exc:
        err = console()
        err.print("[bold red]error:[/] ", end="")
        err.print(str(exc), markup=False, highlight=False, soft_wrap=True)
        code = exc.exit_status  # 2 (EXIT_RECIPE), or 1 for a run that failed (RunFailed: a full disk…)
    finally:
        if getattr(args, "status_file", None):  # srun reports one status for all nodes; this is this node's
            Path(args.status_file).write_text(f"{code}\n")
    return code


STOP_HINTS = {
    "train": "outside a training step; nothing new to save. Continue with --resume (a pipeline resumes by itself).",
    "pipeline": "outside a training step; nothing new to save. Continue with --resume (a pipeline resumes by itself).",
    "eval": "during the evaluation; the samples written so far are kept: run the same command again to continue.",
}
"""The commands that end in exit status 75 on SIGTERM/SIGUSR1, and what to tell the user then."""


class StopRequested(BaseException):
    """SIGTERM/SIGUSR1 arrived while no training step was running (e.g. during evaluation). A
    ``BaseException``, like ``KeyboardInterrupt``, so that no ``except Exception`` swallows it."""


def _stoppable(args: argparse.Namespace) -> int:
    """Run train/pipeline/eval so that SIGTERM/SIGUSR1 always ends in exit status 75 (resumable).

    While ranks train, the stage forwards these signals to them and they save a checkpoint; outside
    training (model loading, evaluation) there is nothing new to save, so the command stops at once.
    Ranks started by a launcher keep the trainer's own handling.
    """
    import signal
    import threading

    from rltrain.run.distributed import is_launched
    from rltrain.run.trainer import EXIT_INTERRUPTED

    if is_launched() or threading.current_thread() is not threading.main_thread():
        return args.func(args)

    def stop(signum, frame):
        raise StopRequested(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGUSR1)}
    try:
        return args.func(args)
    except StopRequested as exc:
        console().print(f"stopped by {exc} {STOP_HINTS[args.command]}", markup=False, highlight=False)
        return EXIT_INTERRUPTED
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())

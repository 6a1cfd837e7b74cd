"""``rltrain report``: plots and a Markdown/HTML summary of a stage or pipeline output directory, or of an
evaluation directory of ``rltrain eval`` (then its per-benchmark table is printed too)."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_report(args: argparse.Namespace) -> int:
    """Write the report and print the paths written, one per line (an evaluation's table first, on the
    console)."""
    from rltrain.reporting.load import is_evaluation_dir, load_evaluation
    from rltrain.reporting.run_report import write_report

    if is_evaluation_dir(args.output_dir):
        from rltrain.cli.console import console
        from rltrain.reporting.table import print_results_table

        print_results_table(load_evaluation(args.output_dir), console=console())
    files = write_report(args.output_dir, args.out)
    for path in files.paths():
        print(path)
    return 0


def add_report_parser(sub: Any) -> None:
    """Register ``rltrain report``."""
    p = sub.add_parser(
        "report", help="plots and a Markdown/HTML summary of a finished or interrupted run, or of an evaluation",
        description="Read metrics.jsonl and summary.json of a stage output_dir (or every stage of a pipeline "
                    "output_dir, from pipeline_summary.json) and write PNG plots, report.md and a "
                    "self-contained report.html. Given an evaluation directory (results.json, written by "
                    "rltrain eval or a stage's eval.benchmarks), print its per-benchmark table and write the "
                    "same files for it.",
    )
    p.add_argument("output_dir", metavar="OUTPUT_DIR",
                   help="a stage's or a pipeline's output_dir, or an evaluation directory")
    p.add_argument("--out", metavar="DIR", help="directory to write (default: OUTPUT_DIR/report)")
    p.set_defaults(func=cmd_report)

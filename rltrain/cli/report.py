"""``rltrain report``: plots and a Markdown/HTML summary of a stage or pipeline output directory."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_report(args: argparse.Namespace) -> int:
    """Write the report and print the paths written, one per line."""
    from rltrain.reporting.run_report import write_report

    files = write_report(args.output_dir, args.out)
    for path in files.paths():
        print(path)
    return 0


def add_report_parser(sub: Any) -> None:
    """Register ``rltrain report``."""
    p = sub.add_parser(
        "report", help="plots and a Markdown/HTML summary of a finished or interrupted run",
        description="Read metrics.jsonl and summary.json of a stage output_dir (or every stage of a pipeline "
                    "output_dir, from pipeline_summary.json) and write PNG plots, report.md and a "
                    "self-contained report.html.",
    )
    p.add_argument("output_dir", metavar="OUTPUT_DIR", help="a stage's or a pipeline's output_dir")
    p.add_argument("--out", metavar="DIR", help="directory to write (default: OUTPUT_DIR/report)")
    p.set_defaults(func=cmd_report)

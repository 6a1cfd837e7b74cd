"""What a run shows people: the before/after ``table`` printed after each stage (held-out evaluations,
retention and ``eval.benchmarks`` rows), and the run report (``rltrain report``: ``load`` reads a run
folder or an evaluation directory, ``plots`` draws PNGs, ``render`` writes Markdown and HTML,
``run_report`` ties them together). ``formatting`` is how both write their numbers."""

from rltrain.reporting.run_report import ReportFiles, write_evaluation_report, write_report
from rltrain.reporting.table import print_results_table, print_table

__all__ = ["ReportFiles", "print_results_table", "print_table", "write_evaluation_report", "write_report"]

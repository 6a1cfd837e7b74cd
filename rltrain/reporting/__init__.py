"""What a run shows people: the before/after ``table`` printed after each stage, and the run report
(``rltrain report``: ``load`` reads a run folder, ``plots`` draws PNGs, ``render`` writes Markdown and
HTML, ``run_report`` ties them together). ``formatting`` is how both write their numbers."""

from rltrain.reporting.run_report import ReportFiles, write_report
from rltrain.reporting.table import print_table

__all__ = ["ReportFiles", "print_table", "write_report"]

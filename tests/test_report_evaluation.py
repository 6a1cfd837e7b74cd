"""``rltrain report EVAL_DIR``: an evaluation directory's per-benchmark table printed, and its report
(``report.md``, ``report.html``, ``benchmarks.png``) written with the rows of its ``results.md``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from rltrain.cli import EXIT_RECIPE, main
from rltrain.evaluation.benchmarks.base import DataCache
from rltrain.evaluation.results import RESULTS_MD, read_results
from rltrain.evaluation.settings import SamplingSettings
from rltrain.evaluation.suite import plan, run_suite
from rltrain.reporting.table import print_results_table
from tests.eval_helpers import FakeBackend, ToyBenchmark

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def evaluation(tmp_path: Path) -> Path:
    """An evaluation directory of the toy benchmark (six items, four samples each, grouped by parity)."""
    out = tmp_path / "eval"
    run_suite("toy-model", FakeBackend(), SamplingSettings(max_tokens=8), plan([ToyBenchmark()], DataCache(tmp_path)), out)
    return out


def test_report_of_an_evaluation_directory(evaluation, capsys):
    assert main(["report", str(evaluation)]) == 0
    captured = capsys.readouterr()
    written = [Path(line) for line in captured.out.split()]
    report = evaluation / "report"
    assert written == [report / "report.md", report / "report.html", report / "benchmarks.png"]
    assert (report / "benchmarks.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "toy-model (fake)" in captured.err and "toy [parity=even]" in captured.err

    markdown = (report / "report.md").read_text()
    results_md = (evaluation / RESULTS_MD).read_text()
    header = "| benchmark | items | n | avg@n ± SE (%) | pass@n (%) | maj@n (%) | truncated (%) | length |"
    assert header in results_md and header in markdown
    rows = [line for line in results_md.splitlines() if line.startswith("| toy")]
    assert len(rows) == 3  # the benchmark and its two parity groups
    for row in rows:  # the same cells as results.md
        assert row.replace("\\|", "|") in markdown.replace("\\|", "|")
    assert "Model `toy-model`, backend `fake` (`fake-1`)" in markdown and "### toy" in markdown
    assert "pass@k: pass@1 " in markdown and "extra: `zeros`" in markdown
    page = (report / "report.html").read_text()
    assert "<td class=\"l\">toy [parity=odd]</td>" in page and "data:image/png;base64," in page


def test_the_table_is_the_results_table(evaluation):
    text = io.StringIO()
    print_results_table(read_results(evaluation), console=Console(file=text, width=200))
    table = text.getvalue()
    for header in ("benchmark", "avg@n ± SE (%)", "pass@n (%)", "maj@n (%)", "truncated (%)"):
        assert header in table
    assert "toy [parity=odd]" in table


def test_an_unreadable_results_file_is_one_error(tmp_path, capsys):
    (tmp_path / "results.json").write_text("{not json")
    assert main(["report", str(tmp_path)]) == EXIT_RECIPE
    assert "results.json: not a results file of rltrain eval" in capsys.readouterr().err


def test_report_to_another_directory(evaluation, tmp_path, capsys):
    assert main(["report", str(evaluation), "--out", str(tmp_path / "elsewhere")]) == 0
    assert (tmp_path / "elsewhere" / "report.md").is_file()
    assert json.loads((evaluation / "results.json").read_text())["model"] == "toy-model"

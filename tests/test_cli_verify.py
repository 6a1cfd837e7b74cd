"""``rltrain verify math``: one case from flags, a JSONL file, labelled accuracy, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import get_args

import pytest

from rltrain.cli import EXIT_RECIPE, main
from rltrain.cli.verify import LIST_CHOICES, PERCENT_CHOICES
from verifiers.math import ListOrder, PercentPolicy


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["verify", "math", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "--gold" in out and "--file" in out and "--percent" in out


def test_choices_match_the_policy_types() -> None:
    assert PERCENT_CHOICES == get_args(PercentPolicy)
    assert LIST_CHOICES == get_args(ListOrder)


def test_one_case_prints_the_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "math", "--gold", r"\frac{1}{2}", "--completion", r"so the answer is \boxed{0.5}"]) == 0
    assert _lines(capsys.readouterr().out) == [{"correct": True, "extracted": "0.5", "reason": "equivalent"}]
    assert main(["verify", "math", "--gold", "3", "--completion", r"\boxed{4}"]) == 1
    assert _lines(capsys.readouterr().out) == [{"correct": False, "extracted": "4", "reason": "not equal"}]


def test_policy_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "math", "--gold", r"50\%", "--completion", r"\boxed{0.5}", "--percent", "number"]) == 1
    assert _lines(capsys.readouterr().out)[0]["reason"] == "not equal"
    assert main(["verify", "math", "--gold", "2, 3", "--completion", r"\boxed{3, 2}", "--lists", "ordered"]) == 1
    capsys.readouterr()
    assert main(["verify", "math", "--gold", "12", "--completion", "Answer: 12", "--require-boxed"]) == 1
    assert _lines(capsys.readouterr().out)[0]["reason"] == "no answer found"


def test_file_writes_one_verdict_per_line_in_order(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        {"gold": "2", "completion": r"\boxed{2}"},
        {"gold": r"\sqrt{8}", "completion": r"</think>\boxed{2\sqrt{2}}"},
        {"gold": "5", "completion": "no idea"},
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert main(["verify", "math", "--file", str(path), "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert [v["reason"] for v in _lines(captured.out)] == ["equivalent", "equivalent", "no answer found"]
    assert "accuracy" not in captured.err  # no labels, no report


def test_file_with_labels_reports_accuracy_and_disagreements(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        {"gold": "2", "completion": r"\boxed{2}", "expected": True},
        {"gold": "3", "completion": r"\boxed{4}", "expected": True},  # a disagreement
        {"gold": "(0,1]", "completion": r"\boxed{[0,1)}", "expected": False},
    ]
    path = tmp_path / "labelled.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    assert main(["verify", "math", "--file", str(path)]) == 1
    captured = capsys.readouterr()
    assert len(_lines(captured.out)) == 3
    assert "accuracy: 2/3" in captured.err
    assert "line 2: expected true, got not equal" in captured.err and "'3'" in captured.err


def test_malformed_input_names_the_line(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"gold": "1", "completion": "1"}\n{"gold": "1"}\n')
    assert main(["verify", "math", "--file", str(path)]) == EXIT_RECIPE
    assert f"{path}:2" in capsys.readouterr().err
    path.write_text("not json\n")
    assert main(["verify", "math", "--file", str(path)]) == EXIT_RECIPE
    assert "not JSON" in capsys.readouterr().err
    assert main(["verify", "math", "--completion", "x"]) == EXIT_RECIPE
    assert "--gold" in capsys.readouterr().err


def test_stdin_through_the_installed_command(tmp_path) -> None:
    rows = "\n".join(json.dumps(r) for r in [{"gold": "x = 3", "completion": r"\boxed{3}"}, {"gold": "1", "completion": "2"}])
    done = subprocess.run(
        [sys.executable, "-m", "rltrain", "verify", "math", "--file", "-"],
        input=rows, capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [v["correct"] for v in _lines(done.stdout)] == [True, False]


def test_lone_surrogates_in_the_file_are_printed_escaped(tmp_path) -> None:
    """JSON input may spell lone surrogates (\\ud800), which UTF-8 cannot encode; the verdicts still print,
    as JSON whose escapes read back to the same text."""
    lines = [
        '{"gold": "1", "completion": "\\ud800 so \\\\boxed{1}"}',
        '{"gold": "\\udc80", "completion": "\\\\boxed{\\ud800} caf\\u00e9", "expected": true}',
    ]
    path = tmp_path / "surrogates.jsonl"
    path.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "rltrain", "verify", "math", "--file", str(path), "--workers", "1"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
    )
    assert done.returncode == 1, done.stderr  # the labelled line disagrees
    assert "Traceback" not in done.stderr
    verdicts = _lines(done.stdout)
    assert verdicts[0]["reason"] == "equivalent"
    assert verdicts[1]["correct"] is False and verdicts[1]["extracted"] == "\ud800"
    assert "disagreement on line 2" in done.stderr

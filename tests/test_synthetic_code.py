"""The synthetic program-writing task and its mixing into other tasks."""

from __future__ import annotations

import json
import re

import pytest

from rltrain.data.synthetic import generate
from rltrain.data.synthetic.code import PROGRAMS, programs, with_programs
from tests.sandbox_guard import sandbox_available  # noqa: F401 - fixture


def test_programs_rows_have_tests_and_a_short_solution():
    rows = programs(size=20, seed=1, tests=3)
    assert len(rows) == 20
    for row in rows:
        cases = json.loads(row["tests"])
        assert len(cases) == 3 and all(set(c) == {"input", "output"} for c in cases)
        reasoning, answer = row["solution"].split("</think>\n")
        assert reasoning and answer.startswith("```py\n") and len(row["solution"]) <= 62  # + EOS within 64 tokens


def test_reasoning_works_the_example_out_like_the_arithmetic_targets():
    for row in programs(size=40, seed=2, tests=1):
        x, y = row["problem"].rsplit("Example: ", 1)[1].split()
        reasoning = row["solution"].split("</think>")[0]
        assert re.fullmatch(rf"{x}[-+*,]{y}(=|->)-?\d+", reasoning), row  # starts by copying the question's number


def test_reference_programs_pass_their_tests_in_the_sandbox(sandbox_available):  # noqa: F811
    from sandbox import judge

    for row in programs(size=8, seed=3, tests=2, mistake_rate=0.0):
        code = row["solution"].split("```py\n")[1].removesuffix("\n```")
        assert judge(code, "python", json.loads(row["tests"])).all_passed, row


def test_mistakes_swap_in_another_kinds_program():
    clean = programs(size=200, seed=0, mistake_rate=0.0)
    noisy = programs(size=200, seed=0, mistake_rate=0.5)
    assert [r["tests"] for r in clean] == [r["tests"] for r in noisy]  # same problems
    wrong = sum(a["solution"] != b["solution"] for a, b in zip(clean, noisy, strict=False))
    assert 60 < wrong < 140
    assert all(any(p[2] in r["solution"] for p in PROGRAMS.values()) for r in noisy)


def test_mixing_keeps_the_held_out_rows_and_fills_columns():
    params = {"size": 300, "max_a": 99, "max_b": 9, "seed": 0}
    plain = generate("arithmetic", params, held_out=50)
    mixed = generate("arithmetic", {**params, "code_share": 0.25, "code": {"tests": 2}}, held_out=50)
    assert [r["problem"] for r in mixed[-50:]] == [r["problem"] for r in plain[-50:]]
    code_rows = [r for r in mixed if r["tests"] is not None]
    assert len(code_rows) == round(250 * 0.25 / 0.75) and all(r["answer"] is None for r in code_rows)
    assert [r["problem"] for r in mixed if r["tests"] is None] == [r["problem"] for r in plain]
    assert set(mixed[0]) == set(mixed[-1])


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="code_share"):
        with_programs([{"a": 1}], share=1.0, seed=0)
    with pytest.raises(ValueError, match="kinds"):
        programs(size=1, kinds="sum,division")

"""Judging rules: whole-output comparison, call tests compared outside, limits validation, code extraction."""

from __future__ import annotations

import pytest

from sandbox import Judge, Limits, Sandbox, SandboxError, parse_tests
from sandbox.judge import encode_value, outputs_match, values_match
from tests.sandbox_guard import sandbox_available  # noqa: F401 - fixture
from verifiers.code import extract_code

# -- pure rules (no sandbox) ---------------------------------------------------------------------------

@pytest.mark.parametrize(("got", "want", "ok"), [
    ("3\n", "3", True),
    ("3  \r\n\n\n", "3\n", True),
    ("1\n2\n", "1\n2", True),
    ("1\n", "1\n2", False),            # a prefix of the expected output is not a pass
    ("1\n2\n3\n", "1\n2", False),       # nor is extra output
    ("1 2", "1  2", False),            # inner spacing is significant
    ("", "", True),
])
def test_outputs_match_exactly_after_normalisation(got, want, ok):
    assert outputs_match(got, want) is ok


def test_float_tolerance_is_per_token():
    assert outputs_match("0.3333333\n", "0.333333333", float_tolerance=1e-6)
    assert not outputs_match("0.3334\n", "0.333333333", float_tolerance=1e-6)
    assert not outputs_match("0.3333333 x\n", "0.333333333 y", float_tolerance=1e-6)


def test_values_match_is_strict_about_types():
    assert values_match(encode_value((1, 2)), encode_value([1, 2]))
    assert not values_match(encode_value(True), encode_value(1))
    assert values_match(encode_value({3, 1}), encode_value({1, 3}))
    assert values_match(encode_value({"a": 1}), encode_value({"a": 1}))
    assert not values_match(encode_value({"a": 1}), encode_value({"a": 2}))
    assert values_match(encode_value(0.1 + 0.2), encode_value(0.3), float_tolerance=1e-9)
    assert not values_match(encode_value(0.1 + 0.2), encode_value(0.3))
    assert values_match(encode_value(2**80), encode_value(2**80))


def test_parse_tests_accepts_every_shape_and_names_bad_entries():
    tests = parse_tests([{"input": "1", "output": "2"}, {"call": "f(1)", "expected": [1]}, "assert f(2) == 3",
                         "assert is_ok(2)"])
    assert [t.is_call for t in tests] == [False, True, True, True]
    assert (tests[2].expr, tests[2].expected, tests[2].truthy) == ("f(2)", 3, False)
    assert (tests[3].expr, tests[3].truthy) == ("is_ok(2)", True)
    with pytest.raises(SandboxError, match=r"tests\[1\]"):
        parse_tests([{"input": "1", "output": "2"}, {"stdin": "x"}])
    with pytest.raises(SandboxError, match="single `assert`"):
        parse_tests(["print(1)"])
    with pytest.raises(SandboxError, match="no tests"):
        parse_tests([])


def test_limits_are_validated_with_the_field_named():
    with pytest.raises(SandboxError, match="Limits.wall_s"):
        Limits(wall_s=0)
    with pytest.raises(SandboxError, match="unknown limit"):
        Limits.from_dict({"wall": 1})
    assert Limits.from_dict({"wall_s": 2.5}).wall_s == 2.5
    assert Limits(wall_s=1.2).cpu_limit_s == 2


@pytest.mark.parametrize(("text", "code"), [
    ("```python\nprint(1)\n```", "print(1)\n"),
    ("first\n```python\nprint(1)\n```\nthen\n```py\nprint(2)\n```", "print(2)\n"),
    ("<think>```python\nprint(0)\n```</think>\n```python\nprint(3)\n```", "print(3)\n"),
    ("<think>unfinished ```python\nprint(0)\n```", None),
    ("```\nprint(4)\n```", "print(4)\n"),
    ("```cpp\nint main(){}\n```", None),
    ("no code at all", None),
])
def test_extract_code_takes_the_last_block_of_the_language(text, code):
    assert extract_code(text, "python") == code


# -- judging in the sandbox -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def judge(sandbox_available):  # noqa: F811
    with Sandbox(limits=Limits(wall_s=3)) as sb:
        yield Judge(sb)


def test_stdio_judge_counts_each_test(judge):
    code = "a, b = map(int, input().split())\nprint(a + b if a < 5 else a - b)"
    tests = [{"input": "1 2", "output": "3"}, {"input": "2 2\n", "output": "4\n"}, {"input": "9 1", "output": "10"}]
    result = judge.judge(code, "python", tests)
    assert [t.verdict for t in result.tests] == ["accepted", "accepted", "wrong_answer"]
    assert result.pass_fraction == pytest.approx(2 / 3) and not result.all_passed


def test_one_timeout_costs_one_test(judge):
    code = "n = int(input())\nwhile n == 0: pass\nprint(n)"
    tests = [{"input": "0", "output": "0", "wall_s": 0.5}, {"input": "1", "output": "1"}, {"input": "2", "output": "2"}]
    result = judge.judge(code, "python", tests)
    assert [t.verdict for t in result.tests] == ["timeout", "accepted", "accepted"]


def test_stop_on_first_failure_skips_the_rest(judge):
    result = judge.judge("print(0)", "python", [{"input": "", "output": "1"}] * 3, stop_on_first_failure=True)
    assert [t.verdict for t in result.tests] == ["wrong_answer", "skipped", "skipped"]


def test_call_tests_compare_outside(judge):
    code = "def mul(a, b):\n    return a * b\ndef pair(x):\n    return (x, x)"
    tests = ["assert mul(2, 3) == 6", "assert 6 == mul(3, 2)", {"call": "pair(1)", "expected": [1, 1]},
             "assert mul(2, 2) == 5", "assert mul(1, 1)"]
    assert [t.verdict for t in judge.judge(code, "python", tests).tests] == [
        "accepted", "accepted", "accepted", "wrong_answer", "accepted"]


def test_checker_decides_when_many_outputs_are_valid(judge):
    checker = (
        "a, b = map(int, open('/box/input.txt').read().split())\n"
        "x, y = map(int, open('/box/output.txt').read().split())\n"
        "raise SystemExit(0 if x + y == a + b and x >= 0 and y >= 0 else 1)\n"
    )
    good = "a, b = map(int, input().split())\nprint(a + b, 0)"
    bad = "print(-1, 100)"
    tests = [{"input": "3 4", "output": "3 4"}]
    assert judge.judge(good, "python", tests, checker=checker).all_passed
    assert not judge.judge(bad, "python", tests, checker=checker).all_passed


def test_cpp_compiles_once_and_judges(judge):
    code = "#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a*b<<std::endl;}"
    tests = [{"input": "3 4", "output": "12"}, {"input": "100000 100000", "output": "10000000000"}]
    assert judge.judge(code, "cpp", tests).all_passed
    again = judge.judge(code, "cpp", tests)  # second judgement reuses the cached binary
    assert again.all_passed
    broken = judge.judge("int main( {", "cpp", tests)
    assert [t.verdict for t in broken.tests] == ["compile_error"] * 2 and broken.pass_fraction == 0.0


def test_call_tests_need_python(judge):
    with pytest.raises(SandboxError, match="function-call tests need language 'python'"):
        judge.judge("int main(){}", "cpp", ["assert f(1) == 1"])


def test_the_scratch_directory_goes_when_the_process_ends_even_if_never_closed(sandbox_available, tmp_path):  # noqa: F811
    """The process-wide default sandbox is never closed; its scratch directory must not outlive the process,
    and a forked child that exits normally must not delete its parent's."""
    import subprocess
    import sys

    script = (
        "import os, sys\n"
        "from sandbox import default_sandbox, run\n"
        "assert run('print(6*7)', 'python').stdout.strip() == '42'\n"
        "work = default_sandbox().work_dir\n"
        "print(work, flush=True)\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    sys.exit(0)  # a normal interpreter exit in the child: exit handlers run\n"
        "os.waitpid(child, 0)\n"
        "print(work.is_dir(), flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    work, alive_after_child = done.stdout.split()
    assert work.startswith("/") and "rltrain-sandbox-" in work
    assert alive_after_child == "True"
    from pathlib import Path

    assert not Path(work).exists()

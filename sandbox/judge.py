"""Judge a program against test cases, outside the sandbox.

Two kinds of test:

* **stdin/stdout** ``{"input": "1 2\\n", "output": "3\\n"}``: the program's whole stdout must equal the
  expected output after normalisation (``\\r\\n`` → ``\\n``, trailing spaces of each line and trailing
  blank lines dropped), optionally with a numeric tolerance per token. A prefix of the expected output
  is *not* a pass. An optional *checker* program (problems with many valid answers) decides instead:
  it runs in the sandbox after the solution, gets the input, the expected output and the program's
  output as files, and accepts with exit code 0.
* **function call** (Python) ``{"call": "add(1, 2)", "expected": 3}`` or an assert string
  ``"assert add(1, 2) == 3"``: the value is computed in the sandbox by a trusted shim
  (:mod:`sandbox.harness`), encoded with exact built-in types, and compared here; the expected value
  never enters the sandbox. An assert that is not ``EXPR == LITERAL`` (``assert is_odd(3)``) is
  evaluated inside and its value must be a truthy *plain* value (``True``, a non-empty list …): weaker,
  because the expected outcome is no secret.

Each test runs in its own process with its own limits, so one timeout costs one test, not the sample;
a run that ends in ``sandbox_error`` makes the whole judgement ``sandbox_error`` (the caller should
retry or mask it, never score it as a wrong answer). Exit code 0 alone is never a pass.
"""

from __future__ import annotations

import ast
import json
import math
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sandbox.errors import SandboxError
from sandbox.executor import Sandbox
from sandbox.harness import CALL_NAME, SHIM_NAME, SHIM_SOURCE
from sandbox.languages import get_language
from sandbox.limits import Limits
from sandbox.result import ExecResult, Status

Verdict = Literal[
    "accepted", "wrong_answer", "runtime_error", "timeout", "memory_limit", "output_limit", "compile_error",
    "sandbox_error", "skipped",
]
_STATUS_VERDICT: dict[Status, Verdict] = {
    Status.RUNTIME_ERROR: "runtime_error", Status.TIMEOUT: "timeout", Status.MEMORY_LIMIT: "memory_limit",
    Status.OUTPUT_LIMIT: "output_limit", Status.COMPILE_ERROR: "compile_error", Status.SANDBOX_ERROR: "sandbox_error",
}
#: Characters of stdout/stderr kept per test in a judgement (for debugging, not for comparison).
EXCERPT_CHARS = 300


@dataclass(frozen=True)
class Test:
    """One test case: stdin/stdout (``input``/``output``) or a Python call (``expr``/``expected``)."""

    __test__ = False  # not a pytest class

    input: str = ""
    output: str | None = None
    expr: str | None = None
    expected: Any = None
    #: For asserts evaluated inside the sandbox: the value must be a truthy plain value.
    truthy: bool = False
    #: This test's wall-clock limit in seconds (default: the judge's limits).
    wall_s: float | None = None

    @property
    def is_call(self) -> bool:
        return self.expr is not None


def _split_assert(text: str) -> tuple[str, Any, bool]:
    """``assert f(x) == 3`` → (``f(x)``, 3, False); ``assert pred(x)`` → (``pred(x)``, True, True)."""
    try:
        node = ast.parse(text.strip(), mode="exec").body
    except SyntaxError as exc:
        raise SandboxError(f"test {text!r} is not valid Python: {exc.msg}") from exc
    if len(node) != 1 or not isinstance(node[0], ast.Assert):
        raise SandboxError(f"test {text!r} must be a single `assert` statement")
    test = node[0].test
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
        for expr_node, literal_node in ((test.left, test.comparators[0]), (test.comparators[0], test.left)):
            try:
                value = ast.literal_eval(literal_node)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            return ast.unparse(expr_node), value, False
    return ast.unparse(test), True, True


def parse_tests(raw: Sequence[Any]) -> list[Test]:
    """Tests from JSON-like data: dicts with ``input``/``output``, ``call``/``expected``, or assert strings."""
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        raise SandboxError(f"tests must be a list, got {type(raw).__name__}")
    tests: list[Test] = []
    for i, item in enumerate(raw):
        if isinstance(item, Test):
            tests.append(item)
        elif isinstance(item, str):
            expr, expected, truthy = _split_assert(item)
            tests.append(Test(expr=expr, expected=expected, truthy=truthy))
        elif isinstance(item, dict):
            wall = item.get("wall_s")
            if "call" in item:
                if "expected" not in item:
                    raise SandboxError(f"tests[{i}] has 'call' but no 'expected'")
                tests.append(Test(expr=str(item["call"]), expected=item["expected"], wall_s=wall))
            elif "output" in item:
                tests.append(Test(input=str(item.get("input", "")), output=str(item["output"]), wall_s=wall))
            else:
                raise SandboxError(f"tests[{i}] needs 'input'+'output' or 'call'+'expected'; got keys {sorted(item)}")
        else:
            raise SandboxError(f"tests[{i}] must be a dict or an assert string, got {type(item).__name__}")
    if not tests:
        raise SandboxError("no tests given")
    return tests


# -- comparison ------------------------------------------------------------------------------------

def normalize_output(text: str) -> list[str]:
    """Lines with trailing whitespace removed and trailing blank lines dropped."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _tokens_close(got: str, want: str, tol: float) -> bool:
    if got == want:
        return True
    try:
        a, b = float(got), float(want)
    except ValueError:
        return False
    if math.isnan(a) or math.isnan(b):
        return False
    return abs(a - b) <= tol * max(1.0, abs(b))


def outputs_match(got: str, want: str, *, float_tolerance: float | None = None) -> bool:
    """Whole-output comparison after normalisation; with ``float_tolerance``, numbers compare within it."""
    got_lines, want_lines = normalize_output(got), normalize_output(want)
    if float_tolerance is None:
        return got_lines == want_lines
    if len(got_lines) != len(want_lines):
        return False
    for g, w in zip(got_lines, want_lines, strict=True):
        gt, wt = g.split(), w.split()
        if len(gt) != len(wt) or not all(_tokens_close(a, b, float_tolerance) for a, b in zip(gt, wt, strict=True)):
            return False
    return True


def encode_value(value: Any, depth: int = 0) -> Any:
    """The host-side twin of the shim's encoding (tuples as lists, tagged sets/dicts/big ints/nan)."""
    if depth > 100:
        raise SandboxError("expected value nested too deeply")
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if -(2**53) < value < 2**53 else {"__int__": repr(int(value))}
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, list | tuple):
        return [encode_value(v, depth + 1) for v in value]
    if isinstance(value, set | frozenset):
        return {"__set__": sorted((encode_value(v, depth + 1) for v in value), key=json.dumps)}
    if isinstance(value, dict):
        if set(value) in ({"__set__"}, {"__dict__"}, {"__int__"}, {"__float__"}):
            return value  # already encoded (a JSON round trip of an encoded value)
        items = [[encode_value(k, depth + 1), encode_value(v, depth + 1)] for k, v in value.items()]
        return {"__dict__": sorted(items, key=json.dumps)}
    raise SandboxError(f"expected value of type {type(value).__name__} is not a plain value")


def values_match(got: Any, want: Any, *, float_tolerance: float | None = None) -> bool:
    """Encoded values equal; ``True`` never equals ``1``; floats within ``float_tolerance`` if given."""
    if type(got) is not type(want):
        if isinstance(got, int | float) and isinstance(want, int | float) and not isinstance(got, bool) and not isinstance(want, bool):
            return float(got) == float(want) or (float_tolerance is not None and _tokens_close(repr(got), repr(want), float_tolerance))
        return False
    if isinstance(got, float):
        return got == want or (float_tolerance is not None and abs(got - want) <= float_tolerance * max(1.0, abs(want)))
    if isinstance(got, list):
        return len(got) == len(want) and all(values_match(a, b, float_tolerance=float_tolerance) for a, b in zip(got, want, strict=True))
    if isinstance(got, dict):
        return got.keys() == want.keys() and all(values_match(got[k], want[k], float_tolerance=float_tolerance) for k in got)
    return got == want


def _plain_truthy(encoded: Any) -> bool:
    """Python truthiness of an encoded plain value (objects with a custom ``__bool__`` never get here)."""
    if isinstance(encoded, dict):
        inner = next(iter(encoded.values()))
        return bool(inner) if isinstance(inner, list) else True  # set/dict items; big ints, nan, inf are truthy
    return bool(encoded)


# -- judging ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TestResult:
    """One test's verdict with the run's status, time and output excerpts."""

    __test__ = False  # not a pytest class

    verdict: Verdict
    status: str | None = None
    wall_ms: float | None = None
    stdout: str = ""
    stderr: str = ""

    @property
    def passed(self) -> bool:
        return self.verdict == "accepted"


@dataclass(frozen=True)
class JudgeResult:
    """All tests' verdicts; ``pass_fraction`` is ``None`` when the sandbox failed (not the program)."""

    tests: list[TestResult] = field(default_factory=list)
    compile: ExecResult | None = None

    @property
    def passed(self) -> int:
        return sum(t.passed for t in self.tests)

    @property
    def total(self) -> int:
        return len(self.tests)

    @property
    def sandbox_error(self) -> bool:
        return any(t.verdict == "sandbox_error" for t in self.tests)

    @property
    def pass_fraction(self) -> float | None:
        if self.sandbox_error:
            return None
        return self.passed / self.total if self.total else 0.0

    @property
    def all_passed(self) -> bool:
        return bool(self.tests) and self.passed == self.total

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed, "total": self.total, "pass_fraction": self.pass_fraction,
            "all_passed": self.all_passed, "sandbox_error": self.sandbox_error,
            "tests": [{**asdict(t), "passed": t.passed} for t in self.tests],
            "compile": self.compile.to_dict() if self.compile else None,
        }


def _excerpt(result: ExecResult) -> dict[str, Any]:
    return {"status": result.status.value, "wall_ms": result.wall_ms, "stdout": result.stdout[:EXCERPT_CHARS],
            "stderr": result.stderr[-EXCERPT_CHARS:]}


class Judge:
    """Judges programs with one :class:`Sandbox`; see the module docstring for the rules."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def judge(
        self, code: str, language: str, tests: Sequence[Any], *, stop_on_first_failure: bool = False,
        limits: Limits | None = None, float_tolerance: float | None = None, checker: str | None = None,
    ) -> JudgeResult:
        lang = get_language(language)
        parsed = parse_tests(tests)
        limits = limits or self.sandbox.limits
        if any(t.is_call for t in parsed) and lang.name != "python":
            raise SandboxError(f"function-call tests need language 'python', not {lang.name!r}")
        compiled = None
        if lang.compiled:
            built = self.sandbox.compile(code, lang.name, limits=limits)
            if isinstance(built, ExecResult):
                verdict: Verdict = "sandbox_error" if built.status is Status.SANDBOX_ERROR else "compile_error"
                return JudgeResult([TestResult(verdict, **_excerpt(built))] * len(parsed), compile=built)
            compiled = built
        results: list[TestResult] = []
        for test in parsed:
            if stop_on_first_failure and results and not results[-1].passed:
                results.append(TestResult("skipped"))
                continue
            test_limits = limits if test.wall_s is None else Limits(**{**limits.to_dict(), "wall_s": test.wall_s})
            if test.is_call:
                results.append(self._call_test(code, test, test_limits, float_tolerance))
            else:
                results.append(self._stdio_test(code, lang.name, compiled, test, test_limits, float_tolerance, checker))
        return JudgeResult(results)

    def _stdio_test(self, code, language, compiled, test: Test, limits: Limits, tol, checker) -> TestResult:
        if compiled is not None:
            lang = get_language(language)
            run = self.sandbox.execute_files(lang, {lang.artifact: compiled}, stdin=test.input.encode(), limits=limits)
        else:
            run = self.sandbox.run(code, language, stdin=test.input, limits=limits)
        if run.status is not Status.OK:
            return TestResult(_STATUS_VERDICT[run.status], **_excerpt(run))
        if checker is not None:
            verdict = self._check(checker, test, run.stdout, limits)
        else:
            verdict = "accepted" if outputs_match(run.stdout, test.output or "", float_tolerance=tol) else "wrong_answer"
        return TestResult(verdict, **_excerpt(run))

    def _check(self, checker: str, test: Test, output: str, limits: Limits) -> Verdict:
        """Run the trusted checker: ``/box/input.txt``, ``/box/expected.txt``, ``/box/output.txt``; exit 0 accepts."""
        lang = get_language("python")
        files = {lang.source_name: checker.encode(), "input.txt": test.input.encode(),
                 "expected.txt": (test.output or "").encode(), "output.txt": output.encode()}
        run = self.sandbox.execute_files(lang, files, stdin=b"", limits=limits)
        if run.status is Status.SANDBOX_ERROR:
            return "sandbox_error"
        return "accepted" if run.status is Status.OK else "wrong_answer"

    def _call_test(self, code: str, test: Test, limits: Limits, tol) -> TestResult:
        lang = get_language("python")
        nonce = secrets.token_hex(16)
        files = {lang.source_name: code.encode(), SHIM_NAME: SHIM_SOURCE.encode(),
                 CALL_NAME: json.dumps({"expr": test.expr}).encode()}
        run = self.sandbox.execute_files(lang, files, stdin=(nonce + "\n").encode(), limits=limits, entry=SHIM_NAME)
        if run.status is not Status.OK:
            return TestResult(_STATUS_VERDICT[run.status], **_excerpt(run))
        reported = None
        for line in reversed(run.stdout.splitlines()):
            if line.startswith(nonce + " "):
                reported = line[len(nonce) + 1:]
                break
        if reported is None:
            return TestResult("wrong_answer", **_excerpt(run))  # exited early or the shim was subverted
        try:
            got = json.loads(reported)
        except json.JSONDecodeError:
            return TestResult("wrong_answer", **_excerpt(run))
        ok = _plain_truthy(got) if test.truthy else values_match(got, encode_value(test.expected), float_tolerance=tol)
        return TestResult("accepted" if ok else "wrong_answer", **_excerpt(run))

"""Math verifier safety: hostile inputs return verdicts within the timeout, from any thread, never raising."""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import verifiers.math
from verifiers.math import MathVerdict, verify, verify_batch
from verifiers.math.batch import prepare
from verifiers.math.policy import DEFAULT_POLICY

TIMEOUT = 2.0
#: Imaginary at every real test point, so the comparison falls back to ``simplify``, which runs for minutes.
SLOW = r"\sqrt{-x^2-1}(\sin x+\cos x+\tan x)^{30}"
#: Allowance on top of the timeout for process scheduling on a loaded machine.
SLACK = 3.0

#: A 4x4 matrix, and a 60-entry column and row: products of them would write out megabytes of cells.
_SQUARE = "\\begin{pmatrix}" + " \\\\ ".join(["1&2&3&4"] * 4) + "\\end{pmatrix}"
_COLUMN = "\\begin{pmatrix}" + " \\\\ ".join(["1"] * 60) + "\\end{pmatrix}"
_ROW = "\\begin{pmatrix}" + " & ".join(["1"] * 60) + "\\end{pmatrix}"

#: (name, completion, gold, expected reason)
PATHOLOGICAL = [
    ("power tower", r"\boxed{9^{9^{9^{9}}}}", "5", "not equal"),
    ("power tower in a fraction", r"\boxed{\dfrac{5^{5^{5^{5^{5}}}}}{2}}", "5", "not equal"),
    ("scientific exponent", r"\boxed{1e999999999}", "1", "not equal"),
    ("huge factorial", r"\boxed{100000!}", "1", "not equal"),
    ("huge binomial", r"\boxed{\binom{10^{9}}{10^{8}}}", "1", "not equal"),
    ("100k-character answer", "\\boxed{" + "1" * 100_000 + "}", "1", "not equal"),
    ("deeply nested braces", "\\boxed{" + "{" * 50_000 + "1" + "}" * 50_000 + "}", "1", "not equal"),
    ("nested braces within the size limit", "\\boxed{" + "{" * 400 + "1" + "}" * 400 + "}", "1", "not equal"),
    ("nested parentheses", "\\boxed{" + "(" * 450 + "1" + ")" * 450 + "}", "1", "not equal"),
    ("nested fractions", "\\boxed{" + "\\frac{1}{" * 120 + "2" + "}" * 120 + "}", "1", "not equal"),
    ("nested boxes", "\\boxed{" * 20_000 + "1" + "}" * 20_000, "1", "equivalent"),
    ("unclosed box", "\\boxed{" * 20_000, "1", "no answer found"),
    ("megabyte of prose", "word " * 200_000, "1", "no answer found"),
    ("answer marker then spaces", "Answer:" + " " * 100_000 + "x", "1", "no answer found"),
    ("open display math", "\\[" * 50_000, "1", "no answer found"),
    ("many plus-minus", "\\boxed{" + "1\\pm " * 60 + "1}", "1", "not equal"),
    ("long list", "\\boxed{" + "1," * 400 + "1}", "1", "not equal"),
    ("long relation chain", "\\boxed{" + "x<" * 300 + "1}", "1", "not equal"),
    ("power tower gold", r"\boxed{5}", r"9^{9^{9^{9}}}", "unparseable gold"),
    ("tower of variables", r"\boxed{x^{x^{x^{x^{x}}}}}", "x", {"not equal", "timeout"}),  # depends on the test points
    ("tower of bounded-below bases", r"\boxed{(x^2+2)^{(x^2+2)^{(x^2+2)^{(x^2+2)^{(x^2+2)^{x^2+2}}}}}}", "5", {"not equal", "timeout"}),
    ("100k-character gold", r"\boxed{5}", "1" * 100_000, "unparseable gold"),
    ("chain of matrix products", "\\boxed{" + _SQUARE * 12 + "}", _SQUARE, "not equal"),
    ("outer product of long vectors", "\\boxed{" + _COLUMN + _ROW + "}", "1", "not equal"),
]


@pytest.fixture(scope="module", autouse=True)
def warm_pool() -> None:
    """Start the shared workers first: start-up (about a second) is never charged to a deadline."""
    assert verify(r"\boxed{(x+1)^2}", "x^2+2x+1").correct


def _in_thread(fn: Callable[[], object]) -> tuple[object, float]:
    box: dict[str, object] = {}

    def run() -> None:
        started = time.monotonic()
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            box["error"] = exc
        box["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=run, name="not-main")
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "verify() did not return"
    assert "error" not in box, f"verify() raised {box.get('error')!r}"
    elapsed = box["elapsed"]
    assert isinstance(elapsed, float)
    return box["value"], elapsed


@pytest.mark.parametrize(("name", "completion", "gold", "reason"), PATHOLOGICAL, ids=[p[0] for p in PATHOLOGICAL])
def test_pathological_input_gets_a_verdict_within_the_timeout_off_the_main_thread(
    name: str, completion: str, gold: str, reason: str | set[str]
) -> None:
    verdict, elapsed = _in_thread(lambda: verify(completion, gold, timeout=TIMEOUT))
    assert isinstance(verdict, MathVerdict)
    assert verdict.reason in (reason if isinstance(reason, set) else {reason}), name
    assert elapsed < TIMEOUT + SLACK, f"{name}: {elapsed:.1f}s"


@pytest.mark.parametrize(
    "name",
    ["100k-character answer", "megabyte of prose", "deeply nested braces", "100k-character gold", "chain of matrix products",
     "outer product of long vectors"],
)  # fmt: skip
def test_the_in_process_part_is_fast_on_huge_inputs(name: str) -> None:
    """Extraction and the plain-number path run in the caller's process: they must be linear and quick."""
    _, completion, gold, _ = next(p for p in PATHOLOGICAL if p[0] == name)
    started = time.monotonic()
    prepare(completion, gold, DEFAULT_POLICY)
    assert time.monotonic() - started < 1.0


def test_a_comparison_that_runs_too_long_is_killed_at_the_timeout_off_the_main_thread() -> None:
    verdict, elapsed = _in_thread(lambda: verify(rf"\boxed{{{SLOW}}}", "x", timeout=1.0))
    assert verdict == MathVerdict(False, SLOW, "timeout")
    assert elapsed < 1.0 + SLACK


def test_one_slow_item_does_not_delay_the_others_beyond_its_timeout() -> None:
    pairs = [(rf"\boxed{{{SLOW}}}", "x")] + [(rf"\boxed{{(x+{k})^2}}", f"x^2+{2 * k}x+{k * k}") for k in range(6)]
    started = time.monotonic()
    verdicts = verify_batch(pairs, workers=2, timeout=1.5)
    elapsed = time.monotonic() - started
    assert verdicts[0].reason == "timeout"
    assert all(v.reason == "equivalent" for v in verdicts[1:])
    assert elapsed < 1.5 + SLACK


def test_concurrent_callers_from_several_threads() -> None:
    results: dict[int, list[str]] = {}

    def run(k: int) -> None:
        pairs = [(rf"\boxed{{{k}\sqrt{{2}}}}", rf"\sqrt{{{2 * k * k}}}"), (rf"\boxed{{{SLOW}}}", "x"), (r"\boxed{2}", "3")]
        results[k] = [v.reason for v in verify_batch(pairs, timeout=1.0)]

    threads = [threading.Thread(target=run, args=(k,)) for k in (2, 3, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == {k: ["equivalent", "timeout", "not equal"] for k in (2, 3, 5)}


def test_no_signal_based_timeouts() -> None:
    package = Path(inspect.getfile(verifiers.math)).parent
    for source in package.glob("*.py"):
        text = source.read_text()
        assert "signal.alarm" not in text and "setitimer" not in text, source.name

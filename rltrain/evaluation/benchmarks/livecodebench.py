"""LiveCodeBench v5 as QwQ evaluates it: 279 problems from 2024-08 to 2025-02, judged in rltrain's sandbox.

**Problems** are QwQ's ``livecodebench_v5.jsonl`` (shipped): question id, contest date and the prompt
with LiveCodeBench's code-format instruction, verbatim. **Tests** come from the hub dataset
``livecodebench/code_generation_lite`` (release v5): on first use the dataset's ``test*.jsonl`` files are
downloaded (newest first, until every problem is found), each needed problem is written to
``<cache>/livecodebench_v5/problems/<question_id>.json`` and the downloads are deleted. Offline, place
those files (as downloaded from the hub) in ``<cache>/livecodebench_v5/`` and they are split on the next
run. Private tests are stored on the hub as base64 of zlib of a pickle of a JSON string; they are
unpickled with an unpickler that refuses every class and function, so the data can only ever yield
plain strings and containers, never run code. Each problem's tests are checked against the MD5 that
QwQ's list records for them; a mismatch (the hub's tests changed) is logged, and reported in the item's
``tests_match_qwq``.

**Judging**, as LiveCodeBench does it (``lcb_runner/evaluation/testing_util.py``):

* the code is the last fenced Python block of the answer part (after ``</think>``); none: ``no_code``;
* the program is LiveCodeBench's import preamble (``from typing import *``, ``from collections import
  *`` ... and a recursion limit of 50,000) followed by the code, so solutions that rely on those
  implicit imports behave as they do there;
* stdin tests: the whole stdout, stripped, split in lines and each line stripped, must have as many
  lines as the expected output, each equal to its expected line or, read as numbers, equal as decimals
  (``1.0`` and ``1``, never ``50000000000000000`` and ``50000000000000001``);
* functional (LeetCode) tests: each input line is one JSON argument; ``Solution().<func_name>(*args)``
  is computed in the sandbox by its trusted shim and compared outside with the JSON expected value
  (tuples count as lists; ``True`` never equals ``1``, where LiveCodeBench's ``==`` lets it);
* every test runs in its own sandboxed process with LiveCodeBench's time limit, 6 s of wall-clock per
  test (its ``--timeout`` default; QwQ's own scorer allowed 30 s), stopping at the first failure;
  correct means every test passed. A program that exits with a non-zero status fails its test, as on
  the contest sites (LiveCodeBench's in-process runner swallows ``SystemExit``).

Reported per difficulty (easy, medium, hard); 8 samples per problem by default (QwQ's protocol).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import logging
import os
import pickle
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from rltrain.errors import RecipeError
from rltrain.evaluation.benchmarks.base import Benchmark, BenchmarkItem, DataCache, DataUnavailable, Verdict
from rltrain.evaluation.benchmarks.sources import dataset_url, fetch_hub_file, read_jsonl, shipped

__all__ = [
    "HUB_FILES", "LCB_REPO", "PREAMBLE", "LiveCodeBenchV5", "decode_private_tests", "lcb_outputs_match", "qwq_md5",
]

logger = logging.getLogger(__name__)

LCB_REPO = "livecodebench/code_generation_lite"
HUB_FILES = ("test5.jsonl", "test4.jsonl", "test3.jsonl", "test2.jsonl", "test.jsonl")
"""The release-v5 files of the hub dataset, newest problems first (QwQ's problems are the newest)."""
#: Largest decompressed private-test blob accepted (a corrupt or hostile blob cannot exhaust memory).
MAX_TESTS_BYTES = 2 * 1024**3

_MODULES = ("string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math", "random", "statistics",
            "itertools", "functools", "operator", "io", "sys", "json")
PREAMBLE = (
    "".join(f"from {m} import *\n" for m in (*_MODULES, "builtins", "typing"))
    + "".join(f"import {m}\n" for m in _MODULES)
    + "sys.setrecursionlimit(50000)\n"
)
"""What LiveCodeBench puts before every solution: star imports of the standard modules contest code
uses, the modules themselves (so ``datetime`` ends up the module) and a deep recursion limit."""


# -- test data -------------------------------------------------------------------------------------

class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickles strings, bytes, numbers and containers only: every global lookup is refused, so a
    pickle can neither import a module nor call anything."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing {module}.{name}: test data may only hold plain values")


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, MAX_TESTS_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError(f"private tests decompress to more than {MAX_TESTS_BYTES} bytes")
    return out + inflater.flush()


def _unpickle_text(blob: str) -> str:
    """The JSON text inside a base64/zlib/pickle blob, unpickled by :class:`_PlainDataUnpickler`."""
    try:
        raw = base64.b64decode(blob.encode("ascii"), validate=False)
        value = _PlainDataUnpickler(io.BytesIO(_inflate(raw))).load()
    except (binascii.Error, UnicodeEncodeError, zlib.error, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise ValueError(f"private tests are neither JSON nor base64/zlib/pickle: {exc}") from None
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if not isinstance(value, str):
        raise ValueError(f"private tests unpickle to {type(value).__name__}, expected a JSON string")
    return value


def decode_private_tests(blob: str) -> list[dict[str, Any]]:
    """The private tests of a hub row: JSON text, or base64 of zlib of a pickled JSON string (decoded
    without ever executing pickle code; see :class:`_PlainDataUnpickler`)."""
    try:
        value: Any = json.loads(blob)
    except json.JSONDecodeError:
        value = json.loads(_unpickle_text(blob))
    return _check_tests(value)


def _check_tests(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(
        isinstance(t, dict) and isinstance(t.get("input"), str) and isinstance(t.get("output"), str) for t in value
    ):
        raise ValueError("tests must be a list of {input, output, testtype} objects with string input and output")
    return [{"input": t["input"], "output": t["output"], "testtype": t.get("testtype", "stdin")} for t in value]


def qwq_md5(tests: Sequence[dict[str, Any]], fn_name: str | None) -> str:
    """The fingerprint QwQ's problem list records for a problem's tests (public then private): MD5 of
    its ``{"input_output": ...}`` file, serialised as QwQ's ``process_data.py`` writes it."""
    input_output = json.dumps({"inputs": [t["input"] for t in tests], "outputs": [t["output"] for t in tests],
                               "fn_name": fn_name})
    return hashlib.md5(json.dumps({"input_output": input_output}).encode("utf-8")).hexdigest()


def problem_record(row: dict[str, Any]) -> dict[str, Any]:
    """What is cached of one hub row: its facts and all its tests, decoded."""
    metadata = json.loads(row.get("metadata") or "{}")
    tests = _check_tests(json.loads(row["public_test_cases"])) + decode_private_tests(row["private_test_cases"])
    fn_name = metadata.get("func_name") or None
    if fn_name is not None:
        if not str(fn_name).isidentifier():
            raise ValueError(f"func_name {fn_name!r} is not a Python identifier")
        for test in tests:  # functional tests are JSON: one argument per input line, one expected value
            [json.loads(line) for line in test["input"].split("\n")]
            json.loads(test["output"])
    return {
        "question_id": row["question_id"], "difficulty": row.get("difficulty", "unknown"),
        "platform": row.get("platform", ""), "contest_date": row.get("contest_date", ""),
        "starter_code": row.get("starter_code", ""), "fn_name": fn_name, "tests": tests,
        "md5": qwq_md5(tests, fn_name),
    }


def _write_json(path: Path, value: Any) -> None:
    scratch = path.with_name(f".{path.name}.tmp")
    scratch.write_text(json.dumps(value), encoding="utf-8")
    os.replace(scratch, path)


def split_hub_file(source: Path, wanted: set[str], problems: Path) -> set[str]:
    """Write the cached record of every wanted problem found in one hub ``test*.jsonl``; the ids written."""
    problems.mkdir(parents=True, exist_ok=True)
    found: set[str] = set()
    with source.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            question = row.get("question_id")
            if question not in wanted:
                continue
            try:
                record = problem_record(row)
            except (KeyError, ValueError, TypeError) as exc:
                raise RecipeError(f"{source}:{number}: problem {question} cannot be read: {exc}") from None
            _write_json(problems / f"{question}.json", record)
            found.add(question)
    return found


# -- judging ---------------------------------------------------------------------------------------

def _decimals(line: str) -> list[Any] | None:
    from decimal import Decimal, InvalidOperation

    try:
        return [Decimal(token) for token in line.split()]
    except (InvalidOperation, ValueError):
        return None


def lcb_outputs_match(got: str, want: str) -> bool:
    """LiveCodeBench's stdout comparison (see the module docstring)."""
    got_lines = [line.strip() for line in got.strip().split("\n")]
    want_lines = [line.strip() for line in want.strip().split("\n")]
    if len(got_lines) != len(want_lines):
        return False
    for mine, theirs in zip(got_lines, want_lines, strict=True):
        if mine == theirs:
            continue
        mine_numbers, their_numbers = _decimals(mine), _decimals(theirs)
        if mine_numbers is None or their_numbers is None or mine_numbers != their_numbers:
            return False
    return True


def _call_expression(fn_name: str, test_input: str, solution_class: bool) -> str:
    args = [json.loads(line) for line in test_input.split("\n")]
    target = f"Solution().{fn_name}" if solution_class else fn_name
    return f"{target}(*__import__('json').loads({json.dumps(args)!r}))"


class LiveCodeBenchV5(Benchmark):
    """LiveCodeBench v5 (see the module docstring).

    Args:
        problems: a problem list in QwQ's format (default: the shipped 279 problems).
        wall_s: wall-clock seconds per test (LiveCodeBench: 6).
        memory_mb: address-space limit of each test's process.
        concurrency: completions judged at once (each runs its tests one after another).
        require_sandbox: check at :meth:`load` that this machine can isolate programs, so an evaluation
            fails before generating rather than when scoring.
    """

    name = "livecodebench_v5"
    description = ("LiveCodeBench v5, 279 problems 2024-08..2025-02 (QwQ's list, Apache-2.0; tests from hub "
                   "livecodebench/code_generation_lite); sandboxed; n=8; per difficulty")
    default_n = 8
    group_by = "difficulty"

    def __init__(self, *, problems: str | Path | None = None, wall_s: float = 6.0, memory_mb: int = 2048,
                 concurrency: int | None = None, require_sandbox: bool = True) -> None:
        self.problems = Path(problems) if problems is not None else None
        self.wall_s = wall_s
        self.memory_mb = memory_mb
        self.concurrency = concurrency or max(1, os.cpu_count() or 1)
        self.require_sandbox = require_sandbox

    # -- loading -----------------------------------------------------------------------------------

    def load(self, cache: DataCache) -> list[BenchmarkItem]:
        rows = list(read_jsonl(self.problems or shipped("livecodebench_v5.jsonl")))
        problems = cache.path(self.name, "problems")
        directory = problems.parent
        missing = {row["question_id"] for row in rows if not (problems / f"{row['question_id']}.json").is_file()}
        if missing:
            self._fill(directory, problems, missing)
        items = [self._item(row, problems / f"{row['question_id']}.json") for row in rows]
        stale = [item.id for item in items if not item.meta["tests_match_qwq"]]
        if stale:
            logger.warning("%s: the hub's tests of %d problem(s) differ from those QwQ's evaluation used: %s",
                           self.name, len(stale), ", ".join(stale[:10]))
        if self.require_sandbox:
            _require_isolation()
        return items

    def _item(self, row: dict[str, Any], path: Path) -> BenchmarkItem:
        record = json.loads(path.read_text(encoding="utf-8"))
        expected_md5 = (row.get("tests") or {}).get("md5")
        return BenchmarkItem(
            id=row["question_id"],
            messages=({"role": "user", "content": row["prompt"]},),
            reference={"question_id": row["question_id"], "tests_file": str(path)},
            meta={"difficulty": record["difficulty"], "platform": record["platform"],
                  "contest_date": row.get("contest_date", record["contest_date"]),
                  "tests": len(record["tests"]), "tests_match_qwq": expected_md5 in (None, record["md5"])},
        )

    def _fill(self, directory: Path, problems: Path, missing: set[str]) -> None:
        """Split hub files placed in ``directory`` by hand, then download the others until nothing is missing."""
        for placed in sorted(directory.glob("test*.jsonl")):
            missing -= split_hub_file(placed, missing, problems)
        downloads = directory / ".hub"
        failures = []
        for filename in HUB_FILES:
            if not missing:
                break
            if (directory / filename).is_file():
                continue
            try:
                path = fetch_hub_file(LCB_REPO, filename, downloads / filename)
            except DataUnavailable as exc:
                failures.append(str(exc))
                continue
            try:
                missing -= split_hub_file(path, missing, problems)
            finally:
                path.unlink(missing_ok=True)
        if missing:
            shown = ", ".join(sorted(missing)[:5]) + (" ..." if len(missing) > 5 else "")
            reason = f" ({failures[0]})" if failures else " (not in any of the dataset's release-v5 files)"
            raise DataUnavailable(
                f"LiveCodeBench tests of {len(missing)} problem(s) ({shown}) are not cached in {problems}{reason}. "
                f"Download {', '.join(HUB_FILES)} from {dataset_url(LCB_REPO)} and place them in {directory}; "
                "the next run splits them into per-problem files"
            )

    # -- scoring -----------------------------------------------------------------------------------

    def score(self, items: Sequence[BenchmarkItem], completions: Sequence[str]) -> list[Verdict]:
        pairs = list(zip(items, completions, strict=True))
        if not pairs:
            return []
        judge = _Judging(self.wall_s, self.memory_mb)
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(pairs))) as pool:
            return list(pool.map(lambda pair: judge.verdict(*pair), pairs))


def _require_isolation() -> None:
    from sandbox import self_test

    report = self_test()
    if report.level != "bwrap+seccomp":
        raise RecipeError(
            f"livecodebench_v5 runs generated programs, and the sandbox cannot isolate them on this machine: "
            f"{report.detail}. Install what is missing (`make setup` installs bubblewrap; "
            "`rltrain sandbox self-test` checks) or evaluate code benchmarks on a machine that can"
        )


class _Judging:
    """One scoring call's sandbox, limits and test cache (each problem's tests are read once)."""

    def __init__(self, wall_s: float, memory_mb: int) -> None:
        from sandbox import Judge, Limits, SandboxError, default_sandbox

        try:
            self.sandbox = default_sandbox()
            self.limits = Limits(wall_s=wall_s, memory_mb=memory_mb, output_bytes=32 * 1024 * 1024)
        except SandboxError as exc:
            raise RecipeError(f"livecodebench_v5 cannot judge programs here: {exc}") from exc
        self.judge = Judge(self.sandbox)
        self._records: dict[str, dict[str, Any]] = {}

    def _record(self, item: BenchmarkItem) -> dict[str, Any]:
        path = item.reference["tests_file"]
        if path not in self._records:  # a race only reads the same file twice
            self._records[path] = json.loads(Path(path).read_text(encoding="utf-8"))
        return self._records[path]

    def verdict(self, item: BenchmarkItem, completion: str) -> Verdict:
        from verifiers.code import extract_code

        try:
            code = extract_code(completion if isinstance(completion, str) else str(completion), "python")
            if code is None:
                return Verdict(correct=False, reason="no_code", details={"passed": 0, "total": item.meta.get("tests")})
            record = self._record(item)
            if record["fn_name"]:
                outcomes = self._functional(PREAMBLE + code, record)
            else:
                outcomes = self._stdin(PREAMBLE + code, record["tests"])
        except Exception as exc:  # noqa: BLE001 - no completion may fail the batch; the sandbox's own failure is a verdict
            logger.warning("livecodebench_v5: judging a completion of %s failed: %s: %s", item.id, type(exc).__name__, exc)
            return Verdict(correct=False, reason="sandbox_error", details={"error": f"{type(exc).__name__}: {exc}"})
        return _summarise(outcomes, len(record["tests"]))

    def _stdin(self, program: str, tests: list[dict[str, Any]]) -> list[str]:
        from sandbox import Status

        outcomes: list[str] = []
        for test in tests:
            run = self.sandbox.run(program, "python", stdin=test["input"], limits=self.limits)
            if run.status is not Status.OK:
                outcomes.append(run.status.value)
            else:
                outcomes.append("accepted" if lcb_outputs_match(run.stdout, test["output"]) else "wrong_answer")
            if outcomes[-1] != "accepted":
                break
        return outcomes

    def _functional(self, program: str, record: dict[str, Any]) -> list[str]:
        from sandbox import Test

        solution_class = "class Solution" in program
        tests = [
            Test(expr=_call_expression(record["fn_name"], t["input"], solution_class), expected=json.loads(t["output"]))
            for t in record["tests"]
        ]
        result = self.judge.judge(program, "python", tests, stop_on_first_failure=True, limits=self.limits)
        return [t.verdict for t in result.tests if t.verdict != "skipped"]


def _summarise(outcomes: Iterable[str], total: int) -> Verdict:
    outcomes = list(outcomes)
    passed = sum(o == "accepted" for o in outcomes)
    failure = next((o for o in outcomes if o != "accepted"), None)
    details = {"passed": passed, "total": total}
    if failure is None and passed == total and total > 0:
        return Verdict(correct=True, reason="correct", details=details)
    return Verdict(correct=False, reason=failure or "no_tests", details={**details, "failed_test": passed})

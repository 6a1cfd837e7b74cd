"""LiveCodeBench v5: the shipped problem list, the hub loader (made-up problems in the hub's format, see
``data/benchmarks/build_livecodebench_fixture.py``), safe decoding of private tests, the offline error, and
judging in the sandbox: a stdin and a functional problem, each with a correct solution, a wrong one and one
that runs out of time."""

from __future__ import annotations

import base64
import json
import pickle
import shutil
import zlib
from pathlib import Path

import pytest

from rltrain.evaluation.benchmarks import sources
from rltrain.evaluation.benchmarks.base import DataCache, DataUnavailable
from rltrain.evaluation.benchmarks.livecodebench import (
    PREAMBLE,
    LiveCodeBenchV5,
    decode_private_tests,
    lcb_outputs_match,
    qwq_md5,
)
from rltrain.evaluation.benchmarks.registry import get_benchmark
from rltrain.evaluation.benchmarks.sources import read_jsonl, shipped
from tests.sandbox_guard import sandbox_available  # noqa: F401 - fixture

DATA = Path(__file__).parent / "data" / "benchmarks"
HUB_FIXTURE = DATA / "livecodebench_hub_fixture.jsonl"
PROBLEMS_FIXTURE = DATA / "livecodebench_problems_fixture.jsonl"


def _no_network(*args, **kwargs):
    raise OSError("network unreachable")


@pytest.fixture
def cache(tmp_path: Path) -> DataCache:
    """A cache where the hub's test5.jsonl was placed by hand (as an offline machine would)."""
    cache = DataCache(tmp_path)
    directory = cache.path("livecodebench_v5", "test5.jsonl")
    directory.parent.mkdir(parents=True)
    shutil.copy(HUB_FIXTURE, directory)
    return cache


@pytest.fixture
def benchmark() -> LiveCodeBenchV5:
    return LiveCodeBenchV5(problems=PROBLEMS_FIXTURE, wall_s=2.0, require_sandbox=False)


def test_shipped_problem_list():
    rows = list(read_jsonl(shipped("livecodebench_v5.jsonl")))
    assert len(rows) == 279
    assert len({row["question_id"] for row in rows}) == 279
    assert all(row["prompt"].endswith("```\n\n") and "Question: " in row["prompt"] for row in rows)
    assert min(row["contest_date"] for row in rows) >= "2024-08" and max(row["contest_date"] for row in rows) < "2025-03"
    benchmark = get_benchmark("livecodebench_v5")
    assert (benchmark.default_n, benchmark.group_by) == (8, "difficulty")


def test_private_tests_decode_from_json_and_from_the_pickled_form():
    tests = [{"input": "1\n", "output": "2\n", "testtype": "stdin"}]
    assert decode_private_tests(json.dumps(tests)) == tests
    blob = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()
    assert decode_private_tests(blob) == tests


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    blob = base64.b64encode(zlib.compress(pickle.dumps(Exploit()))).decode()
    with pytest.raises(ValueError, match="refusing"):
        decode_private_tests(blob)
    assert not marker.exists()
    not_a_string = base64.b64encode(zlib.compress(pickle.dumps([1, 2]))).decode()
    with pytest.raises(ValueError, match="expected a JSON string"):
        decode_private_tests(not_a_string)
    with pytest.raises(ValueError):
        decode_private_tests("%%% neither json nor base64 %%%")


def test_hub_files_placed_in_the_cache_are_split_per_problem(cache, benchmark, monkeypatch):
    monkeypatch.setattr(sources, "_download", _no_network)
    items = benchmark.load(cache)
    assert [item.id for item in items] == ["fx_stdin_sum", "9001"]
    assert [item.meta["difficulty"] for item in items] == ["easy", "medium"]
    assert [item.meta["tests"] for item in items] == [3, 3]
    assert all(item.meta["tests_match_qwq"] for item in items)  # the MD5s QwQ's list records
    problems = cache.path("livecodebench_v5", "problems")
    record = json.loads((problems / "9001.json").read_text())
    assert record["fn_name"] == "pairSum" and record["tests"][1] == {"input": "[3, 2, 4]\n6", "output": "[1, 2]",
                                                                       "testtype": "functional"}
    assert record["md5"] == qwq_md5(record["tests"], "pairSum")
    cache.path("livecodebench_v5", "test5.jsonl").unlink()
    assert benchmark.load(cache) == items  # from the per-problem files alone


def test_missing_tests_are_downloaded_once_then_the_download_is_deleted(tmp_path, benchmark, monkeypatch):
    fetched = []

    def fake_download(repo_id, filename, directory):
        fetched.append(filename)
        if filename != "test4.jsonl":
            raise FileNotFoundError(f"{filename}: not in this fake hub")
        path = directory / filename
        shutil.copy(HUB_FIXTURE, path)
        return path

    monkeypatch.setattr(sources, "_download", fake_download)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    cache = DataCache(tmp_path)
    assert len(benchmark.load(cache)) == 2
    assert fetched == ["test5.jsonl", "test4.jsonl"]  # newest first, stopping once every problem is found
    assert not list(cache.path("livecodebench_v5", ".hub").glob("*.jsonl"))
    benchmark.load(cache)
    assert fetched == ["test5.jsonl", "test4.jsonl"]


def test_offline_error_names_the_files_and_the_directory(tmp_path, benchmark, monkeypatch):
    monkeypatch.setattr(sources, "_download", _no_network)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(DataUnavailable) as info:
        benchmark.load(DataCache(tmp_path))
    message = str(info.value)
    assert "2 problem(s) (9001, fx_stdin_sum)" in message
    assert str(tmp_path / "livecodebench_v5") in message
    assert "test5.jsonl" in message and "https://huggingface.co/datasets/livecodebench/code_generation_lite" in message


@pytest.mark.parametrize(("got", "want", "ok"), [
    ("6\n", "6", True),
    ("  6  \r\n\n", "\n6\n", True),
    ("1.0 2\n", "1 2.00\n", True),
    ("1e2\n", "100\n", True),
    ("50000000000000001\n", "50000000000000000\n", False),
    ("1 2\n3\n", "1 2\n", False),
    ("Yes\n", "yes\n", False),
    ("0.30000000000000004\n", "0.3\n", False),
])
def test_stdout_is_compared_as_livecodebench_compares_it(got, want, ok):
    assert lcb_outputs_match(got, want) is ok


def test_preamble_matches_livecodebench_imports():
    namespace: dict = {}
    exec(PREAMBLE, namespace)  # trusted: our own constant
    assert {"List", "deque", "defaultdict", "heappush", "bisect_left", "gcd", "accumulate", "lru_cache"} <= set(namespace)
    assert namespace["datetime"].__name__ == "datetime" and hasattr(namespace["datetime"], "date")  # the module


def _fenced(code: str) -> str:
    return f"<think>\nLet me think about this problem.\n</think>\n\n```python\n{code}\n```\n"


STDIN_SOLUTIONS = {
    "correct": "n = int(input())\nprint(sum(map(int, input().split())))",
    "wrong": "n = int(input())\nprint(n)",
    "timeout": "while True:\n    pass",
    "crash": "raise SystemExit(3)",
}
FUNCTIONAL_SOLUTIONS = {
    "correct": ("class Solution:\n    def pairSum(self, nums: List[int], target: int) -> List[int]:\n"
                "        seen = {}\n        for i, x in enumerate(nums):\n            if target - x in seen:\n"
                "                return (seen[target - x], i)\n            seen[x] = i"),
    "wrong": "class Solution:\n    def pairSum(self, nums, target):\n        return [0, 1]",
    "timeout": "class Solution:\n    def pairSum(self, nums, target):\n        while True:\n            pass",
}


@pytest.mark.usefixtures("sandbox_available")
def test_judging_in_the_sandbox(cache, benchmark, monkeypatch):
    monkeypatch.setattr(sources, "_download", _no_network)
    stdin_item, functional_item = benchmark.load(cache)
    cases = [(stdin_item, name, _fenced(code)) for name, code in STDIN_SOLUTIONS.items()]
    cases += [(functional_item, name, _fenced(code)) for name, code in FUNCTIONAL_SOLUTIONS.items()]
    cases += [
        (stdin_item, "no_code", "<think>\n```python\nprint(6)\n```\nstill thinking"),
        (stdin_item, "misleading", "<think>\n```python\n" + STDIN_SOLUTIONS["correct"] + "\n```\n</think>\n\n"
                                   "```python\nprint(6)\n```"),
    ]
    verdicts = benchmark.score([c[0] for c in cases], [c[2] for c in cases])
    got = {(item.id, name): (v.correct, v.reason, v.details.get("passed")) for (item, name, _), v in zip(cases, verdicts, strict=True)}
    assert got == {
        ("fx_stdin_sum", "correct"): (True, "correct", 3),
        ("fx_stdin_sum", "wrong"): (False, "wrong_answer", 0),
        ("fx_stdin_sum", "timeout"): (False, "timeout", 0),
        ("fx_stdin_sum", "crash"): (False, "runtime_error", 0),
        ("9001", "correct"): (True, "correct", 3),  # a tuple counts as the expected list
        ("9001", "wrong"): (False, "wrong_answer", 1),  # passes the public test only, then stops
        ("9001", "timeout"): (False, "timeout", 0),
        ("fx_stdin_sum", "no_code"): (False, "no_code", 0),
        ("fx_stdin_sum", "misleading"): (False, "wrong_answer", 2),  # the code after </think> is judged
    }

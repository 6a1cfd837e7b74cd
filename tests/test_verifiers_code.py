"""The code rewards: extraction, pass fraction and all-pass, masking, local and served sandbox."""

from __future__ import annotations

import asyncio
import json

import pytest

from sandbox import Limits, Sandbox
from sandbox.judge import JudgeResult, TestResult
from sandbox.server import build_service
from tests.sandbox_guard import sandbox_available  # noqa: F401 - fixture
from verifiers import VerifierError, build_reward

TESTS = [{"input": "1 2", "output": "3"}, {"input": "2 2", "output": "4"}, {"input": "3 4", "output": "12"}]
GOOD = "<think>add them</think>\n```python\na, b = map(int, input().split())\nprint(a + b)\n```"
HALF = "```python\na, b = map(int, input().split())\nprint(a * b if a > 2 else a + b + 1)\n```"
NO_CODE = "<think>hmm</think> the answer is 3"


def score(reward, completions, tests, **extra):
    return asyncio.run(reward([""] * len(completions), completions, tests=tests, **extra))


def test_pass_rate_and_all_pass(sandbox_available):  # noqa: F811
    rate = build_reward("code_pass_rate", {"wall_s": 3})
    every = build_reward("code_all_pass", {"wall_s": 3})
    rows = [TESTS, json.dumps(TESTS), TESTS, None]
    completions = [GOOD, HALF, NO_CODE, GOOD]
    logged = {}
    assert score(rate, completions, rows, log_metric=logged.__setitem__) == [pytest.approx(2 / 3), pytest.approx(1 / 3), 0.0, None]
    assert logged["verifiers/code/no_code"] == 0.25 and logged["verifiers/code/no_tests"] == 0.25
    assert score(every, completions, rows) == [0.0, 0.0, 0.0, None]
    fixed = GOOD.replace("print(a + b)", "print(a * b if a > 2 else a + b)")
    assert score(every, [fixed], [TESTS]) == [1.0]


def test_sandbox_failure_is_masked_not_scored(monkeypatch, sandbox_available):  # noqa: F811
    reward = build_reward("code_pass_rate", {})
    from sandbox import Judge

    monkeypatch.setattr(Judge, "judge", lambda self, *a, **k: JudgeResult([TestResult("sandbox_error")]))
    assert score(reward, [GOOD], [TESTS]) == [None]


def test_served_sandbox_gives_the_same_scores(sandbox_available):  # noqa: F811
    sb = Sandbox(limits=Limits(wall_s=3))
    service, app = build_service(sb, port=0, workers=2)
    service.start()
    try:
        remote = build_reward("code_pass_rate", {"server_url": service.url, "concurrency": 4})
        local = build_reward("code_pass_rate", {})
        completions = [GOOD, HALF, NO_CODE] * 3
        rows = [TESTS] * len(completions)
        assert score(remote, completions, rows) == score(local, completions, rows)
    finally:
        service.shutdown()
        app.close()
        sb.close()


def test_bad_params_fail_at_build_time():
    with pytest.raises(VerifierError, match="unknown language"):
        build_reward("code_pass_rate", {"language": "cobol"})
    with pytest.raises(VerifierError, match="Limits.wall_s"):
        build_reward("code_pass_rate", {"wall_s": 0})
    with pytest.raises(VerifierError, match="concurrency"):
        build_reward("code_all_pass", {"concurrency": 0})


def test_a_local_sandbox_without_isolation_fails_at_build_time(monkeypatch):
    import sandbox
    from sandbox import IsolationReport

    report = IsolationReport("unsafe-none", None, True, False, "uid 0", "bubblewrap not found: install it")
    monkeypatch.setattr(sandbox, "self_test", lambda: report)
    with pytest.raises(VerifierError, match="cannot isolate untrusted programs on this machine: bubblewrap not found"):
        build_reward("code_pass_rate", {})
    build_reward("code_all_pass", {"server_url": "http://sandbox.example:8080"})  # isolation is the server's


def test_missing_tests_column_names_the_param(sandbox_available):  # noqa: F811
    reward = build_reward("code_pass_rate", {"tests_column": "cases"})
    with pytest.raises(VerifierError, match="tests_column"):
        score(reward, [GOOD], TESTS)

"""Client of a sandbox server (``rltrain sandbox serve``): the same calls as :class:`sandbox.Judge`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sandbox.judge import JudgeResult, TestResult
from sandbox.limits import Limits
from sandbox.result import ExecResult
from sandbox.service import AsyncJsonClient, JsonClient


def judge_result_from_dict(data: dict[str, Any]) -> JudgeResult:
    tests = [TestResult(**{k: v for k, v in t.items() if k != "passed"}) for t in data["tests"]]
    return JudgeResult(tests, compile=ExecResult.from_dict(data["compile"]) if data.get("compile") else None)


def _judge_payload(code: str, language: str, tests: Sequence[Any], stop_on_first_failure: bool,
                   limits: Limits | None, float_tolerance: float | None, checker: str | None) -> dict[str, Any]:
    payload: dict[str, Any] = {"code": code, "language": language, "tests": list(tests),
                               "stop_on_first_failure": stop_on_first_failure}
    if limits is not None:
        payload["limits"] = limits.to_dict()
    if float_tolerance is not None:
        payload["float_tolerance"] = float_tolerance
    if checker is not None:
        payload["checker"] = checker
    return payload


class SandboxClient:
    """Talks to one sandbox server; retries, timeouts and connection reuse come from :class:`JsonClient`.

    ``timeout``: seconds one call may take in all, waits for a busy server (429/503, honouring its
    ``Retry-After``) included; ``retries``: repeats after connection errors. A busy server is waited
    out until then, never given up on after a fixed number of attempts: in training, giving up would
    mask the sample's reward for nothing but load. :attr:`busy_waits` counts those waits.
    """

    def __init__(self, url: str, *, timeout: float = 300.0, retries: int = 5) -> None:
        self.url = url
        self._sync = JsonClient(url, timeout=timeout, retries=retries)
        self._async = AsyncJsonClient(url, timeout=timeout, retries=retries)

    @property
    def busy_waits(self) -> int:
        """Waits for a busy or draining server so far (sync and async calls together)."""
        return self._sync.busy_waits + self._async.busy_waits

    def health(self) -> dict[str, Any]:
        return self._sync.get("/health")

    def run(self, code: str, language: str, *, stdin: str = "", limits: Limits | None = None) -> ExecResult:
        payload: dict[str, Any] = {"code": code, "language": language, "stdin": stdin}
        if limits is not None:
            payload["limits"] = limits.to_dict()
        return ExecResult.from_dict(self._sync.post("/run", payload))

    def judge(self, code: str, language: str, tests: Sequence[Any], *, stop_on_first_failure: bool = False,
              limits: Limits | None = None, float_tolerance: float | None = None, checker: str | None = None) -> JudgeResult:
        payload = _judge_payload(code, language, tests, stop_on_first_failure, limits, float_tolerance, checker)
        return judge_result_from_dict(self._sync.post("/judge", payload))

    async def ajudge(self, code: str, language: str, tests: Sequence[Any], *, stop_on_first_failure: bool = False,
                     limits: Limits | None = None, float_tolerance: float | None = None, checker: str | None = None) -> JudgeResult:
        payload = _judge_payload(code, language, tests, stop_on_first_failure, limits, float_tolerance, checker)
        return judge_result_from_dict(await self._async.post("/judge", payload))

    def close(self) -> None:
        self._sync.close()

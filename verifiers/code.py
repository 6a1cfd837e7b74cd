"""Code rewards: run the completion's program against the row's tests in the sandbox.

``code_pass_rate`` scores the fraction of tests passed; ``code_all_pass`` scores 1 only when every test
passes (and stops at the first failure, saving sandbox time). Both:

* take the **last fenced code block** of the recipe's language (```` ```python ````, ```` ```cpp ```` and
  their aliases) from the answer after ``</think>``; nothing is taken from an unfinished ``<think>``;
  a completion with no such block scores 0;
* read the row's tests from a dataset column (default ``tests``): a list, or a JSON string of one, of
  stdin/stdout tests ``{"input", "output"}``, function-call tests ``{"call", "expected"}`` or assert
  strings (see :mod:`sandbox.judge`); a row without tests gets ``None`` (another task's row);
* run locally in this process's sandbox, or on a sandbox server (``server_url``), with up to
  ``concurrency`` programs at once; they are ``async`` so TRL gathers them beside other async rewards;
* give ``None`` (masked, never a wrong answer) when the sandbox itself failed;
* refuse to be built (at recipe load) when the local sandbox cannot isolate programs on this machine
  (``rltrain sandbox self-test``); a recipe with ``server_url`` does not need bubblewrap locally.

Per batch they log ``verifiers/code/<verdict>``: the share of completions with each outcome
(``accepted``, ``wrong_answer``, ``timeout``, ``compile_error``, ``no_code`` …).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from verifiers.completions import completion_text
from verifiers.errors import VerifierError
from verifiers.registry import RewardFn, register_reward

__all__ = ["CodeReward", "extract_code"]

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+#-]*)[^\n]*\n(.*?)```", re.DOTALL)
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
#: Characters of a completion searched for code (the tail is kept).
MAX_COMPLETION_CHARS = 200_000


def _answer_part(text: str) -> str | None:
    """Text after the last ``</think>``; ``None`` inside an unfinished ``<think>``."""
    if THINK_CLOSE in text:
        return text.rsplit(THINK_CLOSE, 1)[1]
    if THINK_OPEN in text:
        return None
    return text


def extract_code(text: str, language: str) -> str | None:
    """The last fenced block tagged with ``language`` (or an alias); an untagged block if none is tagged."""
    from sandbox.languages import get_language

    aliases = {a.lower() for a in get_language(language).aliases} | {language.lower()}
    answer = _answer_part(text[-MAX_COMPLETION_CHARS:])
    if answer is None:
        return None
    tagged, untagged = None, None
    for match in _FENCE.finditer(answer):
        tag, body = match.group(1).lower(), match.group(2)
        if tag in aliases:
            tagged = body
        elif not tag:
            untagged = body
    code = tagged if tagged is not None else untagged
    return code if code and code.strip() else None


def _row_tests(value: Any) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise VerifierError(f"tests column holds a string that is not JSON: {exc}") from exc
    if isinstance(value, dict) and "inputs" in value and "outputs" in value:  # {"inputs": [...], "outputs": [...]}
        value = [{"input": i, "output": o} for i, o in zip(value["inputs"], value["outputs"], strict=True)]
    if not isinstance(value, list | tuple):
        raise VerifierError(f"tests must be a list of test cases, got {type(value).__name__}")
    return list(value) or None


def _require_isolation() -> None:
    """Fail at recipe load, not at the first code batch, when the local sandbox cannot isolate programs.

    Inside training, a sandbox that refuses to start would only mask every code reward (the guard turns
    errors into ``None``): the run would go on without the code signal.
    """
    from sandbox import self_test

    report = self_test()
    if report.level != "bwrap+seccomp":
        raise VerifierError(
            f"the local code sandbox cannot isolate untrusted programs on this machine: {report.detail}. "
            "Install what is missing (`make setup` installs bubblewrap; `rltrain sandbox self-test` checks), "
            "or set params.server_url to a sandbox server (`rltrain sandbox serve`) on a machine that can"
        )


class CodeReward:
    """An async TRL reward judging code blocks in the sandbox (see the module docstring)."""

    def __init__(self, *, language: str, tests_column: str, require_all: bool, wall_s: float, memory_mb: int,
                 concurrency: int, server_url: str | None, timeout: float = 120.0) -> None:
        from sandbox import Limits, SandboxError, get_language

        try:
            get_language(language)  # fail at recipe load on an unknown language
            self.limits = Limits(wall_s=wall_s, memory_mb=memory_mb)
        except SandboxError as exc:
            raise VerifierError(str(exc)) from exc
        if not server_url:
            _require_isolation()
        #: What TRL logs the reward as (``rewards/<name>/mean``): its registry name.
        self.__name__ = "code_all_pass" if require_all else "code_pass_rate"
        self.language = language
        self.tests_column = tests_column
        self.require_all = require_all
        self.concurrency = concurrency
        self.server_url = server_url
        if not timeout > 0:
            raise VerifierError(f"timeout must be positive, got {timeout}")
        self.timeout = timeout
        self._judge: Any = None
        self._client: Any = None

    def _backend(self) -> None:
        if self.server_url:
            if self._client is None:
                from sandbox.client import SandboxClient

                # A busy server is waited for up to the reward's own timeout, not given up on after a few
                # attempts: giving up masks the sample's reward for nothing but load.
                self._client = SandboxClient(self.server_url, timeout=self.timeout)
        elif self._judge is None:
            from sandbox import Judge, default_sandbox

            self._judge = Judge(default_sandbox())

    async def _score(self, text: str, tests: list[Any] | None, gate: asyncio.Semaphore) -> tuple[float | None, str]:
        if tests is None:
            return None, "no_tests"
        code = extract_code(text, self.language)
        if code is None:
            return 0.0, "no_code"
        kwargs = {"stop_on_first_failure": self.require_all, "limits": self.limits}
        async with gate:
            if self._client is not None:
                result = await self._client.ajudge(code, self.language, tests, **kwargs)
            else:
                result = await asyncio.to_thread(self._judge.judge, code, self.language, tests, **kwargs)
        if result.sandbox_error:
            return None, "sandbox_error"
        failed = next((t.verdict for t in result.tests if not t.passed and t.verdict != "skipped"), "accepted")
        if self.require_all:
            return (1.0 if result.all_passed else 0.0), failed
        return result.pass_fraction, failed

    async def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        self._backend()
        column = kwargs.get(self.tests_column)
        if column is None:
            raise VerifierError(f"the dataset has no {self.tests_column!r} column; set the reward's tests_column param")
        gate = asyncio.Semaphore(self.concurrency)
        texts = [completion_text(c) for c in completions]
        waits_before = self._client.busy_waits if self._client is not None else 0
        scored = await asyncio.gather(*(self._score(t, _row_tests(v), gate) for t, v in zip(texts, column, strict=True)))
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and scored:
            for verdict, count in Counter(v for _, v in scored).items():
                log_metric(f"verifiers/code/{verdict}", count / len(scored))
            if self._client is not None:  # how often a busy sandbox server made this batch wait
                log_metric("verifiers/code/busy_waits", self._client.busy_waits - waits_before)
        return [score for score, _ in scored]


def _build(require_all: bool, **params: Any) -> RewardFn:
    if params["concurrency"] < 1:
        raise VerifierError(f"concurrency must be at least 1, got {params['concurrency']}")
    return CodeReward(require_all=require_all, **params)


@register_reward("code_pass_rate")
def build_code_pass_rate(
    *, language: str = "python", tests_column: str = "tests", wall_s: float = 5.0, memory_mb: int = 1024,
    concurrency: int = 8, server_url: str | None = None, timeout: float = 120.0,
) -> RewardFn:
    """Fraction of the row's tests the completion's last code block passes, run in the sandbox.
    ``timeout``: seconds one sample may wait for a sandbox server, busy waits included (keep it at most
    ``rewards[].timeout``)."""
    return _build(False, language=language, tests_column=tests_column, wall_s=wall_s, memory_mb=memory_mb,
                  concurrency=concurrency, server_url=server_url, timeout=timeout)


@register_reward("code_all_pass")
def build_code_all_pass(
    *, language: str = "python", tests_column: str = "tests", wall_s: float = 5.0, memory_mb: int = 1024,
    concurrency: int = 8, server_url: str | None = None, timeout: float = 120.0,
) -> RewardFn:
    """1 when the completion's last code block passes every test of the row, else 0 (sandboxed).
    ``timeout``: as for ``code_pass_rate``."""
    return _build(True, language=language, tests_column=tests_column, wall_s=wall_s, memory_mb=memory_mb,
                  concurrency=concurrency, server_url=server_url, timeout=timeout)



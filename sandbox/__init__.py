"""Isolated execution of untrusted programs, and judging them against test cases.

Knows nothing about RL. Entry points:

* :func:`run` / :meth:`Sandbox.run`: one program, one stdin → :class:`ExecResult`;
* :func:`judge` / :meth:`Judge.judge`: one program against stdin/stdout or function-call tests →
  :class:`JudgeResult` with per-test verdicts and the pass fraction;
* :func:`self_test`: which isolation this machine gives (bubblewrap + seccomp + cgroups);
* :mod:`sandbox.server` / :mod:`sandbox.client`: the same over HTTP, for many trainer ranks.

The module-level :func:`run` and :func:`judge` share one default :class:`Sandbox` created on first
use (full isolation, default :class:`Limits`); build your own ``Sandbox`` for other settings.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sandbox.errors import SandboxError
from sandbox.executor import Sandbox
from sandbox.isolation import IsolationReport, self_test
from sandbox.judge import Judge, JudgeResult, Test, TestResult, parse_tests
from sandbox.languages import Language, get_language, languages
from sandbox.limits import Limits
from sandbox.result import ExecResult, Status

__all__ = [
    "ExecResult", "IsolationReport", "Judge", "JudgeResult", "Language", "Limits", "Sandbox", "SandboxError",
    "Status", "Test", "TestResult", "default_sandbox", "get_language", "judge", "languages", "parse_tests", "run",
    "self_test",
]


@functools.cache
def default_sandbox() -> Sandbox:
    """The process-wide sandbox behind :func:`run` and :func:`judge` (fully isolated, or an error)."""
    return Sandbox()


def run(code: str, language: str, *, stdin: str | bytes = "", limits: Limits | None = None) -> ExecResult:
    """Run ``code`` once in the default sandbox."""
    return default_sandbox().run(code, language, stdin=stdin, limits=limits)


def judge(
    code: str, language: str, tests: Sequence[Any], *, stop_on_first_failure: bool = False, limits: Limits | None = None,
    float_tolerance: float | None = None, checker: str | None = None,
) -> JudgeResult:
    """Judge ``code`` against ``tests`` in the default sandbox (see :mod:`sandbox.judge`)."""
    return Judge(default_sandbox()).judge(
        code, language, tests, stop_on_first_failure=stop_on_first_failure, limits=limits,
        float_tolerance=float_tolerance, checker=checker,
    )

"""What one sandboxed execution produced."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any


class Status(str, Enum):
    """Outcome of one execution. Only ``sandbox_error`` means the sandbox, not the program, failed."""

    OK = "ok"
    RUNTIME_ERROR = "runtime_error"
    COMPILE_ERROR = "compile_error"
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    SANDBOX_ERROR = "sandbox_error"


@dataclass(frozen=True)
class ExecResult:
    """One run of a program: status, exit code, captured output (truncated to caps) and usage."""

    status: Status
    exit_code: int | None = None
    #: Signal that ended the program, if any (e.g. 9 when killed at the wall-clock limit, 11 segfault).
    signal: int | None = None
    stdout: str = ""
    stderr: str = ""
    wall_ms: float = 0.0
    #: CPU time of every process of the run and their peak resident memory; measured through the run's
    #: cgroup, so ``None`` where cgroups are unavailable.
    cpu_ms: float | None = None
    peak_memory_kb: int | None = None
    #: True when stdout or stderr reached ``Limits.output_bytes`` and was cut.
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecResult:
        return cls(**{**data, "status": Status(data["status"])})

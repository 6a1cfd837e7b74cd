"""Resource limits for one sandboxed execution."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from sandbox.errors import SandboxError

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Limits applied to each run of a program (a compile step has its own, see ``compile_*``).

    Every limit is enforced by the kernel or by the supervising process, never by the program.
    """

    #: Wall-clock seconds before the whole process tree is killed (status ``timeout``).
    wall_s: float = 5.0
    #: CPU seconds (``RLIMIT_CPU``); defaults to ``wall_s`` rounded up. Busy threads add up.
    cpu_s: float | None = None
    #: Address-space limit in MiB (``RLIMIT_AS``) and, where cgroups are writable, memory limit.
    memory_mb: int = 1024
    #: Bytes kept of stdout and of stderr each; a program that writes more is killed (``output_limit``).
    output_bytes: int = 1 * MIB
    #: Size of the private writable ``/tmp`` in MiB (a tmpfs; writing past it fails with ENOSPC).
    tmp_mb: int = 64
    #: Largest file the program may write, in MiB (``RLIMIT_FSIZE``).
    file_mb: int = 32
    #: Open file descriptors (``RLIMIT_NOFILE``).
    open_files: int = 64
    #: Tasks (processes and threads) in the run's cgroup, where cgroups are writable (``pids.max``).
    #: Process creation is denied by the seccomp filter regardless; this bounds threads.
    tasks: int = 128
    #: Wall-clock seconds for compiling (compiled languages only).
    compile_wall_s: float = 30.0
    #: Address-space limit for the compiler, in MiB.
    compile_memory_mb: int = 2048

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SandboxError(f"Limits.{f.name} must be a number, got {value!r}")
            if value <= 0:
                raise SandboxError(f"Limits.{f.name} must be positive, got {value!r}")
        if self.memory_mb < 32:
            raise SandboxError(f"Limits.memory_mb={self.memory_mb} is too small to start an interpreter; use at least 32")

    @property
    def cpu_limit_s(self) -> int:
        """Whole CPU seconds for ``RLIMIT_CPU`` (at least 1)."""
        cpu = self.cpu_s if self.cpu_s is not None else self.wall_s
        return max(1, int(-(-cpu // 1)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, *, base: Limits | None = None) -> Limits:
        """Limits from a JSON object (unknown keys are an error naming the key and the known ones)."""
        base = base or cls()
        if not data:
            return base
        if not isinstance(data, dict):
            raise SandboxError(f"limits must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SandboxError(f"unknown limit(s) {unknown}; known: {sorted(known)}")
        return replace(base, **data)

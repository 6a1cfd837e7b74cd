"""Per-run cgroups (v1 ``pids``, ``memory`` and, if mounted, ``cpuacct`` controllers) where this process may create them.

A cgroup adds two guarantees that rlimits cannot give: a cap on the tasks of one run (threads
included) and a memory cap on resident memory *and* tmpfs pages, with the peak usage read back
exactly, as is the CPU time of every process of the run. Creating cgroups needs write access to the hierarchy (root on most machines; cluster nodes
usually deny it): where that fails, runs go on with seccomp and rlimits only, and
:func:`sandbox.isolation.self_test` reports it.

Run cgroups are created *under the cgroup this process is in*, so they nest inside whatever limit the
caller already has (a SLURM job, or the guard cgroup the hostile-program tests run in), never beside it.
Unified (v2-only) hierarchies are not driven yet; they are reported as unavailable.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("pids", "memory")
OPTIONAL_CONTROLLERS = ("cpuacct",)
GROUP_NAME = "rltrain-sandbox"


def _own_path(controller: str) -> str | None:
    """This process's cgroup path in the v1 hierarchy of ``controller`` (e.g. ``/`` or ``/job_1``)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return path
    return None


@dataclass(frozen=True)
class RunUsage:
    """What a run's cgroup recorded."""

    peak_memory_kb: int
    cpu_ms: float | None
    memory_limit_hit: bool
    tasks_limit_hit: bool


class RunCgroup:
    """One run's ``pids`` + ``memory`` cgroups; :meth:`join_script` puts the launcher into them."""

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs

    @classmethod
    def create(cls, base: dict[str, Path], *, memory_bytes: int, tasks: int) -> RunCgroup:
        name = f"run-{uuid.uuid4().hex[:12]}"
        dirs: dict[str, Path] = {}
        try:
            for controller, parent in base.items():
                path = parent / name
                path.mkdir()
                dirs[controller] = path
            (dirs["pids"] / "pids.max").write_text(str(tasks))
            memory = dirs["memory"]
            (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            swap = memory / "memory.memsw.limit_in_bytes"
            if swap.exists():
                swap.write_text(str(memory_bytes))
        except OSError:
            cls(dirs).remove()
            raise
        return cls(dirs)

    def join_command(self) -> list[str]:
        """A ``sh -c`` prefix that moves itself into the cgroups, then execs the rest of the argv."""
        script = " && ".join(f'echo $$ > "{d}/cgroup.procs"' for d in self.dirs.values()) + ' && exec "$@"'
        return ["/bin/sh", "-c", script, "sh"]

    def usage(self) -> RunUsage:
        memory = self.dirs["memory"]
        pids = self.dirs["pids"]

        def read_int(path: Path) -> int:
            try:
                return int(path.read_text().split()[-1])
            except (OSError, ValueError, IndexError):
                return 0

        return RunUsage(
            peak_memory_kb=read_int(memory / "memory.max_usage_in_bytes") // 1024,
            cpu_ms=read_int(self.dirs["cpuacct"] / "cpuacct.usage") / 1e6 if "cpuacct" in self.dirs else None,
            memory_limit_hit=read_int(memory / "memory.failcnt") > 0,
            tasks_limit_hit=read_int(pids / "pids.events") > 0,
        )

    def kill_all(self) -> None:
        """SIGKILL every task still in the run (a last resort; the pid namespace normally did it)."""
        procs = self.dirs["pids"] / "cgroup.procs"
        for _ in range(50):
            try:
                pids = [int(p) for p in procs.read_text().split()]
            except OSError:
                return
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)

    def remove(self) -> None:
        for path in self.dirs.values():
            for _ in range(100):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # EBUSY while the last tasks are being reaped
                    time.sleep(0.01)


def run_cgroup_base(root: Path = ROOT) -> dict[str, Path] | None:
    """Parent directories for run cgroups, or ``None`` where they cannot be created here."""
    base: dict[str, Path] = {}
    for controller in CONTROLLERS + OPTIONAL_CONTROLLERS:
        own = _own_path(controller)
        hierarchy = root / controller
        if own is None or not hierarchy.is_dir():
            if controller in OPTIONAL_CONTROLLERS:
                continue
            return None
        parent = hierarchy / own.lstrip("/") / GROUP_NAME
        try:
            parent.mkdir(exist_ok=True)
            probe = parent / f"probe-{os.getpid()}-{uuid.uuid4().hex[:6]}"
            probe.mkdir()
            probe.rmdir()
        except OSError:
            if controller in OPTIONAL_CONTROLLERS:
                continue
            return None
        base[controller] = parent
    return base

"""Per-thread cgroup *slots* (v1 ``pids``, ``memory`` and, if mounted, ``cpuacct``) for sandboxed runs.

A cgroup adds what rlimits cannot give: a cap on the tasks of a run (threads included), a memory cap
on resident memory *and* tmpfs pages with the exact peak read back, and the CPU time of every
process of the run.

Moving a process into a v1 cgroup waits for an RCU grace period (measured here: about 20 ms per
run, as much as bubblewrap itself), so runs are never moved. Instead each thread that launches runs
is moved once into a slot of its own (v1 places single threads through ``tasks``); the processes it
starts are born in the slot. A thread runs one program at a time, so before each run the slot is
emptied of anything a previous run left (the pid namespace normally took it down already), its
limits are set and its counters (peak memory, failures, CPU time) reset.

Slots are created *under the cgroup this process is in*, so they nest inside whatever limit the caller
already has (a SLURM job, the guard cgroup of the hostile-program tests), never beside it. Creating
cgroups needs write access to the hierarchy (root on most machines; cluster nodes usually deny it):
without it, runs go on with seccomp and rlimits only, and :func:`sandbox.isolation.self_test` says so.
Unified (v2-only) hierarchies are not driven yet; they are reported as unavailable.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("pids", "memory")
OPTIONAL_CONTROLLERS = ("cpuacct",)
GROUP_NAME = "rltrain-sandbox"
#: Tasks of the slot that are not the run: the launching thread and the stdin-writer thread it starts.
_OWN_TASKS = 2
#: Longest wait for a previous run's processes to leave a slot before the next run starts anyway.
STRAY_WAIT_S = 0.5
#: Tasks of finished runs a slot may still be charged for (see :meth:`Slot.start_run`) before its thread
#: moves to a fresh slot; also the most a run's task cap can exceed ``tasks`` by.
LINGER_LIMIT = 64


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


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return 0


@dataclass(frozen=True)
class RunUsage:
    """What a slot recorded for one run."""

    peak_memory_kb: int
    cpu_ms: float | None
    memory_limit_hit: bool
    tasks_limit_hit: bool


class Slot:
    """One thread's cgroups; :meth:`start_run` / :meth:`finish_run` bracket each program it launches.

    ``make_dirs(generation)`` creates the slot's directories and moves the thread into them; a new
    generation replaces a slot still charged for too many dead tasks (see :meth:`start_run`).
    """

    def __init__(self, make_dirs: Callable[[int], dict[str, Path]], tid: int) -> None:
        self._make_dirs = make_dirs
        self._generation = 0
        self.dirs = make_dirs(0)
        self.tid = tid
        #: Directories of earlier generations not removed yet (removed by :meth:`SlotPool.close` at the latest).
        self.retired: list[Path] = []
        self._events_before = 0
        self._cpu_before = 0.0

    def start_run(self, *, memory_bytes: int, tasks: int) -> None:
        """Empty the slot, set the run's limits, reset its counters.

        The task cap is ``tasks`` plus the launcher's own threads plus the *lingering* tasks: tasks of
        finished runs that were reaped but stay charged to the pids cgroup until the kernel releases
        them in a batched RCU callback (measured here: about one per run, for a second or more). Without
        them in the cap, a thread launching runs quickly failed them at bubblewrap's first fork. Past
        :data:`LINGER_LIMIT` lingering tasks the thread moves to a fresh slot (one cgroup migration, about
        20 ms), so a run's cap never exceeds ``tasks`` by more than that.
        """
        self.kill_strays()  # normally nothing: the previous run's pid namespace took everything down
        lingering = self.lingering()
        if lingering > LINGER_LIMIT:
            self._renew()
            lingering = self.lingering()
        memory = self.dirs["memory"]
        swap = memory / "memory.memsw.limit_in_bytes"
        # memsw must stay >= the memory limit: raise them in an order that keeps it so.
        if swap.exists() and _read_int(swap) < memory_bytes:
            swap.write_text(str(memory_bytes))
        (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
        if swap.exists():
            swap.write_text(str(memory_bytes))
        (memory / "memory.max_usage_in_bytes").write_text("0")
        (memory / "memory.failcnt").write_text("0")
        (self.dirs["pids"] / "pids.max").write_text(str(tasks + _OWN_TASKS + min(lingering, LINGER_LIMIT)))
        self._events_before = _read_int(self.dirs["pids"] / "pids.events")
        if "cpuacct" in self.dirs:
            (self.dirs["cpuacct"] / "cpuacct.usage").write_text("0")
        self._cpu_before = time.thread_time()

    def finish_run(self) -> RunUsage:
        """The run's usage (CPU time net of the launching thread's own)."""
        memory = self.dirs["memory"]
        own_cpu_ms = (time.thread_time() - self._cpu_before) * 1000
        cpu_ms = None
        if "cpuacct" in self.dirs:
            cpu_ms = max(0.0, _read_int(self.dirs["cpuacct"] / "cpuacct.usage") / 1e6 - own_cpu_ms)
        usage = RunUsage(
            peak_memory_kb=_read_int(memory / "memory.max_usage_in_bytes") // 1024,
            cpu_ms=cpu_ms,
            memory_limit_hit=_read_int(memory / "memory.failcnt") > 0,
            tasks_limit_hit=_read_int(self.dirs["pids"] / "pids.events") > self._events_before,
        )
        return usage

    def lingering(self) -> int:
        """Tasks charged to the slot's pids cgroup that no longer exist (exited and reaped, not released)."""
        pids = self.dirs["pids"]
        try:
            live = len((pids / "tasks").read_text().split())
        except OSError:
            return 0
        return max(0, _read_int(pids / "pids.current") - live)

    def _renew(self) -> None:
        """Move this thread to a fresh generation of the slot and retire (remove, if it can) the old one."""
        self.retired += self.dirs.values()
        self._generation += 1
        self.dirs = self._make_dirs(self._generation)
        self.retired = [path for path in self.retired if not _remove_cgroup(path, attempts=1)]

    def strays(self) -> list[int]:
        """Processes in the slot other than this one."""
        try:
            pids = [int(p) for p in (self.dirs["pids"] / "cgroup.procs").read_text().split()]
        except OSError:
            return []
        return [p for p in pids if p != os.getpid()]

    def kill_strays(self) -> None:
        """SIGKILL whatever a run left in the slot (a last resort behind the pid namespace), for at most
        :data:`STRAY_WAIT_S`.

        What is left is usually the previous run's last process, already dead and about to leave the
        cgroup within a millisecond or two, so the wait starts at half a millisecond and doubles (a
        fixed 10 ms sleep cost about one run in twenty 10 ms).
        """
        deadline = time.monotonic() + STRAY_WAIT_S
        delay = 0.0005
        while strays := self.strays():
            if time.monotonic() >= deadline:
                return
            for pid in strays:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(delay)
            delay = min(delay * 2, 0.01)


class SlotPool:
    """Slots by thread, created on a thread's first run under ``base`` (one directory per controller)."""

    def __init__(self, base: dict[str, Path]) -> None:
        self.base = base
        self._parents = {controller: path.parent for controller, path in base.items()}
        self._lock = threading.Lock()
        self._slots: dict[int, Slot] = {}
        self._name = uuid.uuid4().hex[:8]

    def current(self) -> Slot:
        """The calling thread's slot (the thread is moved into it on first use)."""
        tid = threading.get_native_id()
        slot = self._slots.get(tid)
        if slot is not None:
            return slot
        slot = Slot(functools.partial(self._make_dirs, tid), tid)
        with self._lock:
            self._slots[tid] = slot
        return slot

    def _make_dirs(self, tid: int, generation: int) -> dict[str, Path]:
        """Create generation ``generation`` of thread ``tid``'s slot and move the thread into it."""
        dirs: dict[str, Path] = {}
        for controller, parent in self.base.items():
            path = parent / f"slot-{self._name}-{tid}-{generation}"
            path.mkdir(exist_ok=True)
            dirs[controller] = path
        for path in dirs.values():
            (path / "tasks").write_text(str(tid))
        return dirs

    def close(self) -> None:
        """Move the threads back where they were and remove the slots."""
        with self._lock:
            slots, self._slots = list(self._slots.values()), {}
        for slot in slots:
            slot.kill_strays()
            for controller in slot.dirs:
                try:
                    (self._parents[controller] / "tasks").write_text(str(slot.tid))
                except OSError:
                    pass  # the thread has exited
            for path in [*slot.dirs.values(), *slot.retired]:
                _remove_cgroup(path, attempts=50)


def _remove_cgroup(path: Path, *, attempts: int) -> bool:
    """rmdir a cgroup, retrying while it is busy (10 ms apart); whether it is gone."""
    for attempt in range(attempts):
        try:
            path.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if attempt + 1 < attempts:
                time.sleep(0.01)
    return False


def run_cgroup_base(root: Path = ROOT) -> dict[str, Path] | None:
    """Parent directories for slots, or ``None`` where cgroups cannot be created here."""
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

"""A cgroup that confines the test process itself while hostile programs run.

If a sandbox regression let a fork bomb or a memory bomb through, it must fail a test, not take the
machine down. The fixture moves the pytest process into fresh v1 ``pids`` and ``memory`` cgroups
(children inherit them; the sandbox's own run cgroups nest inside), and moves it back afterwards.
Needs root and writable v1 controllers; elsewhere the hostile tests are skipped, except under CI,
where a missing guard is a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

ROOT = Path("/sys/fs/cgroup")
#: Tasks allowed beyond the test process's own threads.
EXTRA_TASKS = 300
MEMORY_LIMIT_BYTES = 6 * 1024**3


def _own(controller: str) -> str | None:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return path
    return None


class Guard:
    def __init__(self) -> None:
        self.original: dict[str, Path] = {}
        self.dirs: dict[str, Path] = {}

    def enter(self) -> None:
        name = f"rltrain-test-guard-{os.getpid()}"
        for controller in ("pids", "memory"):
            own = _own(controller)
            if own is None:
                raise OSError(f"no v1 {controller} controller")
            parent = ROOT / controller / own.lstrip("/")
            path = parent / name
            path.mkdir(exist_ok=True)
            self.original[controller] = parent
            self.dirs[controller] = path
        tasks = len(os.listdir("/proc/self/task"))
        (self.dirs["pids"] / "pids.max").write_text(str(tasks + EXTRA_TASKS))
        (self.dirs["memory"] / "memory.limit_in_bytes").write_text(str(MEMORY_LIMIT_BYTES))
        for path in self.dirs.values():
            (path / "cgroup.procs").write_text(str(os.getpid()))

    def stray_processes(self) -> list[int]:
        """Processes in the guard other than the test process (what a run left behind)."""
        procs = (self.dirs["pids"] / "cgroup.procs").read_text().split()
        return [int(p) for p in procs if int(p) != os.getpid()]

    def wait_no_strays(self, timeout: float = 2.0) -> list[int]:
        deadline = time.monotonic() + timeout
        strays = self.stray_processes()
        while strays and time.monotonic() < deadline:
            time.sleep(0.02)
            strays = self.stray_processes()
        return strays

    def exit(self) -> None:
        for parent in self.original.values():
            try:
                (parent / "cgroup.procs").write_text(str(os.getpid()))
            except OSError:
                pass
        for pid in self.stray_processes() if self.dirs else []:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for path in self.dirs.values():
            _remove_tree(path)


def _remove_tree(path: Path) -> None:
    """rmdir a cgroup and its children, deepest first (cgroup files cannot be unlinked)."""
    if not path.exists():
        return
    for child in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        for _ in range(50):
            try:
                child.rmdir()
                break
            except OSError:
                time.sleep(0.02)
    try:
        path.rmdir()
    except OSError:
        pass


def require_or_skip(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required in CI: see .ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def guard():
    if shutil.which("bwrap") is None:
        require_or_skip("bubblewrap is not installed (apt-get install bubblewrap)")
    if os.geteuid() != 0:
        require_or_skip("the hostile-program guard cgroup needs root")
    g = Guard()
    try:
        g.enter()
    except OSError as exc:
        g.exit()
        require_or_skip(f"cannot create the guard cgroup: {exc}")
    try:
        yield g
    finally:
        g.exit()


@pytest.fixture(scope="session")
def sandbox_available() -> None:
    """Skip (fail under CI) when this machine cannot isolate programs."""
    from sandbox import self_test

    report = self_test()
    if report.level != "bwrap+seccomp":
        require_or_skip(f"no isolation here: {report.detail}")

"""How a program is isolated: the bubblewrap command line and a start-up self-test.

Level ``bwrap+seccomp`` (the only level that runs untrusted code by default):

* namespaces: user (uid/gid 65534 inside), pid, network (no interfaces but a down loopback), ipc,
  uts and cgroup, via ``bwrap --unshare-all``; ``--new-session`` (no TIOCSTI into the caller's
  terminal), ``--die-with-parent``, ``--clearenv`` and no capabilities;
* filesystem: ``/usr`` read-only (plus a language's own read-only mounts), a private ``/tmp`` tmpfs of
  bounded size, fresh ``/proc`` and ``/dev``; no ``/etc``, ``/home``, ``/root``, no project tree, no
  other run's files; the root is remounted read-only;
* the seccomp filter of :mod:`sandbox.seccomp`; rlimits through ``prlimit``; per-run cgroups where
  writable (:mod:`sandbox.cgroups`).

Level ``unsafe-none`` runs the program as a plain subprocess with rlimits only. It exists for machines
without user namespaces (macOS, locked-down CI) and must be asked for by name: the sandbox refuses to
run otherwise when the self-test fails.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from sandbox.cgroups import run_cgroup_base
from sandbox.errors import SandboxError

Isolation = Literal["bwrap+seccomp", "unsafe-none"]
ISOLATION_LEVELS: tuple[str, ...] = ("bwrap+seccomp", "unsafe-none")
NOBODY = "65534"


def _host_root_links() -> list[str]:
    """Bind or link ``/bin``, ``/lib``… the way the host has them (merged-/usr or not)."""
    args: list[str] = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), f"/{name}"]
        elif path.is_dir():
            args += ["--ro-bind", str(path), f"/{name}"]
    return args


def bwrap_argv(
    bwrap: str, *, box: Path, out: Path | None, mounts: tuple[str, ...], tmp_bytes: int, seccomp_fd: int,
    status_fd: int, command: list[str],
) -> list[str]:
    """The full ``bwrap`` command running ``command`` with ``box`` read-only at ``/box``.

    ``out`` (compile steps only) is bound writable at ``/out``.
    """
    argv = [
        bwrap, "--unshare-all", "--unshare-user", "--uid", NOBODY, "--gid", NOBODY, "--hostname", "sandbox",
        "--die-with-parent", "--new-session", "--clearenv", "--cap-drop", "ALL",
        "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp", "--setenv", "LANG", "C.UTF-8",
        "--ro-bind", "/usr", "/usr", *_host_root_links(),
        "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
        "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
    ]
    for mount in mounts:
        argv += ["--ro-bind", mount, mount]
    argv += [
        "--size", str(tmp_bytes), "--tmpfs", "/tmp", "--proc", "/proc",
        # /dev (and /dev/shm) would otherwise be a second, unbounded tmpfs
        "--dev", "/dev", "--remount-ro", "/dev", "--ro-bind", str(box), "/box",
    ]
    if out is not None:
        argv += ["--bind", str(out), "/out"]
    argv += ["--chdir", "/tmp", "--remount-ro", "/", "--seccomp", str(seccomp_fd), "--json-status-fd", str(status_fd), "--", *command]
    return argv


@dataclass(frozen=True)
class IsolationReport:
    """What the self-test found: the level runs will use and each primitive's state."""

    level: str
    bwrap: str | None
    seccomp: bool
    cgroups: bool
    user: str
    detail: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _probe_bwrap(bwrap: str) -> str | None:
    """``None`` when a minimal sandboxed ``true`` with the run seccomp filter works, else the error."""
    import tempfile

    from sandbox.seccomp import filter_fd

    with tempfile.TemporaryDirectory(prefix="rltrain-probe-") as box:
        fd = filter_fd("run")
        status_r, status_w = os.pipe()
        try:
            argv = bwrap_argv(bwrap, box=Path(box), out=None, mounts=(), tmp_bytes=1 << 20, seccomp_fd=fd,
                              status_fd=status_w, command=["/usr/bin/true"])
            proc = subprocess.run(argv, check=False, capture_output=True, timeout=30, pass_fds=(fd, status_w), env={"PATH": "/usr/bin:/bin"})
        except (OSError, subprocess.SubprocessError) as exc:
            return str(exc)
        finally:
            for f in (fd, status_r, status_w):
                os.close(f)
    if proc.returncode != 0:
        return proc.stderr.decode(errors="replace").strip() or f"bwrap exited {proc.returncode}"
    return None


@functools.cache
def self_test() -> IsolationReport:
    """Probe bubblewrap, seccomp and cgroups once per process (about 20 ms)."""
    user = f"uid {os.getuid()}"
    bwrap = shutil.which("bwrap")
    try:
        from sandbox.seccomp import filter_bytes

        filter_bytes("run")
        seccomp, seccomp_error = True, ""
    except SandboxError as exc:
        seccomp, seccomp_error = False, str(exc)
    cgroups = run_cgroup_base() is not None
    if bwrap is None:
        detail = "bubblewrap not found: install it (Debian/Ubuntu: apt-get install bubblewrap)"
    elif not seccomp:
        detail = seccomp_error
    else:
        error = _probe_bwrap(bwrap)
        if error is None:
            detail = "namespaces, read-only /usr, private /tmp, seccomp" + (", cgroups" if cgroups else ", no cgroups (not writable)")
            return IsolationReport("bwrap+seccomp", bwrap, True, cgroups, user, detail)
        detail = f"bubblewrap failed: {error} (are unprivileged user namespaces enabled?)"
    return IsolationReport("unsafe-none", bwrap, seccomp, cgroups, user, detail)


def require(isolation: str) -> IsolationReport:
    """The report for ``isolation``, or an error explaining why that level cannot run here."""
    if isolation not in ISOLATION_LEVELS:
        raise SandboxError(f"unknown isolation {isolation!r}; use one of {list(ISOLATION_LEVELS)}")
    report = self_test()
    if isolation == "bwrap+seccomp" and report.level != "bwrap+seccomp":
        raise SandboxError(
            f"cannot isolate untrusted code here: {report.detail}. Fix that, or opt into running programs "
            "without isolation with isolation='unsafe-none' (only for code you trust)"
        )
    return report

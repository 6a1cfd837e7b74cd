"""How a program is isolated: the bubblewrap command line and a start-up self-test.

Level ``bwrap+seccomp`` (the only level that runs untrusted code by default):

* host identity: an unprivileged host uid. A caller that is root drops to :class:`RunIdentity`
  (nobody by default) with ``setpriv`` before bubblewrap starts, so the user namespace is created by,
  and maps the program to, that uid; an unprivileged caller's programs map to the caller's own uid.
  Root stays in the parent, which needs it only for cgroup slots;
* namespaces: user (uid/gid 65534 inside), pid, network (no interfaces but a down loopback), ipc,
  uts and cgroup, via ``bwrap --unshare-all``; ``--new-session`` (no TIOCSTI into the caller's
  terminal), ``--die-with-parent``, ``--clearenv`` and no capabilities;
* filesystem: ``/usr`` read-only (plus a language's own read-only mounts), a private ``/tmp`` tmpfs of
  bounded size, fresh ``/dev`` and a fresh ``/proc`` remounted read-only (no ``/proc/sys`` tunable,
  ``/proc/sysrq-trigger``, ``/proc/irq``... can be opened for writing) with docker's masked paths
  (``/proc/keys``, ``/proc/timer_list``, ``/proc/acpi``...) made unreadable; no ``/etc``, ``/home``,
  ``/root``, no project tree, no other run's files; the root is remounted read-only;
* the seccomp filter of :mod:`sandbox.seccomp`; rlimits through ``prlimit``; per-run cgroups where
  writable (:mod:`sandbox.cgroups`).

Level ``unsafe-none`` runs the program as a plain subprocess with rlimits only. It exists for machines
without user namespaces (macOS, locked-down CI) and must be asked for by name: the sandbox refuses to
run otherwise when the self-test fails. Its programs drop root the same way.

Why the drop matters: bubblewrap maps the program's uid to the uid that created its user namespace.
Created by root, the program would be host uid 0 for every permission check outside its namespaces:
``/proc/sys/kernel/core_pattern`` (run any binary as root on the next crash), ``vm/drop_caches`` and the
other sysctls would open for writing from inside. The read-only ``/proc`` alone closes those files, the
drop closes the whole class, and the self-test refuses the level if a probe run still maps to host uid 0.
"""

from __future__ import annotations

import functools
import json
import os
import select
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from sandbox.cgroups import run_cgroup_base
from sandbox.errors import SandboxError
from sandbox.process import LAUNCH_ENV, piped

Isolation = Literal["bwrap+seccomp", "unsafe-none"]
ISOLATION_LEVELS: tuple[str, ...] = ("bwrap+seccomp", "unsafe-none")
#: The uid and gid a program has *inside* its user namespace (what ``os.getuid()`` says in there).
INSIDE_ID = 65534
NOBODY = str(INSIDE_ID)
#: Seconds the self-test waits for its probe run.
PROBE_TIMEOUT_S = 30.0
#: ``/proc`` entries any uid can read that tell about the host (docker's masked paths): made unreadable.
MASKED_PROC_FILES = ("kcore", "keys", "key-users", "latency_stats", "timer_list", "timer_stats", "sched_debug")
MASKED_PROC_DIRS = ("acpi", "asound", "scsi")


@dataclass(frozen=True)
class RunIdentity:
    """The host uid and gid that run sandboxed programs when the caller is root.

    Why not root: bubblewrap maps the program to the uid that creates its user namespace, so a root
    caller's programs were host root for every check outside their namespaces (``/proc/sys`` writable).
    Why nobody/nogroup (65534) by default rather than a dedicated uid: it exists on every image this
    runs on (CI containers, cluster nodes) without a ``useradd`` step and owns no files; all runs sharing
    it gives a program nothing, since runs share no path, process, IPC or network namespace and no
    per-uid limit (``RLIMIT_NPROC``) is used. What it does share: other host processes that run as
    nobody (NFS root squashing, some daemons) own the run's user namespace and could signal or trace
    into it. Where such processes exist, pick an otherwise unused uid, e.g. ``RunIdentity(64000, 64000)``
    (``Sandbox(run_as=...)``, ``rltrain sandbox serve --run-as 64000:64000``). Supplementary groups are
    always cleared.
    """

    uid: int = 65534
    gid: int = 65534

    def __post_init__(self) -> None:
        for name in ("uid", "gid"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**32 - 1:
                raise SandboxError(f"run_as.{name}={value!r}: use an unprivileged id between 1 and {2**32 - 2}")

    @classmethod
    def parse(cls, text: str) -> RunIdentity:
        """``"UID:GID"`` or ``"UID"`` (gid = uid), as the command line gives it."""
        uid, _, gid = text.partition(":")
        try:
            return cls(int(uid), int(gid or uid))
        except ValueError:
            raise SandboxError(f"run_as {text!r}: expected UID:GID, e.g. 65534:65534") from None


DEFAULT_RUN_AS = RunIdentity()


def launch_identity(run_as: RunIdentity) -> RunIdentity | None:
    """``run_as`` when this process is root, else ``None``: an unprivileged caller cannot switch uid and
    needs not (bubblewrap then maps programs to the caller's own uid)."""
    return run_as if os.geteuid() == 0 else None


def privilege_drop_argv(identity: RunIdentity | None) -> list[str]:
    """The ``setpriv`` prefix that becomes ``identity`` before anything else of a run starts (empty for ``None``).

    ``setpriv`` rather than ``subprocess.Popen(user=...)``: with a uid to set, CPython forks instead of
    vforking, and a fork copies the caller's page tables. Measured here: 75 ms a launch from a process
    holding 3 GB (a trainer holds far more) against 1.4 ms for the extra ``setpriv`` exec.
    """
    if identity is None:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise SandboxError("setpriv (util-linux) not found: as root, programs are started through it to run as an "
                           "unprivileged uid; install util-linux (Debian 11 and older: apt-get install setpriv)")
    return [setpriv, f"--reuid={identity.uid}", f"--regid={identity.gid}", "--clear-groups", "--"]


def check_reachable(path: Path, identity: RunIdentity | None, *, what: str) -> None:
    """Raise unless ``identity`` can search ``path`` and every directory above it.

    bubblewrap runs as ``identity`` and binds each run's directory by path, so the path must be
    reachable by that uid (search permission only: it need not list anything).
    """
    if identity is None:
        return
    path = path.resolve()
    for directory in (path, *path.parents):
        try:
            st = directory.stat()
        except OSError as exc:
            raise SandboxError(f"{what} {path}: cannot stat {directory}: {exc}") from exc
        if st.st_uid == identity.uid:
            allowed = st.st_mode & stat.S_IXUSR
        elif st.st_gid == identity.gid:
            allowed = st.st_mode & stat.S_IXGRP
        else:
            allowed = st.st_mode & stat.S_IXOTH
        if not allowed:
            raise SandboxError(
                f"{what} {path}: {directory} is not searchable by uid {identity.uid}, which runs programs when the "
                f"caller is root; chmod o+x {directory}, or use a {what} under /tmp")


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


@functools.cache
def _proc_masks() -> tuple[str, ...]:
    """Mounts over the masked ``/proc`` entries this kernel has (the host's ``/proc`` tells which).

    A file gets ``/dev/null`` bound read-only (bubblewrap binds it ``nodev``: opening it fails), a
    directory an empty read-only tmpfs. After them ``/proc`` itself is remounted read-only; the masks
    are mounts of their own, so each is made read-only too.
    """
    args: list[str] = []
    for name in MASKED_PROC_FILES:
        if os.path.isfile(f"/proc/{name}"):
            args += ["--ro-bind", "/dev/null", f"/proc/{name}"]
    for name in MASKED_PROC_DIRS:
        if os.path.isdir(f"/proc/{name}"):
            args += ["--perms", "0555", "--size", "4096", "--tmpfs", f"/proc/{name}", "--remount-ro", f"/proc/{name}"]
    return tuple(args)


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
        "--size", str(tmp_bytes), "--tmpfs", "/tmp", "--proc", "/proc", *_proc_masks(), "--remount-ro", "/proc",
        # /dev (and /dev/shm) would otherwise be a second, unbounded tmpfs
        "--dev", "/dev", "--remount-ro", "/dev", "--ro-bind", str(box), "/box",
    ]
    if out is not None:
        argv += ["--bind", str(out), "/out"]
    argv += ["--chdir", "/tmp", "--remount-ro", "/", "--seccomp", str(seccomp_fd), "--json-status-fd", str(status_fd), "--", *command]
    return argv


@dataclass(frozen=True)
class IsolationReport:
    """What the self-test found: the level runs will use, each primitive's state, and who runs programs.

    ``user`` is the caller; ``run_uid``/``run_gid`` are the host ids a probe program mapped to (read
    from its uid and gid maps, ``None`` when no probe ran or it failed).
    """

    level: str
    bwrap: str | None
    seccomp: bool
    cgroups: bool
    user: str
    detail: str
    run_uid: int | None = None
    run_gid: int | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class ProbeOutcome:
    """One probe run: the error that stopped it, or the host ids its program mapped to."""

    error: str | None
    uid: int | None = None
    gid: int | None = None


def outside_id(id_map: str, inside: int) -> int | None:
    """The id ``inside`` maps to in a ``/proc/PID/uid_map`` or ``gid_map`` text, or ``None`` if unmapped."""
    for line in id_map.splitlines():
        parts = line.split()
        if len(parts) != 3 or not all(part.isdigit() for part in parts):
            continue
        start, outside, count = (int(part) for part in parts)
        if start <= inside < start + count:
            return outside + inside - start
    return None


def _read_child_pid(fd: int, timeout: float) -> int | None:
    """The ``child-pid`` bubblewrap writes to its status fd first, or ``None`` if it exited (or hung) without."""
    deadline = time.monotonic() + timeout
    data = b""
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        data += chunk
        try:
            doc, _ = json.JSONDecoder().raw_decode(data.decode(errors="replace").lstrip())
        except json.JSONDecodeError:
            continue
        pid = doc.get("child-pid") if isinstance(doc, dict) else None
        return pid if isinstance(pid, int) else None
    return None


def _echoed(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Write a line to the probe's ``cat`` and wait until it comes back: the program then runs, so
    bubblewrap has written every uid map (``child-pid`` comes before them)."""
    stdin, stdout = piped(proc.stdin), piped(proc.stdout)
    try:
        stdin.write(b"ready\n")
        stdin.flush()
    except OSError:
        return False
    ready, _, _ = select.select([stdout], [], [], timeout)
    return bool(ready) and os.read(stdout.fileno(), 64).startswith(b"ready")


def _host_ids(pid: int) -> tuple[int | None, int | None]:
    """The host uid and gid the sandbox's ``INSIDE_ID`` maps to, read from this side.

    Read from the host, not from inside: bubblewrap nests a second user namespace (to mount devpts
    it first maps the caller to 0), so a program's own ``/proc/self/uid_map`` names the *intermediate*
    namespace's 0 whoever the caller is. The kernel gives an outside reader the map resolved to the
    reader's namespace, through every level.
    """
    uid_map = Path(f"/proc/{pid}/uid_map").read_text()
    gid_map = Path(f"/proc/{pid}/gid_map").read_text()
    return outside_id(uid_map, INSIDE_ID), outside_id(gid_map, INSIDE_ID)


def _probe_bwrap(bwrap: str, prefix: list[str]) -> ProbeOutcome:
    """Start a minimal sandboxed program with the run seccomp filter, launched as runs are, and read the
    host ids it maps to while it waits on stdin; then let it exit."""
    from sandbox.seccomp import filter_fd

    with tempfile.TemporaryDirectory(prefix="rltrain-probe-") as box:
        os.chmod(box, 0o755)  # bubblewrap may run as another uid (see RunIdentity): it must reach the box
        fd = filter_fd("run")
        status_r, status_w = os.pipe()
        ids: tuple[int | None, int | None] = (None, None)
        ids_error = ""
        try:
            argv = prefix + bwrap_argv(bwrap, box=Path(box), out=None, mounts=(), tmp_bytes=1 << 20, seccomp_fd=fd,
                                       status_fd=status_w, command=["cat"])
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    pass_fds=(fd, status_w), env=LAUNCH_ENV, start_new_session=True)
            os.close(status_w)
            status_w = -1
            try:
                child = _read_child_pid(status_r, PROBE_TIMEOUT_S)
                if child is None or not _echoed(proc, PROBE_TIMEOUT_S):  # echoed: namespaces final, the program runs
                    ids_error = f"the probe program did not start within {PROBE_TIMEOUT_S:g} s"
                else:
                    try:
                        ids = _host_ids(child)
                    except OSError as exc:
                        ids_error = f"cannot read the probe's uid map: {exc}"
            finally:
                try:
                    _, stderr = proc.communicate(timeout=PROBE_TIMEOUT_S)  # closes stdin: cat exits
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    _, stderr = proc.communicate()
        except (OSError, subprocess.SubprocessError) as exc:
            return ProbeOutcome(str(exc))
        finally:
            for f in (fd, status_r, status_w):
                if f >= 0:
                    os.close(f)
    if proc.returncode != 0:
        return ProbeOutcome(stderr.decode(errors="replace").strip() or f"bwrap exited {proc.returncode}")
    if ids_error or None in ids:
        return ProbeOutcome(ids_error or "the probe program's uid/gid is not mapped to any host id")
    return ProbeOutcome(None, *ids)


def probe_isolation(run_as: RunIdentity) -> IsolationReport:
    """Probe bubblewrap, seccomp and cgroups, launching the probe as runs are launched (uncached)."""
    user = f"uid {os.getuid()}"
    bwrap = shutil.which("bwrap")
    try:
        from sandbox.seccomp import filter_bytes

        filter_bytes("run")
        seccomp, seccomp_error = True, ""
    except SandboxError as exc:
        seccomp, seccomp_error = False, str(exc)
    cgroups = run_cgroup_base() is not None
    outcome = ProbeOutcome(None)
    if bwrap is None:
        detail = "bubblewrap not found: install it (Debian/Ubuntu: apt-get install bubblewrap)"
    elif not seccomp:
        detail = seccomp_error
    else:
        identity = launch_identity(run_as)
        try:
            prefix = privilege_drop_argv(identity)
        except SandboxError as exc:
            return IsolationReport("unsafe-none", bwrap, seccomp, cgroups, user, str(exc))
        outcome = _probe_bwrap(bwrap, prefix)
        if outcome.error is not None:
            detail = f"bubblewrap failed: {outcome.error} (are unprivileged user namespaces enabled?)"
        elif outcome.uid == 0 or outcome.gid == 0:
            detail = (f"sandboxed programs would run as host uid {outcome.uid} gid {outcome.gid}: they could write "
                      "/proc/sys and every root-owned file they can reach; run as a non-root user, or as root with "
                      "setpriv available (programs then drop to an unprivileged uid)")
        else:
            dropped = ", dropped from root" if identity is not None else ""
            detail = (f"namespaces, read-only /usr and /proc, private /tmp, seccomp, programs run as host uid "
                      f"{outcome.uid} gid {outcome.gid}{dropped}" + (", cgroups" if cgroups else ", no cgroups (not writable)"))
            return IsolationReport("bwrap+seccomp", bwrap, True, cgroups, user, detail, outcome.uid, outcome.gid)
    return IsolationReport("unsafe-none", bwrap, seccomp, cgroups, user, detail, outcome.uid, outcome.gid)


@functools.cache
def self_test(run_as: RunIdentity = DEFAULT_RUN_AS) -> IsolationReport:
    """Probe bubblewrap, seccomp and cgroups once per process and identity (about 20 ms)."""
    return probe_isolation(run_as)


def require(isolation: str, run_as: RunIdentity = DEFAULT_RUN_AS) -> IsolationReport:
    """The report for ``isolation``, or an error explaining why that level cannot run here."""
    if isolation not in ISOLATION_LEVELS:
        raise SandboxError(f"unknown isolation {isolation!r}; use one of {list(ISOLATION_LEVELS)}")
    report = self_test(run_as)
    if isolation == "bwrap+seccomp" and report.level != "bwrap+seccomp":
        raise SandboxError(
            f"cannot isolate untrusted code here: {report.detail}. Fix that, or opt into running programs "
            "without isolation with isolation='unsafe-none' (only for code you trust)"
        )
    return report

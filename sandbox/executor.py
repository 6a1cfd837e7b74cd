"""``Sandbox``: run one program, isolated, under limits; compile once per source for compiled languages.

One call is one process tree::

    [setpriv (as root: drop to the run uid)] → prlimit (rlimits) → bwrap (namespaces, mounts, seccomp) → program

started from a thread that sits in its own cgroup slot where cgroups are writable (see
:mod:`sandbox.cgroups`), and :func:`sandbox.process.supervise` streams its output and kills it at the wall-clock limit. The
program's source is written to a fresh host directory bound read-only at ``/box``; nothing the
program creates is ever read back by the host except its stdout and stderr (and a compiler's artifact).

When the caller is root, everything after ``setpriv`` runs as the unprivileged
:class:`sandbox.isolation.RunIdentity`, so the directories bubblewrap binds are laid out for that uid:
``work_dir`` and ``build/`` are searchable but not listable (0711), a box is world-readable and
read-only (0555: no secret ever enters it), and a compile's ``/out`` belongs to the run uid (0700).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import tempfile
import threading
import weakref
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sandbox.cgroups import RunUsage, SlotPool, run_cgroup_base
from sandbox.errors import SandboxError
from sandbox.isolation import (
    DEFAULT_RUN_AS,
    IsolationReport,
    RunIdentity,
    bwrap_argv,
    check_reachable,
    launch_identity,
    privilege_drop_argv,
    require,
)
from sandbox.languages import Language, get_language
from sandbox.limits import MIB, Limits
from sandbox.process import Supervised, supervise
from sandbox.result import ExecResult, Status
from sandbox.seccomp import Policy, filter_fd

#: Largest source accepted, in bytes.
MAX_SOURCE_BYTES = 1 * MIB
#: Largest stdin accepted, in bytes.
MAX_STDIN_BYTES = 64 * MIB
_MEMORY_MARKERS = (b"MemoryError", b"std::bad_alloc", b"Cannot allocate memory", b"out of memory")
#: cgroup memory headroom over ``memory_mb``: tmpfs pages are charged to the run too.
_CGROUP_HEADROOM_MB = 32


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _remove_owned_dir(path: Path, owner_pid: int) -> None:
    if os.getpid() == owner_pid:
        shutil.rmtree(path, ignore_errors=True)


class Sandbox:
    """Runs untrusted programs. Thread-safe: one instance serves any number of concurrent runs.

    ``isolation`` is ``"bwrap+seccomp"`` (default; refuses to start if the self-test fails) or
    ``"unsafe-none"`` (no isolation, for trusted code on machines without user namespaces).
    ``cgroups`` uses cgroups when the hierarchy is writable (``"auto"``), never (``"off"``), or
    requires them (``"on"``). ``max_parallel`` bounds the runs in flight at once when cgroups are used.
    ``run_as`` is the host uid/gid programs run as when this process is root (default nobody, see
    :class:`sandbox.isolation.RunIdentity`); an unprivileged caller's programs run as the caller.
    """

    def __init__(self, *, isolation: str = "bwrap+seccomp", limits: Limits | None = None, cgroups: str = "auto",
                 work_dir: str | Path | None = None, max_parallel: int = 32, run_as: RunIdentity | None = None) -> None:
        run_as = run_as or DEFAULT_RUN_AS
        self.report: IsolationReport = require(isolation, run_as)
        #: Who runs programs on the host when it is not this process's own uid (``None``: the caller).
        self.run_identity = launch_identity(run_as)
        self._drop = privilege_drop_argv(self.run_identity)
        self._owned_dir = work_dir is None
        self.work_dir = self._prepare_work_dir(work_dir)
        # A scratch directory of our own goes at close() or, for an instance never closed (the process-wide
        # default sandbox), when the interpreter exits; never from a forked child that inherited it.
        self._remove_work_dir = (weakref.finalize(self, _remove_owned_dir, self.work_dir, os.getpid())
                                 if self._owned_dir else None)
        self.isolation = isolation
        self.limits = limits or Limits()
        if cgroups not in ("auto", "on", "off"):
            raise SandboxError(f"cgroups={cgroups!r}: use 'auto', 'on' or 'off'")
        base = None if cgroups == "off" else run_cgroup_base()
        if cgroups == "on" and base is None:
            raise SandboxError("cgroups='on' but no writable cgroup v1 pids/memory hierarchy here; use cgroups='auto'")
        self._slots = SlotPool(base) if base is not None else None
        #: Threads that launch runs when cgroups are used (each owns a cgroup slot).
        self._launchers = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="sandbox-launch")
        prlimit = shutil.which("prlimit")
        if prlimit is None:
            raise SandboxError("prlimit (util-linux) not found: install util-linux")
        self._prlimit: str = prlimit
        self._compile_lock = threading.Lock()
        self._compile_locks: dict[str, threading.Lock] = {}
        self._compiled: dict[str, ExecResult | Path] = {}

    # -- public API ---------------------------------------------------------------------------------

    @property
    def cgroups(self) -> bool:
        return self._slots is not None

    def run(self, code: str, language: str, *, stdin: str | bytes = "", limits: Limits | None = None) -> ExecResult:
        """Run ``code`` once. Program failures come back as a status; bad arguments raise SandboxError."""
        lang = get_language(language)
        limits = limits or self.limits
        source = self._check_source(code)
        data = stdin.encode() if isinstance(stdin, str) else bytes(stdin)
        if len(data) > MAX_STDIN_BYTES:
            raise SandboxError(f"stdin is {len(data)} bytes; the limit is {MAX_STDIN_BYTES}")
        if lang.compiled:
            built = self.compile(code, lang.name, limits=limits)
            if isinstance(built, ExecResult):
                return built
            return self.execute_files(lang, {lang.artifact: built}, stdin=data, limits=limits)
        return self.execute_files(lang, {lang.source_name: source}, stdin=data, limits=limits)

    def compile(self, code: str, language: str, *, limits: Limits | None = None) -> Path | ExecResult:
        """The compiled artifact for ``code`` (cached by source hash), or the failed compile's result."""
        lang = get_language(language)
        limits = limits or self.limits
        if not lang.compiled:
            raise SandboxError(f"{lang.name} is not a compiled language")
        source = self._check_source(code)
        key = hashlib.sha256(b"\0".join([lang.name.encode(), *(p.encode() for p in lang.compile), source])).hexdigest()
        with self._compile_lock:
            lock = self._compile_locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._compiled:
                return self._compiled[key]
            out = self._fresh_out_dir(key)
            compile_limits = Limits(
                wall_s=limits.compile_wall_s, memory_mb=limits.compile_memory_mb, output_bytes=64 * 1024,
                tmp_mb=256, file_mb=256, open_files=256, tasks=64,
            )
            result = self.execute_files(lang, {lang.source_name: source}, stdin=b"", limits=compile_limits,
                                        command=lang.compile_argv(), out=out, policy="compile")
            artifact = out / lang.artifact
            if result.status is Status.OK and artifact.is_file() and not artifact.is_symlink():
                built: Path | ExecResult = artifact
            else:
                status = Status.SANDBOX_ERROR if result.status is Status.SANDBOX_ERROR else Status.COMPILE_ERROR
                built = ExecResult(status=status, exit_code=result.exit_code, signal=result.signal, stdout=result.stdout,
                                   stderr=result.stderr, wall_ms=result.wall_ms, cpu_ms=result.cpu_ms,
                                   peak_memory_kb=result.peak_memory_kb, truncated=result.truncated)
            if built is not None and not (isinstance(built, ExecResult) and built.status is Status.SANDBOX_ERROR):
                self._compiled[key] = built
            return built

    def _prepare_work_dir(self, work_dir: str | Path | None) -> Path:
        """The scratch directory (a fresh temporary one by default), reachable by the run uid."""
        path = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="rltrain-sandbox-"))
        path.mkdir(parents=True, exist_ok=True)
        if self.run_identity is None:
            return path
        if work_dir is None:
            os.chmod(path, 0o711)  # mkdtemp's 0700 would stop bubblewrap, running as the run uid, at the door
        try:
            check_reachable(path, self.run_identity, what="work_dir")
        except SandboxError:
            if work_dir is None:
                shutil.rmtree(path, ignore_errors=True)
            raise
        return path

    def _fresh_out_dir(self, key: str) -> Path:
        """An empty ``build/<key>`` the compile step (running as the run uid) may write, and only it."""
        build = self.work_dir / "build"
        build.mkdir(exist_ok=True)
        out = build / key
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(mode=0o700)
        if self.run_identity is not None:
            os.chmod(build, 0o711)  # a umask of 077 would otherwise keep the run uid out
            os.chown(out, self.run_identity.uid, self.run_identity.gid)
        return out

    def close(self) -> None:
        """Remove the build cache and scratch directories this instance created."""
        self._launchers.shutdown(wait=True)
        if self._slots is not None:
            self._slots.close()
        if self._remove_work_dir is not None:
            self._remove_work_dir()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _check_source(code: str) -> bytes:
        if not isinstance(code, str):
            raise SandboxError(f"code must be a string, got {type(code).__name__}")
        source = code.encode("utf-8", errors="surrogatepass")
        if len(source) > MAX_SOURCE_BYTES:
            raise SandboxError(f"source is {len(source)} bytes; the limit is {MAX_SOURCE_BYTES}")
        return source

    def execute_files(
        self, lang: Language, files: Mapping[str, bytes | Path], *, stdin: bytes, limits: Limits, entry: str | None = None,
        command: list[str] | None = None, out: Path | None = None, policy: Policy = "run",
    ) -> ExecResult:
        """Run ``lang``'s command (or ``command``) over ``files`` placed read-only in ``/box``.

        ``files`` maps names to content, or to a host file to copy (a compiled artifact); ``entry``
        names the file to start; ``out`` (compile steps) is a host directory bound writable at ``/out``.
        With cgroups, the run is launched from one of this sandbox's own threads (each sits in its
        cgroup slot, see :mod:`sandbox.cgroups`); otherwise from the calling thread.
        """
        for name in files:
            if "/" in name or name in ("", ".", ".."):
                raise SandboxError(f"file name {name!r} must be a plain name (it is placed in /box)")
        args = (lang, files, stdin, limits, command or lang.run_argv(entry), out, policy)
        if self._slots is None:
            return self._execute(*args)
        return self._launchers.submit(self._execute, *args).result()

    def _execute(self, lang: Language, files: Mapping[str, bytes | Path], stdin: bytes, limits: Limits,
                 command: list[str], out: Path | None, policy: Policy) -> ExecResult:
        with ExitStack() as stack:
            box = Path(tempfile.mkdtemp(prefix="box-", dir=self.work_dir))
            stack.callback(shutil.rmtree, box, True)
            for name, content in files.items():
                if isinstance(content, Path):
                    shutil.copyfile(content, box / name)
                    os.chmod(box / name, 0o555)
                else:
                    (box / name).write_bytes(content)
                    os.chmod(box / name, 0o444)
            os.chmod(box, 0o555)
            stack.callback(os.chmod, box, 0o755)
            argv = [
                *self._drop, self._prlimit, f"--as={limits.memory_mb * MIB}", f"--cpu={limits.cpu_limit_s}:{limits.cpu_limit_s + 1}",
                f"--fsize={limits.file_mb * MIB}", f"--nofile={limits.open_files}", "--core=0", "--",
            ]
            slot = None
            if self._slots is not None:
                slot = self._slots.current()
                slot.start_run(memory_bytes=(limits.memory_mb + limits.tmp_mb + _CGROUP_HEADROOM_MB) * MIB, tasks=limits.tasks)
            if self.isolation == "unsafe-none":
                argv += self._unsafe_command(command, box, out)
                sup = supervise(argv, stdin=stdin, wall_s=limits.wall_s, output_bytes=limits.output_bytes)
                return self._classify(sup, None, slot.finish_run() if slot else None, limits.cpu_limit_s)
            seccomp_fd = filter_fd(policy)
            stack.callback(os.close, seccomp_fd)
            status_r, status_w = os.pipe()
            stack.callback(os.close, status_r)
            try:
                argv += bwrap_argv(self.report.bwrap or "bwrap", box=box, out=out, mounts=lang.mounts,
                                   tmp_bytes=limits.tmp_mb * MIB, seccomp_fd=seccomp_fd, status_fd=status_w, command=command)
                sup = supervise(argv, stdin=stdin, wall_s=limits.wall_s, output_bytes=limits.output_bytes,
                                pass_fds=(seccomp_fd, status_w))
            finally:
                os.close(status_w)
            usage = slot.finish_run() if slot else None
            return self._classify(sup, _read_status(status_r), usage, limits.cpu_limit_s)

    @staticmethod
    def _unsafe_command(command: list[str], box: Path, out: Path | None) -> list[str]:
        mapping = {"/box": str(box), "/out": str(out) if out else "/out"}
        return [next((arg.replace(k, v, 1) for k, v in mapping.items() if arg.startswith(k)), arg) for arg in command]

    @staticmethod
    def _classify(sup: Supervised, status: dict[str, Any] | None, usage: RunUsage | None, cpu_limit_s: int) -> ExecResult:
        """The run's result: its verdict plus the output and usage that every verdict carries alike."""
        verdict, exit_code, sig = _verdict(sup, status, usage, cpu_limit_s)
        return ExecResult(
            verdict, exit_code, sig, stdout=_decode(sup.stdout), stderr=_decode(sup.stderr), wall_ms=round(sup.wall_s * 1000, 2),
            cpu_ms=round(usage.cpu_ms, 2) if usage and usage.cpu_ms is not None else None,
            peak_memory_kb=usage.peak_memory_kb if usage else None, truncated=sup.output_capped,
        )


def _verdict(sup: Supervised, status: dict[str, Any] | None, usage: RunUsage | None,
             cpu_limit_s: int) -> tuple[Status, int | None, int | None]:
    """Status, exit code and ending signal of a run, from the launcher's exit and bwrap's status fd (``None``
    when the run was not under bwrap)."""
    exit_code, sig = sup.returncode, None
    if status is not None:
        if "child-pid" not in status:  # bwrap never started the program
            if sup.timed_out:
                return Status.TIMEOUT, None, signal.SIGKILL
            return Status.SANDBOX_ERROR, exit_code, None
        exit_code = status.get("exit-code", exit_code)
    if exit_code is not None and exit_code < 0:
        sig, exit_code = -exit_code, None
    elif exit_code is not None and exit_code > 128 and status is not None:
        sig = exit_code - 128  # bwrap reports a signal death as 128 + signal
    if sup.timed_out:
        return Status.TIMEOUT, exit_code, sig or signal.SIGKILL
    if sup.output_capped:
        return Status.OUTPUT_LIMIT, exit_code, sig
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and _cpu_limit_reached(usage, cpu_limit_s)):
        return Status.TIMEOUT, exit_code, sig
    if exit_code == 0 and sig is None:
        return Status.OK, 0, None
    memory_hit = (usage is not None and usage.memory_limit_hit and sig == signal.SIGKILL) or any(
        marker in sup.stderr for marker in _MEMORY_MARKERS)
    if memory_hit:
        return Status.MEMORY_LIMIT, exit_code, sig
    return Status.RUNTIME_ERROR, exit_code, sig


def _cpu_limit_reached(usage: RunUsage | None, cpu_limit_s: int) -> bool:
    """A SIGKILL at the hard ``RLIMIT_CPU`` (one second past the soft limit's SIGXCPU, for a program that
    ignores it). Known only where ``cpuacct`` measures the run's CPU time."""
    return usage is not None and usage.cpu_ms is not None and usage.cpu_ms >= cpu_limit_s * 1000 * 0.95


def _read_status(fd: int) -> dict[str, Any]:
    """Merge the JSON documents bwrap wrote to its status fd (``child-pid``, then ``exit-code``)."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    merged: dict[str, Any] = {}
    decoder = json.JSONDecoder()
    text = b"".join(chunks).decode(errors="replace")
    pos = 0
    while pos < len(text):
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            break
        if isinstance(doc, dict):
            merged.update(doc)
    return merged

"""Supervise one launched process tree: feed stdin, stream output under caps, kill at the deadline.

Output is read while the program runs (never only after exit), so a flood of output is cut at the
cap within milliseconds and a writer can never block on a full pipe. The process is started in its
own session; on a deadline or an output cap the whole process group is killed with SIGKILL (the
sandbox's pid namespace then takes every descendant with it).
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import IO

#: Environment of the launcher itself: nothing of the caller's environment reaches the sandbox, not
#: even through ``/proc/1/environ`` of the sandbox's init process.
LAUNCH_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
_READ_CHUNK = 65536
#: Seconds the pipes may stay open after the launcher exited (output still in flight).
EXIT_GRACE_S = 0.2


@dataclass(frozen=True)
class Supervised:
    """Raw facts about one process tree, before any interpretation."""

    returncode: int | None  # exit status of the launcher (negative: killed by that signal)
    stdout: bytes
    stderr: bytes
    wall_s: float
    timed_out: bool
    output_capped: bool


def piped(stream: IO[bytes] | None) -> IO[bytes]:
    """A stream of a ``Popen`` started with ``subprocess.PIPE`` for it: always set then, though typed optional."""
    if stream is None:
        raise RuntimeError("the process was started without a pipe for this stream")
    return stream


def _write_stdin(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError, ValueError):
        pass  # the program exited or closed stdin without reading it all: its business
    finally:
        try:
            pipe.close()
        except (BrokenPipeError, OSError, ValueError):
            pass


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def supervise(
    argv: list[str], *, stdin: bytes, wall_s: float, output_bytes: int, pass_fds: tuple[int, ...] = (),
) -> Supervised:
    """Run ``argv`` to completion or to ``wall_s``; keep at most ``output_bytes`` of each stream.

    The loop waits on the two pipes and on a pidfd of the launcher, so it wakes the moment output
    arrives or the launcher exits; descendants that keep the pipes open after that get
    ``EXIT_GRACE_S`` before the group is killed.
    """
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=LAUNCH_ENV,
        pass_fds=pass_fds, start_new_session=True, close_fds=True,
    )
    stdin_pipe, stdout_pipe, stderr_pipe = piped(proc.stdin), piped(proc.stdout), piped(proc.stderr)
    writer = None
    if stdin:
        writer = threading.Thread(target=_write_stdin, args=(stdin_pipe, stdin), daemon=True)
        writer.start()
    else:
        stdin_pipe.close()
    out_fd, err_fd = stdout_pipe.fileno(), stderr_pipe.fileno()
    buffers = {out_fd: bytearray(), err_fd: bytearray()}
    pidfd = os.pidfd_open(proc.pid)
    deadline = start + wall_s
    exited_at: float | None = None
    timed_out = capped = False
    try:
        with selectors.DefaultSelector() as sel:
            for fd in buffers:
                os.set_blocking(fd, False)
                sel.register(fd, selectors.EVENT_READ)
            sel.register(pidfd, selectors.EVENT_READ)
            while True:
                now = time.monotonic()
                if now >= deadline:
                    timed_out = exited_at is None
                    break
                if exited_at is not None and now >= exited_at + EXIT_GRACE_S:
                    break
                limit = deadline if exited_at is None else min(deadline, exited_at + EXIT_GRACE_S)
                for key, _ in sel.select(timeout=limit - now):
                    if key.fd == pidfd:
                        sel.unregister(pidfd)
                        exited_at = time.monotonic()
                        continue
                    try:
                        chunk = os.read(key.fd, _READ_CHUNK)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        sel.unregister(key.fd)
                        continue
                    buf = buffers[key.fd]
                    room = output_bytes - len(buf)
                    buf += chunk[: max(room, 0)]
                    capped = capped or len(chunk) > room
                if capped:
                    break
                if exited_at is not None and len(sel.get_map()) == 0:
                    break
        _kill_group(proc)  # no-op after a clean exit; otherwise ends the tree (and stray daemons)
        _, status = os.waitpid(proc.pid, 0)
    finally:
        os.close(pidfd)
        for pipe in (stdout_pipe, stderr_pipe):
            pipe.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if writer is not None:
        writer.join(timeout=1.0)
    return Supervised(
        returncode=proc.returncode, stdout=bytes(buffers[out_fd]), stderr=bytes(buffers[err_fd]),
        wall_s=time.monotonic() - start, timed_out=timed_out, output_capped=capped,
    )

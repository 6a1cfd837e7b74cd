"""Seccomp filters handed to bubblewrap (``bwrap --seccomp FD``), compiled once per process.

Two policies:

* ``run`` (untrusted programs): process creation is denied (``fork``/``vfork``/``clone`` without
  ``CLONE_THREAD`` fail with EAGAIN, ``clone3`` with ENOSYS so libc falls back to ``clone``), so a fork
  bomb cannot start a second process while threads still work. ``RLIMIT_NPROC`` cannot do this: it is
  ignored for uid 0 and counts every task of the uid system-wide.
* ``compile``: the compiler driver must start ``cc1plus``/``as``/``ld``, so processes are allowed; the
  program being compiled never runs under it.

Both deny sockets of every family, ptrace and cross-process memory access, io_uring, bpf,
perf_event_open, keyrings, mount/namespace changes, kernel module and kexec calls, and the terminal
injection ioctls (TIOCSTI, TIOCLINUX). Denials return an errno instead of killing, so programs see
ordinary failures. Syscalls of a foreign architecture (32-bit entry points) kill the process.

Built with libseccomp through ``pyseccomp`` (ctypes; the system's ``libseccomp2``).
"""

from __future__ import annotations

import errno
import functools
import io
import os
import tempfile
from typing import Literal

from sandbox.errors import SandboxError

Policy = Literal["run", "compile"]

CLONE_THREAD = 0x00010000
TIOCSTI = 0x5412
TIOCLINUX = 0x541C

_DENIED_EVERYWHERE = (
    "socket", "socketpair", "ptrace", "process_vm_readv", "process_vm_writev", "io_uring_setup",
    "io_uring_enter", "io_uring_register", "bpf", "perf_event_open", "keyctl", "add_key", "request_key",
    "mount", "umount2", "unshare", "setns", "pivot_root", "chroot", "kexec_load", "kexec_file_load",
    "reboot", "swapon", "swapoff", "init_module", "finit_module", "delete_module", "userfaultfd",
    "open_by_handle_at", "name_to_handle_at", "fanotify_init", "move_mount", "open_tree", "fsopen",
    "fsmount", "fspick", "mount_setattr", "quotactl", "acct", "syslog", "settimeofday", "clock_settime",
    "adjtimex", "lookup_dcookie", "vhangup", "personality",
)


@functools.cache
def filter_bytes(policy: Policy) -> bytes:
    """The compiled BPF program for ``policy`` (cached; a few hundred bytes)."""
    try:
        import pyseccomp as sc
    except (ImportError, OSError) as exc:  # OSError: libseccomp.so missing
        raise SandboxError(f"seccomp is unavailable ({exc}); install libseccomp2 and `pip install pyseccomp`") from exc
    filt = sc.SyscallFilter(defaction=sc.ALLOW)
    for name in _DENIED_EVERYWHERE:
        try:
            filt.add_rule(sc.ERRNO(errno.EPERM), name)
        except (ValueError, RuntimeError, OSError):
            continue  # syscall unknown to this libseccomp/architecture
    for request in (TIOCSTI, TIOCLINUX):
        filt.add_rule(sc.ERRNO(errno.EPERM), "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, request))
    if policy == "run":
        filt.add_rule(sc.ERRNO(errno.EAGAIN), "fork")
        filt.add_rule(sc.ERRNO(errno.EAGAIN), "vfork")
        filt.add_rule(sc.ERRNO(errno.EAGAIN), "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
        filt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    elif policy != "compile":
        raise SandboxError(f"unknown seccomp policy {policy!r}; use 'run' or 'compile'")
    with tempfile.TemporaryFile() as fh:
        filt.export_bpf(fh)
        fh.seek(0)
        data = fh.read()
    if not data:
        raise SandboxError("libseccomp exported an empty filter")
    return data


def filter_fd(policy: Policy) -> int:
    """A fresh readable file descriptor holding the filter (bwrap reads it once; caller closes it)."""
    data = filter_bytes(policy)
    read_fd, write_fd = os.pipe()
    try:
        with io.FileIO(write_fd, "w", closefd=True) as out:
            out.write(data)  # a few hundred bytes: always fits in the pipe buffer
    except BaseException:
        os.close(read_fd)
        raise
    return read_fd

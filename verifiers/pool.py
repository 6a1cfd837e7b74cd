"""A pool of killable worker processes with hard per-item time limits.

Verifiers judge model output, and model output can be hostile: ``9^9^9^9`` makes sympy compute for
hours, a generated program can loop forever or crash the interpreter. A time limit that is enforced
inside the judging process (``signal.alarm``, a thread) can neither interrupt C code nor be used from a
non-main thread, which is where TRL and the reward guard call rewards. This module runs each item in a
separate, persistent worker process instead and enforces the deadline from the parent:

* workers are started lazily on the first :meth:`WorkerPool.map` as fresh interpreters (``python -c``
  with a small stdlib-only bootstrap, so no torch, CUDA or thread state is inherited) and are kept
  between calls; the per-item clock starts only when an item is handed to a worker that has finished
  starting, so start-up time never counts against it;
* a worker never runs the caller's ``__main__``: multiprocessing's ``spawn`` re-imports the main script in
  every child, so a library user's script without ``if __name__ == "__main__":`` ran its whole body again
  in each worker (repeating its side effects, and failing with a bootstrapping error). Workers take the
  parent's ``sys.path`` instead and import the script only if a task's function is defined in it;
* each worker has its own socket pair (a :class:`multiprocessing.connection.Connection`); the parent
  hands items to idle workers and waits on all connections and process handles (pidfds) at once with
  :func:`multiprocessing.connection.wait`, bounded by the earliest deadline;
* an item past its deadline has its worker (and the worker's process group, since each worker starts its
  own session) killed with ``SIGKILL``; the item is reported ``timed_out`` and a replacement worker is
  started;
* an exception inside the function gives ``errored`` with ``"TypeName: message"``; a worker that dies
  (``os._exit``, a segfault, the OOM killer) gives ``errored`` with ``"worker died: exit code N"`` and
  is replaced;
* workers are killed when the pool is closed or garbage-collected and at interpreter exit, and exit on
  their own when their parent process disappears.

The function and the items must be picklable: define the function at module level, preferably in an
importable module (a function defined in the main script makes the worker import that script, which
must then guard its top-level code with ``if __name__ == "__main__":``).
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Literal, cast

__all__ = ["Outcome", "WorkerPool", "default_workers", "shared_pool"]

logger = logging.getLogger(__name__)

Status = Literal["ok", "timed_out", "errored"]

#: Consecutive worker start-up failures after which the items still waiting are failed.
MAX_START_FAILURES = 3
#: How often a worker checks that its parent process is still alive.
_PARENT_CHECK_INTERVAL = 0.5


@dataclass(frozen=True)
class Outcome:
    """The result of one item: ``value`` when ``status == "ok"``, else an ``error`` description."""

    status: Status
    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# --------------------------------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------------------------------


def _exit_when_orphaned(parent_pid: int) -> None:
    """Exit the worker as soon as the process that started it is gone (it was killed, not closed)."""
    while True:
        time.sleep(_PARENT_CHECK_INTERVAL)
        if os.getppid() != parent_pid:
            os._exit(1)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


#: The worker's entry point, run as ``python -c _BOOTSTRAP FD``: standard library only until the parent's
#: import path is in place, so ``verifiers`` and the tasks' modules resolve to the same files as in the
#: parent. The worker's ``__main__`` is this snippet, never the parent's script.
_BOOTSTRAP = """\
import sys
from multiprocessing.connection import Connection
conn = Connection(int(sys.argv[1]))
path, *args = conn.recv()
sys.path[:] = path
from verifiers.pool import _worker_main
_worker_main(conn, *args)
"""

#: How a worker can import the parent's ``__main__``: ``("name", module)`` for ``python -m``, ``("path",
#: file)`` for a script, ``None`` when there is nothing to import (an interactive session).
MainRef = tuple[Literal["name", "path"], str] | None

#: The message that tells a worker to exit.
_STOP = pickle.dumps(None)

#: True in a worker while it imports the parent's main script (see :func:`_import_parent_main`).
_importing_parent_main = False
_parent_main_tried = False


def _parent_main() -> MainRef:
    """How a worker could import this process's ``__main__``, should a task's function live there."""
    main = sys.modules.get("__main__")
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if name:
        return ("name", name)
    path = getattr(main, "__file__", None)
    return ("path", os.path.abspath(path)) if path else None


def _import_parent_main(main: MainRef) -> None:
    """Import the parent's main module as ``__mp_main__``, aliased to ``__main__`` (what multiprocessing's
    spawn does in every child up front). Done here at most once, and only when a task's function is
    defined in the main script: the built-in verifiers never need it, so a library user's script without
    a main guard is never run again in a worker."""
    global _importing_parent_main, _parent_main_tried
    if main is None or _parent_main_tried:
        return
    from multiprocessing import spawn

    _parent_main_tried = True
    kind, target = main
    _importing_parent_main = True
    try:
        spawn.prepare({"init_main_from_name": target} if kind == "name" else {"init_main_from_path": target})
    finally:
        _importing_parent_main = False


class _TaskUnpickler(pickle.Unpickler):
    """Unpickles a task in the worker; a reference into ``__main__`` imports the parent's main first."""

    def __init__(self, data: bytes, main: MainRef):
        super().__init__(io.BytesIO(data))
        self._main = main

    def find_class(self, module: str, name: str) -> Any:
        if module == "__main__":
            _import_parent_main(self._main)
        return super().find_class(module, name)


def _worker_main(conn: Connection, preload: tuple[str, ...], parent_pid: int, main: MainRef = None) -> None:
    """Worker loop: receive a pickled ``(fn, args)``, reply ``("ok", value)`` or ``("errored", text)``.

    ``None`` or a closed pipe ends the loop. The first message sent is ``("ready", own_group)`` once the
    ``preload`` modules are imported, or ``("failed", text)`` if one of them cannot be.
    """
    try:
        os.setsid()  # own process group: a kill on timeout also reaches anything fn started
    except OSError:
        pass  # already a group leader (started with a new session)
    own_group = os.getpgrp() == os.getpid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), name="orphan-watch", daemon=True).start()
    try:
        for module in preload:
            importlib.import_module(module)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        conn.send(("failed", f"cannot import {module!r}: {_describe(exc)}"))
        return
    conn.send(("ready", own_group))
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            task = _TaskUnpickler(data, main).load()
        except BaseException as exc:  # noqa: BLE001 - e.g. the function's module cannot be imported here
            conn.send(("errored", f"cannot load the task in the worker: {_describe(exc)}"))
            continue
        if task is None:
            return
        fn, args = task
        try:
            reply: tuple[str, Any] = ("ok", fn(*args))
        except BaseException as exc:  # noqa: BLE001 - SystemExit from fn included: the worker stays usable
            reply = ("errored", _describe(exc))
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
        except BaseException as exc:  # noqa: BLE001 - the value could not be pickled
            conn.send(("errored", f"result cannot be sent back: {_describe(exc)}"))


# --------------------------------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------------------------------


def _exit_handle(pid: int) -> int | None:
    """A descriptor that becomes readable when process ``pid`` exits (a Linux pidfd), or ``None`` where
    there is none; a worker's death then shows as the end of its connection."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _wait(handles: list[Connection | int], timeout: float) -> list[Connection | int]:
    """:func:`multiprocessing.connection.wait`, typed as what it returns: the very handles it was given
    (its stub widens them to any connection, socket or descriptor)."""
    return cast("list[Connection | int]", wait(handles, timeout=timeout))


class _Worker:
    """Parent-side handle of one worker process."""

    def __init__(self, process: subprocess.Popen, conn: Connection, start_timeout: float):
        self.process = process
        self.conn = conn
        self.sentinel = _exit_handle(process.pid)
        self.state: Literal["starting", "idle", "busy"] = "starting"
        self.own_group = True  # started with a new session; the worker confirms it when ready
        self.item = -1
        self.deadline = time.monotonic() + start_timeout
        self.tasks = 0

    def kill(self) -> None:
        """SIGKILL the worker and its process group, reap it and close its descriptors. Never raises."""
        pid = self.process.pid
        if self.own_group:  # also when the worker is gone: what it started may still run
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(timeout=5)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
        self.close_pipe()

    def close_pipe(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        if self.sentinel is not None:
            try:
                os.close(self.sentinel)
            except OSError:
                pass
            self.sentinel = None

    def exit_code(self) -> int | None:
        try:
            return self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return None


def _shutdown(workers: list[_Worker], owner_pid: int) -> None:
    """Kill every worker; a no-op in a forked child, whose copies of the handles are not its own."""
    if os.getpid() != owner_pid:
        return
    for worker in list(workers):
        worker.kill()
    workers.clear()


class WorkerPool:
    """Persistent worker processes that run ``fn(*item)`` with a hard per-item time limit.

    Args:
        workers: number of worker processes (at most this many items run at once).
        max_tasks_per_worker: replace a worker after this many items (bounds slow leaks); ``None``: never.
        preload: modules each worker imports before it takes items, so their import time is not charged
            to the first item's deadline.
        start_timeout: seconds a worker may take to start (including ``preload``) before it is killed.

    Usable as a context manager; :meth:`close` is also called when the pool is garbage-collected and at
    interpreter exit. :meth:`map` may be called from any thread; concurrent calls run one after another.
    """

    def __init__(
        self,
        workers: int = 2,
        *,
        max_tasks_per_worker: int | None = 1000,
        preload: Sequence[str] = (),
        start_timeout: float = 120.0,
    ):
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        if max_tasks_per_worker is not None and max_tasks_per_worker < 1:
            raise ValueError(f"max_tasks_per_worker must be None or >= 1, got {max_tasks_per_worker!r}")
        if start_timeout <= 0:
            raise ValueError(f"start_timeout must be positive, got {start_timeout!r}")
        self.workers = workers
        self.max_tasks_per_worker = max_tasks_per_worker
        self.preload = tuple(preload)
        self.start_timeout = float(start_timeout)
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._target = 0  # pool size to keep up once started
        self._closed = False
        self._pid = os.getpid()
        self._finalizer = weakref.finalize(self, _shutdown, self._workers, self._pid)

    # -- public API ----------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def map(self, fn: Callable[..., Any], items: Sequence[tuple], *, timeout: float) -> list[Outcome]:
        """Run ``fn(*item)`` for every item in the workers; outcomes come back in input order.

        Each item gets ``timeout`` seconds from the moment a worker receives it. Never raises for what
        happens inside ``fn``; raises ``TypeError`` if ``fn`` cannot be pickled, ``ValueError`` for a
        non-positive timeout and ``RuntimeError`` on a closed pool or in a forked child.
        """
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        work = [tuple(item) for item in items]
        if not work:
            return []
        try:
            pickle.dumps(fn)
        except Exception as exc:  # noqa: BLE001
            raise TypeError(
                f"{fn!r} cannot be sent to worker processes ({_describe(exc)}); define it at module level"
            ) from None
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is closed")
            if os.getpid() != self._pid:
                raise RuntimeError("a WorkerPool cannot be used in a forked child; create one there (shared_pool())")
            try:
                return self._run(fn, work, float(timeout))
            except BaseException:
                # Interrupted (e.g. KeyboardInterrupt): busy workers hold items of this call; drop them.
                for worker in [w for w in self._workers if w.state == "busy"]:
                    self._remove(worker)
                raise
            finally:
                if self._closed:  # close() was called from another thread while we ran
                    self._finalizer()

    def close(self) -> None:
        """Kill all workers. Idempotent; the pool cannot be used afterwards."""
        self._closed = True
        if self._lock.acquire(blocking=False):
            try:
                self._finalizer()
            finally:
                self._lock.release()
        else:  # a map() is running in another thread: stop its workers, it finishes the clean-up
            for worker in list(self._workers):
                try:
                    worker.process.kill()
                except (OSError, ValueError):
                    pass

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._workers)} started"
        return f"WorkerPool(workers={self.workers}, {state})"

    # -- internals -----------------------------------------------------------------------------------

    def _start_worker(self) -> None:
        """Start one worker: a fresh interpreter running :data:`_BOOTSTRAP`, in its own session, with one end
        of a socket pair as its connection (what multiprocessing's duplex ``Pipe`` is on POSIX)."""
        if _importing_parent_main:
            raise RuntimeError(
                "a worker process is importing the main script to find a task's function, and the script starts "
                "a worker pool as it is imported: define the function in an importable module, or guard the "
                "script's top-level code with if __name__ == '__main__':"
            )
        if not sys.executable:
            raise RuntimeError("cannot start worker processes: sys.executable is empty in this interpreter")
        parent_sock, child_sock = socket.socketpair()
        try:
            with child_sock:
                process = subprocess.Popen(
                    [sys.executable, "-c", _BOOTSTRAP, str(child_sock.fileno())],
                    stdin=subprocess.DEVNULL,
                    pass_fds=(child_sock.fileno(),),
                    start_new_session=True,
                )
        except BaseException:
            parent_sock.close()
            raise
        conn = Connection(parent_sock.detach())
        worker = _Worker(process, conn, self.start_timeout)
        self._workers.append(worker)
        try:
            conn.send((list(sys.path), self.preload, os.getpid(), _parent_main()))
        except OSError:
            pass  # the worker is already gone: its death is reported on its handles like any other

    def _remove(self, worker: _Worker, *, kill: bool = True) -> None:
        if kill:
            worker.kill()
        else:
            worker.close_pipe()
        if worker in self._workers:
            self._workers.remove(worker)

    def _retire(self, worker: _Worker) -> None:
        try:
            worker.conn.send_bytes(_STOP)
            worker.process.wait(timeout=1)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
        self._remove(worker)

    def _run(self, fn: Callable[..., Any], items: list[tuple], timeout: float) -> list[Outcome]:
        results: list[Outcome | None] = [None] * len(items)
        pending: deque[int] = deque(range(len(items)))
        self._target = max(self._target, min(self.workers, len(items)))
        start_failures = 0
        last_start_error = ""

        while pending or any(w.state == "busy" for w in self._workers):
            if self._closed:
                for worker in self._workers:
                    if worker.state == "busy":
                        pending.append(worker.item)
                for i in pending:
                    results[i] = Outcome("errored", error="the worker pool was closed")
                break

            # Keep the pool at its size, unless workers keep failing to start.
            if start_failures >= MAX_START_FAILURES:
                for i in pending:
                    results[i] = Outcome("errored", error=f"worker failed to start: {last_start_error}")
                pending.clear()
                if not any(w.state == "busy" for w in self._workers):
                    break
            else:
                while len(self._workers) < self._target:
                    self._start_worker()

            # Hand items to idle workers.
            for worker in [w for w in self._workers if w.state == "idle"]:
                while pending:
                    i = pending.popleft()
                    try:
                        task = pickle.dumps((fn, items[i]))
                    except Exception as exc:  # noqa: BLE001 - the item cannot be pickled
                        results[i] = Outcome("errored", error=f"item cannot be sent to a worker: {_describe(exc)}")
                        continue
                    try:
                        worker.conn.send_bytes(task)
                    except OSError:  # the worker is gone
                        pending.appendleft(i)
                        self._remove(worker)
                        break
                    worker.state, worker.item = "busy", i
                    worker.deadline = time.monotonic() + timeout
                    break

            # Wait for a reply, a death or the earliest deadline.
            watched: dict[Connection | int, _Worker] = {}
            for worker in self._workers:
                if worker.state != "idle":
                    watched[worker.conn] = worker
                    if worker.sentinel is not None:
                        watched[worker.sentinel] = worker
            if not watched:
                continue
            now = time.monotonic()
            earliest = min(w.deadline for w in self._workers if w.state != "idle")
            ready = _wait(list(watched), timeout=max(0.0, earliest - now))

            seen: set[int] = set()
            for handle in ready:
                worker = watched[handle]
                if id(worker) in seen:
                    continue
                seen.add(id(worker))
                try:
                    message = worker.conn.recv() if worker.conn.poll() else None
                except (EOFError, OSError):
                    message = None
                except Exception as exc:  # noqa: BLE001 - the reply could not be unpickled here
                    message = ("errored", f"result cannot be read: {_describe(exc)}")
                if message is None:  # the process is gone
                    code = worker.exit_code()
                    if worker.state == "busy":
                        results[worker.item] = Outcome("errored", error=f"worker died: exit code {code}")
                    else:
                        start_failures += 1
                        last_start_error = f"exit code {code}"
                    self._remove(worker)
                    continue
                kind, payload = message
                if kind == "ready":
                    worker.state, worker.own_group = "idle", bool(payload)
                    start_failures = 0
                elif kind == "failed":
                    start_failures += 1
                    last_start_error = str(payload)
                    self._remove(worker)
                elif worker.state == "busy":
                    results[worker.item] = (
                        Outcome("ok", value=payload) if kind == "ok" else Outcome("errored", error=str(payload))
                    )
                    worker.state, worker.tasks = "idle", worker.tasks + 1
                    if self.max_tasks_per_worker is not None and worker.tasks >= self.max_tasks_per_worker:
                        self._retire(worker)

            # Enforce deadlines.
            now = time.monotonic()
            for worker in [w for w in self._workers if w.state != "idle" and now >= w.deadline]:
                if worker.state == "busy":
                    results[worker.item] = Outcome("timed_out", error=f"no result within {timeout:g}s")
                else:
                    start_failures += 1
                    last_start_error = f"not ready within {self.start_timeout:g}s"
                self._remove(worker)

        return [r if r is not None else Outcome("errored", error="not run") for r in results]


# --------------------------------------------------------------------------------------------------
# The per-process shared pool
# --------------------------------------------------------------------------------------------------

_shared: dict[int, WorkerPool] = {}
_shared_lock = threading.Lock()

#: Modules every shared worker imports up front (sympy takes ~1 s, which must not eat item deadlines);
#: the math verifier's comparison module is what the built-in math reward sends to the workers.
SHARED_PRELOAD = ("sympy", "verifiers.math.equivalence")


def default_workers() -> int:
    """Worker count for the shared pool: ``$VERIFIERS_WORKERS`` if set, else min(4, usable CPUs)."""
    env = os.environ.get("VERIFIERS_WORKERS")
    if env:
        try:
            value = int(env)
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"VERIFIERS_WORKERS must be a positive integer, got {env!r}")
        return value
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


def shared_pool(workers: int | None = None) -> WorkerPool:
    """The process-wide pool used by the built-in verifiers, created on first use.

    ``workers`` only matters for the call that creates the pool (default :func:`default_workers`). The
    pool is keyed by process id, so a forked child gets its own pool instead of the parent's pipes.
    """
    pid = os.getpid()
    with _shared_lock:
        pool = _shared.get(pid)
        if pool is None or pool.closed:
            _shared.clear()  # a parent's pool copied by fork is not ours to use
            pool = WorkerPool(workers or default_workers(), preload=SHARED_PRELOAD)
            _shared[pid] = pool
        return pool

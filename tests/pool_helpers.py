"""Module-level functions for the worker-pool tests (spawned workers import them by name)."""

from __future__ import annotations

import os
import time


def square(x: int) -> int:
    return x * x


def slow_square(x: int, delay: float) -> int:
    time.sleep(delay)
    return x * x


def sleep_forever() -> None:
    time.sleep(3600)


def spin_forever() -> None:
    while True:
        pass


def raise_value_error(message: str) -> None:
    raise ValueError(message)


def hard_exit(code: int) -> None:
    os._exit(code)


def worker_pid() -> int:
    return os.getpid()


def unpicklable_result() -> object:
    return lambda: None


def session_and_stdin() -> tuple[int, int, str]:
    return os.getpid(), os.getsid(0), os.readlink("/proc/self/fd/0")

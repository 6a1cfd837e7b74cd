"""User tools for the tool tests, importable as ``tests.tool_helpers:<name>`` from recipes."""

from __future__ import annotations

import asyncio
import time


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


async def lookup(key: str) -> dict:
    """Look a key up in a small table.

    Args:
        key: The key.
    """
    await asyncio.sleep(0)
    return {"key": key, "value": len(key)}


def slow(seconds: float) -> str:
    """Sleep, then answer.

    Args:
        seconds: How long to sleep.
    """
    time.sleep(seconds)
    return "done"


def broken(x: str) -> str:
    """Always fails.

    Args:
        x: Anything.
    """
    raise RuntimeError(f"cannot handle {x!r}")


def undocumented(x):
    return x


def make_greeter(greeting: str):
    """A factory: recipes give ``params`` and get the tool it returns."""

    def greet(name: str) -> str:
        """Greet someone.

        Args:
            name: Who to greet.
        """
        return f"{greeting}, {name}!"

    return greet


def quits(code: int) -> str:
    """Calls sys.exit.

    Args:
        code: The exit status.
    """
    raise SystemExit(code)

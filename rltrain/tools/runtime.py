"""Running the model's tool calls: every tool is wrapped so that a call can never hang or crash a rollout.

TRL executes tool calls itself (``GRPOTrainer(tools=...)``) but calls them with no deadline, and a sync
tool blocks the training loop. :func:`guarded_tool` turns any callable into the async function TRL is
given, which

* checks the model's arguments against the tool's JSON schema (missing, unknown, wrong JSON type) and
  answers a bad call with an error text instead of calling;
* runs a sync tool in a daemon thread of its own and any tool under a deadline (``tools[].timeout``); past it the
  model reads ``Error: ... timed out`` and the rollout goes on (a sync tool's thread cannot be killed
  and finishes in the background: tools that run untrusted work, like ``python``, enforce hard limits
  of their own);
* turns exceptions into ``Error: <type>: <message>`` text for the model (a tool reports an expected
  failure, such as a program that crashed, by raising :class:`ToolFailure`);
* returns text (JSON for other results), cut to ``max_chars``;
* counts every call by outcome in a shared :class:`ToolLedger`, read per batch for the metrics.

The schema comes from the callable's type hints and Google-style docstring (transformers'
``get_json_schema``, the convention TRL and chat templates use); the wrapper keeps the tool's name,
signature and docstring, so chat templates render the same schema.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, cast

Outcome = Literal["ok", "error", "timeout", "bad_arguments"]

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list, tuple), "object": (dict,), "null": (type(None),),
}


ERROR_PREFIX = "Error: "
"""How every failed call's text starts (the model learns to read it; metrics count it)."""


class ToolFailure(Exception):
    """Raised by a tool for a failure the model should read (the message), e.g. its program crashed."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class ToolSchemaError(ValueError):
    """The callable cannot be described to the model (no type hints or no docstring for an argument)."""


class GuardedTool(Protocol):
    """What :func:`guarded_tool` returns: the async function TRL calls with the model's arguments (it always
    answers with text), named as the model calls it and carrying the JSON ``schema`` the model is shown."""

    __name__: str
    schema: dict[str, Any]

    def __call__(self, **arguments: Any) -> Awaitable[str]: ...


@dataclass
class ToolCounts:
    """Tool calls by outcome (over a batch, or a whole run)."""

    calls: int = 0
    ok: int = 0
    error: int = 0
    timeout: int = 0
    bad_arguments: int = 0
    seconds: float = 0.0
    by_tool: dict[str, int] = field(default_factory=dict)

    def add(self, tool: str, outcome: Outcome, seconds: float) -> None:
        self.calls += 1
        setattr(self, outcome, getattr(self, outcome) + 1)
        self.seconds += seconds
        self.by_tool[tool] = self.by_tool.get(tool, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ToolLedger:
    """Thread-safe counts of tool calls: per batch (:meth:`take`) and for the whole run (``total``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batch = ToolCounts()
        self.total = ToolCounts()

    def record(self, tool: str, outcome: Outcome, seconds: float) -> None:
        with self._lock:
            self._batch.add(tool, outcome, seconds)
            self.total.add(tool, outcome, seconds)

    def take(self) -> ToolCounts:
        """The counts since the last call, and start counting afresh."""
        with self._lock:
            batch, self._batch = self._batch, ToolCounts()
        return batch


def tool_schema(fn: Callable[..., Any], name: str) -> dict[str, Any]:
    """The JSON schema the model is shown for ``fn`` under ``name`` (transformers' ``get_json_schema``)."""
    from transformers.utils import get_json_schema

    probe = _named_like(fn, name)
    try:
        return get_json_schema(probe)
    except Exception as exc:  # noqa: BLE001 - transformers raises several types for undocumented callables
        raise ToolSchemaError(
            f"{exc}. A tool needs type hints on every argument and a Google-style docstring with an Args: "
            "section describing each one"
        ) from None


def _named_like(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    def probe(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    probe.__name__ = probe.__qualname__ = name
    probe.__doc__ = inspect.getdoc(fn)
    probe.__wrapped__ = fn  # type: ignore[attr-defined]  # FunctionType lacks it; get_json_schema reads fn's signature through it
    probe.__annotations__ = dict(getattr(fn, "__annotations__", {}))
    return probe


def check_arguments(schema: dict[str, Any], arguments: Any) -> str | None:
    """What is wrong with ``arguments`` for ``schema`` (a message for the model), or ``None``."""
    if not isinstance(arguments, dict):
        return f"arguments must be a JSON object, got {type(arguments).__name__}"
    params = schema.get("function", schema).get("parameters", {})
    properties: dict[str, Any] = params.get("properties", {})
    missing = [k for k in params.get("required", []) if k not in arguments]
    if missing:
        return f"missing required argument(s) {missing}"
    unknown = [k for k in arguments if k not in properties]
    if unknown:
        return f"unknown argument(s) {unknown}; this tool takes {sorted(properties)}"
    for key, value in arguments.items():
        expected = properties[key].get("type")
        kinds = expected if isinstance(expected, list) else [expected] if expected else []
        allowed = tuple(t for k in kinds for t in _JSON_TYPES.get(k, ()))
        if allowed and (not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)):
            return f"argument {key!r} must be {' or '.join(kinds)}, got {type(value).__name__}"
    return None


def _as_text(result: Any, max_chars: int) -> str:
    text = result if isinstance(result, str) else json.dumps(result, default=str, ensure_ascii=False)
    if len(text) > max_chars:
        text = text[:max_chars] + f"\n... [{len(text) - max_chars} more characters cut]"
    return text


def _in_daemon_thread(name: str, fn: Callable[..., Any], arguments: dict[str, Any]) -> asyncio.Future:
    """Run a sync tool in a thread of its own, as a future of the running loop.

    Not the loop's executor: a hung call would hold one of its few threads for good, and
    ``asyncio.run`` waits for them at exit. A daemon thread is abandoned at the deadline instead.
    """
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if not future.done():
            future.set_exception(error) if error is not None else future.set_result(value)

    def target() -> None:
        try:
            value, error = fn(**arguments), None
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            # A tool's sys.exit() or KeyboardInterrupt is its failure, not a reason to stop the trainer.
            value, error = None, exc if isinstance(exc, Exception) else RuntimeError(f"{type(exc).__name__}: {exc}")
        try:
            loop.call_soon_threadsafe(settle, value, error)
        except RuntimeError:  # the loop is gone: nobody waits for this call any more
            pass

    threading.Thread(target=target, name=f"tool-{name}", daemon=True).start()
    return future


def guarded_tool(name: str, fn: Callable[..., Any], *, timeout: float, ledger: ToolLedger,
                 max_chars: int = 4000) -> GuardedTool:
    """``fn`` as an async tool for TRL named ``name``: deadline, argument check, errors as text, counted."""
    schema = tool_schema(fn, name)
    is_async = inspect.iscoroutinefunction(fn)

    async def call(**arguments: Any) -> str:
        started = time.monotonic()
        problem = check_arguments(schema, arguments)
        if problem is not None:
            ledger.record(name, "bad_arguments", 0.0)
            return f"{ERROR_PREFIX}bad call to {name}: {problem}"
        outcome: Outcome = "ok"
        try:
            work = fn(**arguments) if is_async else _in_daemon_thread(name, fn, arguments)
            text = _as_text(await asyncio.wait_for(work, timeout), max_chars)
        except (asyncio.TimeoutError, TimeoutError):
            outcome, text = "timeout", f"{ERROR_PREFIX}{name} timed out after {timeout:g} s"
        except ToolFailure as exc:
            outcome, text = ("timeout" if exc.timed_out else "error"), _as_text(f"{ERROR_PREFIX}{exc}", max_chars)
        except Exception as exc:  # noqa: BLE001 - a tool's failure is the model's feedback, never the trainer's
            outcome, text = "error", _as_text(f"{ERROR_PREFIX}{type(exc).__name__}: {exc}", max_chars)
        ledger.record(name, outcome, time.monotonic() - started)
        return text

    call.__name__ = call.__qualname__ = name
    call.__doc__ = inspect.getdoc(fn)
    call.__wrapped__ = fn  # type: ignore[attr-defined]  # FunctionType lacks it; chat templates render fn's schema through it
    call.__annotations__ = dict(getattr(fn, "__annotations__", {}))
    tool = cast(GuardedTool, call)
    tool.schema = schema
    return tool

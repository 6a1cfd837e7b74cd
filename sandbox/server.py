"""The sandbox over HTTP: ``rltrain sandbox serve`` for trainer ranks on other nodes.

Routes (JSON in, JSON out; see :mod:`sandbox.service` for ``/health``, ``/metrics``, 429 and shutdown):

* ``POST /run`` ``{code, language, stdin?, limits?}`` → :class:`ExecResult` fields;
* ``POST /judge`` ``{code, language, tests, stop_on_first_failure?, limits?, float_tolerance?, checker?}``
  → :class:`JudgeResult` fields (``passed``, ``total``, ``pass_fraction``, ``tests`` …);
* ``POST /run_batch`` / ``POST /judge_batch`` ``{"requests": [...]}`` → ``{"results": [...]}`` in order;
  an invalid item gets ``{"error": ...}`` without failing the others;
* ``POST /run_code``: SandboxFusion's request and response shape, so verl's ``sandbox_fusion`` reward
  can point at this server.

Programs run on a pool of ``workers`` threads (each run is its own isolated process tree); the
service admits up to ``workers + queue`` programs in flight and answers 429 beyond that. A request whose
client disconnects (or whose ``X-Request-Timeout`` passes) before its answer has its programs that have
not started yet cancelled; one already running finishes within its limits.

Every field is type-checked (``400`` naming the field), and everything a request can raise (limits,
source and stdin size, number of tests, batch size) is checked against the server's :class:`Ceilings`:
a request above one is refused with ``400`` naming the field and the ceiling, never clamped, so the
caller learns that its programs would not run under the limits it asked for.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any

from sandbox.errors import SandboxError
from sandbox.executor import Sandbox
from sandbox.judge import Judge
from sandbox.limits import MIB, Limits
from sandbox.result import ExecResult, Status
from sandbox.service import Abandoned, BadRequest, JsonService, RequestContext, Route

logger = logging.getLogger(__name__)

_RUN_KEYS = {"code", "language", "stdin", "limits"}
_JUDGE_KEYS = {"code", "language", "tests", "stop_on_first_failure", "limits", "float_tolerance", "checker"}
_LIMIT_NAMES = {f.name for f in fields(Limits)}


@dataclass(frozen=True)
class Ceilings:
    """The most any request may ask of this server (``rltrain sandbox serve --max-<name>``).

    Limits are client input: without a ceiling one request could hold the server's memory (``tmp_mb``
    lives in RAM), its workers (``wall_s``) or its network (``output_bytes`` comes back in the answer).
    The names matching :class:`Limits` fields cap those limits (and a test's own ``wall_s``); the others
    cap the request's size. The worst answer is about ``batch × 2 × output_bytes`` bytes before JSON
    escaping.
    """

    wall_s: float = 60.0
    cpu_s: float = 60.0
    memory_mb: int = 4096
    output_bytes: int = 1 * MIB
    tmp_mb: int = 256
    file_mb: int = 256
    open_files: int = 256
    tasks: int = 256
    compile_wall_s: float = 120.0
    compile_memory_mb: int = 4096
    #: Tests in one judge request.
    tests: int = 512
    #: Items of one ``/run_batch`` or ``/judge_batch``.
    batch: int = 64
    #: Bytes of a program's source (and of a checker's).
    source_bytes: int = 1 * MIB
    #: Bytes of one run's stdin, and of all of a judge request's test data together.
    stdin_bytes: int = 16 * MIB
    #: Bytes of one request body.
    body_bytes: int = 64 * MIB

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise SandboxError(f"ceiling {f.name} must be a positive number, got {value!r}")

    def check_defaults(self, limits: Limits) -> None:
        """Refuse to start with default limits that every request would break."""
        for name in _LIMIT_NAMES & {f.name for f in fields(self)}:
            value = getattr(limits, name)
            if value is not None and value > getattr(self, name):
                raise SandboxError(f"the default limit {name}={value} exceeds the ceiling {getattr(self, name)}; "
                                   f"raise --max-{name.replace('_', '-')} or lower the default")

    def check_limits(self, limits: Limits, where: str = "limits") -> None:
        for name in sorted(_LIMIT_NAMES & {f.name for f in fields(self)}):
            _at_most(f"{where}.{name}", getattr(limits, name), getattr(self, name))


# -- request checks (each raises BadRequest naming the field) -------------------------------------------

def _at_most(name: str, value: float | None, ceiling: float) -> None:
    if value is not None and value > ceiling:
        raise BadRequest(f"{name}={value:g} exceeds the server's ceiling of {ceiling:g}")


def _number(value: Any, name: str, *, minimum: float = 0.0, strict: bool = True) -> float:
    """A finite JSON number above ``minimum`` (or equal to it when not ``strict``); booleans are not numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"{name} must be a number, got {value!r:.80}")
    if value < minimum or (strict and value == minimum):
        raise BadRequest(f"{name} must be {'above' if strict else 'at least'} {minimum:g}, got {value:g}")
    return value


def _text(value: Any, name: str, ceiling: int) -> str:
    """A string of valid UTF-8 (no lone surrogates) of at most ``ceiling`` bytes."""
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string, got {type(value).__name__}")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise BadRequest(f"{name} is not valid text: {exc.reason} at position {exc.start}") from None
    if size > ceiling:
        raise BadRequest(f"{name} has {size} bytes, above the server's ceiling of {ceiling} bytes")
    return value


def _fields(payload: Any, allowed: set[str], required: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise BadRequest(f"request must be a JSON object, got {type(payload).__name__}")
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise BadRequest(f"unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    missing = [key for key in required if key not in payload]
    if missing:
        raise BadRequest(f"missing field(s) {missing}")
    return payload


def _batch(payload: Any, ceiling: int) -> list[Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("requests"), list):
        raise BadRequest('batch request must be {"requests": [...]} (requests: a list)')
    requests = payload["requests"]
    if len(requests) > ceiling:
        raise BadRequest(f"requests has {len(requests)} items, above the server's ceiling of {ceiling}")
    return requests


def _batch_cost(payload: Any) -> int:
    requests = payload.get("requests") if isinstance(payload, dict) else None
    return len(requests) if isinstance(requests, list) else 1


_CANCEL_POLL_S = 0.1
"""How often a handler waiting for the pool looks whether its request was abandoned."""


class SandboxApp:
    """Route handlers over one :class:`Sandbox` and a pool of ``workers`` threads."""

    def __init__(self, sandbox: Sandbox, *, workers: int, ceilings: Ceilings | None = None) -> None:
        self.sandbox = sandbox
        self.judge_ = Judge(sandbox)
        self.workers = workers
        self.ceilings = ceilings or Ceilings()
        self.ceilings.check_defaults(sandbox.limits)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox-run")

    # -- checks -------------------------------------------------------------------------------------

    def _limits(self, data: Any) -> Limits:
        """The request's limits over the server's defaults, type-checked and under the ceilings."""
        if data is None:
            return self.sandbox.limits
        if not isinstance(data, dict):
            raise BadRequest(f"limits must be a JSON object, got {type(data).__name__}")
        for key, value in data.items():
            if key in _LIMIT_NAMES and value is not None:
                _number(value, f"limits.{key}")
        try:
            limits = Limits.from_dict(data, base=self.sandbox.limits)
        except SandboxError as exc:
            raise BadRequest(str(exc)) from None
        self.ceilings.check_limits(limits)
        return limits

    def _source(self, req: dict[str, Any]) -> tuple[str, str]:
        code = _text(req["code"], "code", self.ceilings.source_bytes)
        language = _text(req["language"], "language", 64)
        return code, language

    def _tests(self, tests: Any) -> list[Any]:
        if not isinstance(tests, list):
            raise BadRequest(f"tests must be a list of test cases, got {type(tests).__name__}")
        if len(tests) > self.ceilings.tests:
            raise BadRequest(f"tests has {len(tests)} items, above the server's ceiling of {self.ceilings.tests}")
        size = 0
        for i, test in enumerate(tests):
            if isinstance(test, str):
                size += len(_text(test, f"tests[{i}]", self.ceilings.stdin_bytes))
            elif isinstance(test, dict):
                for key in ("input", "output", "call"):
                    if isinstance(test.get(key), str):
                        size += len(_text(test[key], f"tests[{i}].{key}", self.ceilings.stdin_bytes))
                if test.get("wall_s") is not None:
                    _at_most(f"tests[{i}].wall_s", _number(test["wall_s"], f"tests[{i}].wall_s"), self.ceilings.wall_s)
            else:
                raise BadRequest(f"tests[{i}] must be an object or an assert string, got {type(test).__name__}")
        if size > self.ceilings.stdin_bytes:
            raise BadRequest(f"tests hold {size} characters of data, above the server's ceiling of "
                             f"{self.ceilings.stdin_bytes} bytes")
        return tests

    # -- routes -------------------------------------------------------------------------------------

    def run_one(self, payload: Any) -> dict[str, Any]:
        req = _fields(payload, _RUN_KEYS, ("code", "language"))
        code, language = self._source(req)
        stdin = _text(req.get("stdin") or "", "stdin", self.ceilings.stdin_bytes)
        limits = self._limits(req.get("limits"))
        try:
            return self.sandbox.run(code, language, stdin=stdin, limits=limits).to_dict()
        except SandboxError as exc:
            raise BadRequest(str(exc)) from exc

    def judge_one(self, payload: Any) -> dict[str, Any]:
        req = _fields(payload, _JUDGE_KEYS, ("code", "language", "tests"))
        code, language = self._source(req)
        tests = self._tests(req["tests"])
        stop = req.get("stop_on_first_failure", False)
        if not isinstance(stop, bool):
            raise BadRequest(f"stop_on_first_failure must be true or false, got {stop!r:.80}")
        tolerance = req.get("float_tolerance")
        if tolerance is not None:
            tolerance = _number(tolerance, "float_tolerance", strict=False)
        checker = req.get("checker")
        if checker is not None:
            checker = _text(checker, "checker", self.ceilings.source_bytes)
        limits = self._limits(req.get("limits"))
        try:
            return self.judge_.judge(code, language, tests, stop_on_first_failure=stop, limits=limits,
                                     float_tolerance=tolerance, checker=checker).to_dict()
        except SandboxError as exc:
            raise BadRequest(str(exc)) from exc

    @staticmethod
    def _result(future: Future[Any], ctx: RequestContext | None) -> Any:
        """``future``'s result. When the request is abandoned first (the client disconnected, or its
        ``X-Request-Timeout`` passed), work not started yet is cancelled and :class:`Abandoned` raised; a
        program already running finishes within its limits."""
        if ctx is not None:
            done = threading.Event()
            future.add_done_callback(lambda _: done.set())
            while not done.wait(_CANCEL_POLL_S):
                if ctx.abandoned():
                    future.cancel()
                    raise Abandoned("the client is gone" if ctx.cancelled.is_set() else "its deadline passed")
        return future.result()

    def _on_pool(self, fn: Callable[[Any], dict[str, Any]], payload: Any, ctx: RequestContext | None = None) -> dict[str, Any]:
        return self._result(self.pool.submit(fn, payload), ctx)

    def _batch(self, fn: Callable[[Any], dict[str, Any]], payload: Any, ctx: RequestContext | None = None) -> dict[str, Any]:
        futures = [self.pool.submit(fn, item) for item in _batch(payload, self.ceilings.batch)]
        results = []
        try:
            for future in futures:
                try:
                    results.append(self._result(future, ctx))
                except BadRequest as exc:
                    results.append({"error": str(exc)})
        except Abandoned:
            for future in futures:  # the batch's programs not started yet are never run
                future.cancel()
            raise
        return {"results": results}

    def _fusion_limits(self, payload: dict[str, Any]) -> Limits:
        """SandboxFusion's ``run_timeout``/``compile_timeout``/``memory_limit_MB`` as limits (checked)."""
        overrides: dict[str, Any] = {}
        for key, limit in (("run_timeout", "wall_s"), ("compile_timeout", "compile_wall_s")):
            if payload.get(key) is not None:
                overrides[limit] = _number(payload[key], key)
                _at_most(key, overrides[limit], getattr(self.ceilings, limit))
        memory = payload.get("memory_limit_MB")
        if memory is not None and memory != -1:
            if isinstance(memory, bool) or not isinstance(memory, int):
                raise BadRequest(f"memory_limit_MB must be an integer (-1: the server's default), got {memory!r:.80}")
            _at_most("memory_limit_MB", memory, self.ceilings.memory_mb)
            overrides["memory_mb"] = memory
        return self._limits(overrides)

    def run_code(self, payload: Any, ctx: RequestContext | None = None) -> dict[str, Any]:
        """SandboxFusion's ``/run_code``: ``{code, language, stdin, compile_timeout, run_timeout, memory_limit_MB}``."""
        if not isinstance(payload, dict) or "code" not in payload or "language" not in payload:
            raise BadRequest("run_code needs 'code' and 'language'")
        if payload.get("files"):
            raise BadRequest("run_code: 'files' are not supported by this server")
        code, language = self._source(payload)
        stdin = _text(payload.get("stdin") or "", "stdin", self.ceilings.stdin_bytes)
        limits = self._fusion_limits(payload)
        try:
            result = self._result(self.pool.submit(self.sandbox.run, code, language, stdin=stdin, limits=limits), ctx)
        except SandboxError as exc:
            raise BadRequest(str(exc)) from exc
        return _fusion_response(result)

    def health(self) -> dict[str, Any]:
        return {"isolation": self.sandbox.report.to_dict(), "workers": self.workers}

    def close(self, wait: bool = True) -> None:
        """Stop the worker pool; ``wait=False`` after an abandoned drain (queued runs are cancelled)."""
        self.pool.shutdown(wait=wait, cancel_futures=not wait)


def _fusion_response(result: ExecResult) -> dict[str, Any]:
    def block(r: ExecResult) -> dict[str, Any]:
        status = {Status.TIMEOUT: "TimeLimitExceeded"}.get(r.status, "Finished" if r.exit_code is not None else "Error")
        return {"status": status, "execution_time": r.wall_ms / 1000, "return_code": r.exit_code,
                "stdout": r.stdout, "stderr": r.stderr}

    compile_failed = result.status is Status.COMPILE_ERROR
    if result.status is Status.SANDBOX_ERROR:
        status = "SandboxError"
    elif result.status is Status.OK:
        status = "Success"
    else:
        status = "Failed"
    return {
        "status": status, "message": "" if status != "SandboxError" else result.stderr[-500:],
        "compile_result": block(result) if compile_failed else None,
        "run_result": None if compile_failed else block(result), "executor_pod_name": None, "files": {},
    }


def build_service(sandbox: Sandbox, *, host: str = "127.0.0.1", port: int = 8080, workers: int = 4,
                  queue: int | None = None, ceilings: Ceilings | None = None) -> tuple[JsonService, SandboxApp]:
    """The HTTP service and its app (close the app after the service shut down).

    Raises :class:`SandboxError` when the sandbox's default limits exceed the ``ceilings``.
    """
    if workers < 1:
        raise SandboxError(f"workers must be at least 1, got {workers}")
    app = SandboxApp(sandbox, workers=workers, ceilings=ceilings)
    routes = {
        "/run": Route(lambda p, ctx: app._on_pool(app.run_one, p, ctx), context=True),
        "/judge": Route(lambda p, ctx: app._on_pool(app.judge_one, p, ctx), context=True),
        "/run_batch": Route(lambda p, ctx: app._batch(app.run_one, p, ctx), cost=_batch_cost, context=True),
        "/judge_batch": Route(lambda p, ctx: app._batch(app.judge_one, p, ctx), cost=_batch_cost, context=True),
        "/run_code": Route(app.run_code, context=True),
    }
    capacity = workers + (4 * workers if queue is None else queue)
    service = JsonService("sandbox", routes, host=host, port=port, capacity=capacity, health=app.health,
                          max_body_bytes=int(app.ceilings.body_bytes))
    return service, app

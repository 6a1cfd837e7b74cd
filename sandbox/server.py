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
service admits up to ``workers + queue`` programs in flight and answers 429 beyond that.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sandbox.errors import SandboxError
from sandbox.executor import Sandbox
from sandbox.judge import Judge
from sandbox.limits import Limits
from sandbox.result import ExecResult, Status
from sandbox.service import BadRequest, JsonService, Route

logger = logging.getLogger(__name__)

_RUN_KEYS = {"code", "language", "stdin", "limits"}
_JUDGE_KEYS = {"code", "language", "tests", "stop_on_first_failure", "limits", "float_tolerance", "checker"}


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


def _batch(payload: Any) -> list[Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("requests"), list):
        raise BadRequest('batch request must be {"requests": [...]}')
    return payload["requests"]


class SandboxApp:
    """Route handlers over one :class:`Sandbox` and a pool of ``workers`` threads."""

    def __init__(self, sandbox: Sandbox, *, workers: int) -> None:
        self.sandbox = sandbox
        self.judge_ = Judge(sandbox)
        self.workers = workers
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox-run")

    def _limits(self, data: Any) -> Limits:
        return Limits.from_dict(data, base=self.sandbox.limits)

    def run_one(self, payload: Any) -> dict[str, Any]:
        req = _fields(payload, _RUN_KEYS, ("code", "language"))
        try:
            return self.sandbox.run(req["code"], req["language"], stdin=req.get("stdin", ""),
                                    limits=self._limits(req.get("limits"))).to_dict()
        except SandboxError as exc:
            raise BadRequest(str(exc)) from exc

    def judge_one(self, payload: Any) -> dict[str, Any]:
        req = _fields(payload, _JUDGE_KEYS, ("code", "language", "tests"))
        try:
            return self.judge_.judge(
                req["code"], req["language"], req["tests"], stop_on_first_failure=bool(req.get("stop_on_first_failure", False)),
                limits=self._limits(req.get("limits")), float_tolerance=req.get("float_tolerance"), checker=req.get("checker"),
            ).to_dict()
        except SandboxError as exc:
            raise BadRequest(str(exc)) from exc

    def _on_pool(self, fn, payload: Any) -> dict[str, Any]:
        return self.pool.submit(fn, payload).result()

    def _batch(self, fn, payload: Any) -> dict[str, Any]:
        futures = [self.pool.submit(fn, item) for item in _batch(payload)]
        results = []
        for future in futures:
            try:
                results.append(future.result())
            except BadRequest as exc:
                results.append({"error": str(exc)})
        return {"results": results}

    def run_code(self, payload: Any) -> dict[str, Any]:
        """SandboxFusion's ``/run_code``: ``{code, language, stdin, compile_timeout, run_timeout, memory_limit_MB}``."""
        if not isinstance(payload, dict) or "code" not in payload or "language" not in payload:
            raise BadRequest("run_code needs 'code' and 'language'")
        if payload.get("files"):
            raise BadRequest("run_code: 'files' are not supported by this server")
        overrides: dict[str, Any] = {}
        if payload.get("run_timeout"):
            overrides["wall_s"] = float(payload["run_timeout"])
        if payload.get("compile_timeout"):
            overrides["compile_wall_s"] = float(payload["compile_timeout"])
        if payload.get("memory_limit_MB", -1) not in (-1, None):
            overrides["memory_mb"] = int(payload["memory_limit_MB"])
        try:
            limits = self._limits(overrides)
            language = str(payload["language"])
            result = self.pool.submit(self.sandbox.run, payload["code"], language, stdin=payload.get("stdin") or "",
                                      limits=limits).result()
        except SandboxError as exc:
            raise BadRequest(str(exc)) from exc
        return _fusion_response(result)

    def health(self) -> dict[str, Any]:
        return {"isolation": self.sandbox.report.to_dict(), "workers": self.workers}

    def close(self) -> None:
        self.pool.shutdown(wait=True)


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
                  queue: int | None = None) -> tuple[JsonService, SandboxApp]:
    """The HTTP service and its app (close the app after the service shut down)."""
    if workers < 1:
        raise SandboxError(f"workers must be at least 1, got {workers}")
    app = SandboxApp(sandbox, workers=workers)
    batch_cost = lambda payload: len(payload.get("requests", [])) if isinstance(payload, dict) else 1
    routes = {
        "/run": Route(lambda p: app._on_pool(app.run_one, p)),
        "/judge": Route(lambda p: app._on_pool(app.judge_one, p)),
        "/run_batch": Route(lambda p: app._batch(app.run_one, p), cost=batch_cost),
        "/judge_batch": Route(lambda p: app._batch(app.judge_one, p), cost=batch_cost),
        "/run_code": Route(app.run_code),
    }
    capacity = workers + (4 * workers if queue is None else queue)
    service = JsonService("sandbox", routes, host=host, port=port, capacity=capacity, health=app.health)
    return service, app

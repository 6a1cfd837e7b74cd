"""A small JSON-over-HTTP service kit shared by the sandbox server and the reward-model server.

Server (:class:`JsonService`): the standard library's threading HTTP server plus what a service in
a training cluster needs:

* admission control: each request has a *cost* (1, or the number of items of a batch); requests
  whose cost would push the work in flight past ``capacity`` are answered ``429`` with
  ``Retry-After`` at once, so a flood of ranks queues in the clients, not in server memory;
* ``GET /health`` (``200`` ready, ``503`` while draining) and ``GET /metrics`` (requests, errors,
  rejections, p50/p99 latency per route, work in flight);
* graceful shutdown (:meth:`JsonService.shutdown`, or SIGTERM/SIGINT under :meth:`serve`): stop
  accepting, let requests in flight finish, then close;
* a client that disconnects mid-request costs nothing but its own answer.

Client (:class:`JsonClient`, :class:`AsyncJsonClient`): ``httpx`` with connection reuse, a timeout per
request and retries with exponential backoff on connection errors, 429 and 502/503/504. Errors that
retrying cannot fix (400, 500 from the route) are raised at once as :class:`ServiceError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

logger = logging.getLogger(__name__)

#: Largest request body accepted, in bytes.
MAX_BODY_BYTES = 256 * 1024 * 1024
_RETRY_STATUSES = {429, 502, 503, 504}
_LATENCY_WINDOW = 2048
#: Seconds an idle keep-alive connection is kept open.
IDLE_TIMEOUT_S = 120


class ServiceError(RuntimeError):
    """A request the service refused or could not answer; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class BadRequest(ValueError):
    """Raised by a route handler for invalid input: answered ``400`` with the message."""


@dataclass
class Route:
    """A POST route: ``handler(payload) -> answer``; ``cost(payload)`` units of capacity while it runs."""

    handler: Callable[[Any], Any]
    cost: Callable[[Any], int] = field(default=lambda payload: 1)


@dataclass
class _RouteStats:
    requests: int = 0
    errors: int = 0
    rejected: int = 0
    latencies: deque = field(default_factory=lambda: deque(maxlen=_LATENCY_WINDOW))

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def pct(q: float) -> float | None:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2) if ordered else None

        return {"requests": self.requests, "errors": self.errors, "rejected": self.rejected,
                "p50_ms": pct(0.50), "p99_ms": pct(0.99)}


class JsonService:
    """Serve ``routes`` (path → :class:`Route`) as JSON POST endpoints on ``host:port``.

    ``capacity`` bounds the summed cost of requests in flight. ``health`` adds fields to ``/health``.
    """

    def __init__(self, name: str, routes: dict[str, Route], *, host: str = "127.0.0.1", port: int = 0,
                 capacity: int = 64, health: Callable[[], dict[str, Any]] | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.name = name
        self.routes = routes
        self.capacity = capacity
        self._health = health
        self._lock = threading.Lock()
        self._in_flight = 0
        self._draining = False
        self._started = time.time()
        self._stats = {path: _RouteStats() for path in routes}
        self._connections: set[BaseHTTPRequestHandler] = set()
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = False
        self._httpd.block_on_close = True  # server_close() waits for requests in flight
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> JsonService:
        """Serve in a background thread (tests, embedding); returns self."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"{self.name}-http", daemon=True)
        self._thread.start()
        return self

    def serve(self) -> None:
        """Serve in this thread until SIGTERM or SIGINT, then drain and return."""
        stop = threading.Event()

        def on_signal(signum: int, frame: object) -> None:
            logger.info("%s: signal %d, finishing requests in flight", self.name, signum)
            stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            while not stop.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.shutdown()

    def shutdown(self) -> None:
        """Stop accepting, wait for requests in flight, close the socket.

        Idle keep-alive connections are closed at once; a connection with a request in flight gets
        its answer with ``Connection: close``.
        """
        with self._lock:
            self._draining = True
            idle = [h for h in self._connections if not getattr(h, "busy", False)]
        self._httpd.shutdown()
        for handler in idle:
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- accounting ---------------------------------------------------------------------------------

    def _admit(self, cost: int) -> bool:
        with self._lock:
            if self._draining or (self._in_flight > 0 and self._in_flight + cost > self.capacity):
                return False
            self._in_flight += cost
            return True

    def _release(self, cost: int) -> None:
        with self._lock:
            self._in_flight -= cost

    def _record(self, path: str, outcome: str, latency: float | None = None) -> None:
        with self._lock:
            stats = self._stats[path]
            setattr(stats, outcome, getattr(stats, outcome) + 1)
            if latency is not None:
                stats.latencies.append(latency)

    def health(self) -> tuple[int, dict[str, Any]]:
        body = {"status": "draining" if self._draining else "ok", "service": self.name,
                "uptime_s": round(time.time() - self._started, 1)}
        if self._health is not None:
            body.update(self._health())
        return (503 if self._draining else 200), body

    def metrics(self) -> dict[str, Any]:
        with self._lock:
            return {"service": self.name, "capacity": self.capacity, "in_flight": self._in_flight,
                    "routes": {path: stats.summary() for path, stats in self._stats.items()}}

    # -- HTTP ---------------------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = f"rltrain-{service.name}"
            timeout = IDLE_TIMEOUT_S  # an idle keep-alive connection is closed after this
            busy = False

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm holds the
                # body until the client's delayed ACK (~40 ms per request on keep-alive connections).
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with service._lock:
                    service._connections.add(self)

            def finish(self) -> None:
                with service._lock:
                    service._connections.discard(self)
                super().finish()

            def handle_one_request(self) -> None:
                try:
                    super().handle_one_request()
                except (TimeoutError, ConnectionResetError, BrokenPipeError):
                    self.close_connection = True
                # Idle from here on, atomically with the drain check: a shutdown either saw this
                # connection idle (and closes it) or set draining first (and this stops reading). Without
                # the lock, a shutdown right after an answer could miss the connection and wait out its
                # idle timeout.
                with service._lock:
                    self.busy = False
                    if service._draining:
                        self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                logger.debug("%s: " + format, service.name, *args)

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                if service._draining:
                    self.close_connection = True
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    if self.close_connection:
                        self.send_header("Connection", "close")
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client went away; nothing to answer

            def do_GET(self) -> None:
                if self.path == "/health":
                    self._send(*service.health())
                elif self.path == "/metrics":
                    self._send(200, service.metrics())
                else:
                    self._send(404, {"error": f"no route GET {self.path}; try /health or /metrics"})

            def do_POST(self) -> None:
                self.busy = True  # cleared in handle_one_request, under the lock, once the answer is out
                self._post()

            def _post(self) -> None:
                route = service.routes.get(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    self.close_connection = True
                    self._send(413, {"error": f"body of {length} bytes exceeds {MAX_BODY_BYTES}"})
                    return
                raw = self.rfile.read(length) if length else b""
                if route is None:
                    self._send(404, {"error": f"no route POST {self.path}; routes: {sorted(service.routes)}"})
                    return
                try:
                    payload = json.loads(raw or b"null")
                    cost = max(1, int(route.cost(payload)))
                except (ValueError, TypeError, AttributeError, KeyError) as exc:
                    service._record(self.path, "errors")
                    self._send(400, {"error": f"invalid JSON request: {exc}"})
                    return
                if not service._admit(cost):
                    service._record(self.path, "rejected")
                    self._send(429, {"error": "busy: retry later"}, {"Retry-After": "1"})
                    return
                start = time.monotonic()
                try:
                    answer = route.handler(payload)
                except BadRequest as exc:
                    service._record(self.path, "errors")
                    self._send(400, {"error": str(exc)})
                    return
                except Exception as exc:  # a server bug: report it, keep serving
                    logger.exception("%s: %s failed", service.name, self.path)
                    service._record(self.path, "errors")
                    self._send(500, {"error": f"{type(exc).__name__}: {exc}"})
                    return
                finally:
                    service._release(cost)
                service._record(self.path, "requests", time.monotonic() - start)
                self._send(200, answer)

        return Handler


# ==================================================================================================
# Clients
# ==================================================================================================

class _Retry(Exception):
    """An attempt that may succeed if repeated (connection error, 429, 502/503/504)."""


def error_detail(response: Any) -> str:
    """The message of an error answer: ours (``{"error": "..."}``), OpenAI-style (``{"error": {"message"}}``,
    e.g. vLLM) or vLLM's older ``{"object": "error", "message": ...}``; else the body as text."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if error:
            return str(error)
        if body.get("message"):
            return str(body["message"])
    return response.text


class _RetryPolicy:
    """What both clients share: which answers are final, which are retried, and the backoff."""

    def __init__(self, base_url: str, retries: int, backoff: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff

    def delays(self) -> list[float]:
        """Seconds to wait after each failed attempt but the last."""
        return [self.backoff * 2**attempt for attempt in range(self.retries)] + [0.0]

    @staticmethod
    def answer(url: str, response: Any) -> Any:
        """The JSON answer, or :class:`_Retry`, or a final :class:`ServiceError`."""
        if response.status_code == 200:
            return response.json()
        if response.status_code in _RETRY_STATUSES:
            raise _Retry(f"{url} answered {response.status_code}")
        raise ServiceError(f"{url} answered {response.status_code}: {error_detail(response)}", response.status_code)

    def give_up(self, last: Exception | None) -> ServiceError:
        return ServiceError(f"{last} (gave up after {self.retries + 1} attempts)")


class JsonClient(_RetryPolicy):
    """Blocking client: one pooled ``httpx.Client``; thread-safe."""

    def __init__(self, base_url: str, *, timeout: float = 60.0, retries: int = 5, backoff: float = 0.2,
                 max_connections: int = 64) -> None:
        import httpx

        super().__init__(base_url, retries, backoff)
        self._http = httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=max_connections,
                                                                      max_keepalive_connections=max_connections))

    def post(self, path: str, payload: Any) -> Any:
        return self._request("POST", path, payload)

    def get(self, path: str) -> Any:
        return self._request("GET", path, None)

    def _request(self, method: str, path: str, payload: Any) -> Any:
        import httpx

        url, last = self.base_url + path, None
        for delay in self.delays():
            try:
                return self.answer(url, self._http.request(method, url, json=payload))
            except (httpx.TransportError, _Retry) as exc:  # refused, reset, timed out, busy
                last = exc
            time.sleep(delay)
        raise self.give_up(last)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncJsonClient(_RetryPolicy):
    """The asyncio twin of :class:`JsonClient` (one pooled ``httpx.AsyncClient`` per event loop)."""

    def __init__(self, base_url: str, *, timeout: float = 60.0, retries: int = 5, backoff: float = 0.2,
                 max_connections: int = 64) -> None:
        super().__init__(base_url, retries, backoff)
        self.timeout = timeout
        self.max_connections = max_connections
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}

    def _client(self) -> Any:
        """The pooled client of the running event loop (httpx clients are bound to one loop)."""
        import httpx

        loop = asyncio.get_running_loop()
        for stale in [old for old in self._clients if old.is_closed()]:
            del self._clients[stale]
        if loop not in self._clients:
            self._clients[loop] = httpx.AsyncClient(timeout=self.timeout, limits=httpx.Limits(
                max_connections=self.max_connections, max_keepalive_connections=self.max_connections))
        return self._clients[loop]

    async def post(self, path: str, payload: Any) -> Any:
        import httpx

        url, last = self.base_url + path, None
        for delay in self.delays():
            try:
                return self.answer(url, await self._client().post(url, json=payload))
            except (httpx.TransportError, _Retry) as exc:
                last = exc
            await asyncio.sleep(delay)
        raise self.give_up(last)

"""A small JSON-over-HTTP service kit shared by the sandbox server and the reward-model server.

Server (:class:`JsonService`): the standard library's threading HTTP server plus what a service in
a training cluster needs, with every request treated as hostile input:

* **bodies bounded from the stream**: a POST needs a well-formed ``Content-Length`` (missing: ``411``;
  negative or not a number: ``400``; above ``max_body_bytes``: ``413`` before any of it is read;
  ``Transfer-Encoding: chunked`` is answered ``411``). The body is read in chunks, never more than the
  declared length (itself at most the limit), within ``body_timeout_s``; a body cut short gets no answer;
* **admission before reading**: the bytes of bodies being read, parsed and handled are a budget
  (``max_bytes_in_flight``, reserved from the declared length before the body is read). A body that does
  not fit is discarded in small chunks and answered ``429``, so a flood of large requests costs the
  server bandwidth, not memory. Then each request has a *cost* (1, or the number of items of a batch);
  requests whose cost would push the work in flight past ``capacity`` are answered ``429`` too. Both
  carry ``Retry-After`` (seconds, from the route's median latency), so a flood waits in the clients;
* **JSON checked before use**: ``NaN``/``Infinity`` and nesting deeper than ``max_json_depth`` are
  answered ``400``, as is anything the route rejects with :class:`BadRequest`;
* **cancellation**: a route that asks for it (``Route(context=True)``) gets a :class:`RequestContext`
  whose ``cancelled`` event is set when the client disconnects (a watcher thread polls the sockets of
  requests in flight) or the service stops waiting for it, and whose ``deadline`` comes from the
  client's optional ``X-Request-Timeout`` header (seconds): long work checks ``ctx.abandoned()`` and stops;
* ``GET /health`` (``200`` ready, ``503`` while draining) and ``GET /metrics`` (requests, errors,
  rejections, p50/p99 latency per route, work and body bytes in flight);
* graceful shutdown (:meth:`JsonService.shutdown`, or SIGTERM/SIGINT under :meth:`serve`): stop
  accepting, let requests in flight finish for up to a drain timeout, then cancel what is left and close.

Client (:class:`JsonClient`, :class:`AsyncJsonClient`): ``httpx`` with connection reuse. A call has a
total ``deadline`` (seconds): ``429`` and ``503`` (busy, draining) are waited out, honouring
``Retry-After``, until the deadline, and counted in ``busy_waits``; connection errors and ``502``/``504``
are retried with exponential backoff up to ``retries`` times. Each attempt sends the time left as
``X-Request-Timeout``. Errors that retrying cannot fix (400, 413, 500 from the route) are raised at once
as :class:`ServiceError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import select
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

#: Default largest request body, in bytes.
MAX_BODY_BYTES = 64 * 1024 * 1024
#: Default deepest nesting of arrays and objects in a request.
MAX_JSON_DEPTH = 64
#: Header carrying the seconds the client will still wait for this answer.
TIMEOUT_HEADER = "X-Request-Timeout"
_RETRY_STATUSES = {502, 504}
_BUSY_STATUSES = {429, 503}
_LATENCY_WINDOW = 2048
_CHUNK = 256 * 1024
#: Seconds an idle keep-alive connection is kept open.
IDLE_TIMEOUT_S = 120
#: Retry-After sent while draining: the server is going away; a restarted one may take this long.
DRAIN_RETRY_AFTER_S = 5
MAX_RETRY_AFTER_S = 30


class ServiceError(RuntimeError):
    """A request the service refused or could not answer; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class BadRequest(ValueError):
    """Raised by a route handler for invalid input: answered ``status`` (``400``) with the message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Abandoned(RuntimeError):
    """Raised by a handler whose request was cancelled (client gone, deadline passed, server stopping)."""


@dataclass(eq=False)  # compared and hashed by identity: one per request
class RequestContext:
    """What a handler may know about its request beyond the payload (``Route(context=True)``).

    ``cancelled`` is set when the client disconnects or the server gives up on the request;
    ``deadline`` (``time.monotonic()`` seconds) comes from the client's ``X-Request-Timeout`` header.
    """

    cancelled: threading.Event = field(default_factory=threading.Event)
    deadline: float | None = None

    def abandoned(self) -> bool:
        """Whether nobody will read the answer any more: stop working on it."""
        return self.cancelled.is_set() or (self.deadline is not None and time.monotonic() >= self.deadline)

    def cancel(self) -> None:
        self.cancelled.set()


@dataclass
class Route:
    """A POST route: ``handler(payload) -> answer`` (``handler(payload, ctx)`` with ``context=True``);
    ``cost(payload)`` units of capacity while it runs."""

    handler: Callable[..., Any]
    cost: Callable[[Any], int] = field(default=lambda payload: 1)
    context: bool = False


class _Unanswerable(Exception):
    """The request cannot be answered (body cut short, client gone): close the connection silently."""


@dataclass
class _Refusal(Exception):
    """An answer given before the handler runs (4xx); ``close`` when the body was left unread."""

    status: int
    message: str
    close: bool = False
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _RouteStats:
    requests: int = 0
    errors: int = 0
    rejected: int = 0
    abandoned: int = 0
    latencies: deque = field(default_factory=lambda: deque(maxlen=_LATENCY_WINDOW))

    def percentile(self, q: float) -> float | None:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None

    def summary(self) -> dict[str, Any]:
        def ms(q: float) -> float | None:
            value = self.percentile(q)
            return None if value is None else round(value * 1000, 2)

        return {"requests": self.requests, "errors": self.errors, "rejected": self.rejected,
                "abandoned": self.abandoned, "p50_ms": ms(0.50), "p99_ms": ms(0.99)}


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests arrays/objects deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (numbers must be finite)")


def parse_json(raw: bytes, max_depth: int) -> Any:
    """The request's JSON; :class:`BadRequest` for invalid JSON, NaN/Infinity or nesting past ``max_depth``."""
    try:
        payload = json.loads(raw or b"null", parse_constant=_reject_constant)
    except RecursionError:
        raise BadRequest(f"invalid JSON request: nested deeper than {max_depth} levels") from None
    except (ValueError, TypeError) as exc:  # UnicodeDecodeError is a ValueError
        raise BadRequest(f"invalid JSON request: {exc}") from None
    if json_depth_exceeds(payload, max_depth):
        raise BadRequest(f"invalid JSON request: nested deeper than {max_depth} levels")
    return payload


def parse_content_length(headers: Any, max_body_bytes: int) -> int:
    """The declared body length of a POST, checked: a :class:`_Refusal` for anything but 0..limit."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        raise _Refusal(411, "chunked transfer encoding is not supported: send Content-Length", close=True)
    values = headers.get_all("Content-Length") or []
    if not values:
        raise _Refusal(411, "a POST needs a Content-Length header", close=True)
    text = values[0].strip()
    if len(values) > 1 or not text.isdigit() or not text.isascii():
        raise _Refusal(400, f"invalid Content-Length {', '.join(values)!r}: must be one non-negative integer",
                       close=True)
    length = int(text)
    if length > max_body_bytes:
        raise _Refusal(413, f"body of {length} bytes exceeds the limit of {max_body_bytes} bytes", close=True)
    return length


def parse_deadline(headers: Any) -> float | None:
    """``time.monotonic()`` deadline from the client's ``X-Request-Timeout`` (seconds), if sent."""
    value = headers.get(TIMEOUT_HEADER)
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise _Refusal(400, f"invalid {TIMEOUT_HEADER} {value!r}: must be a non-negative number of seconds")
    return time.monotonic() + seconds


class _DisconnectWatcher:
    """Sets a request's cancel event when its client closes the connection.

    One thread polls the sockets of requests whose handler is running (the handler is not reading them
    then): end of stream or an error means the client is gone. A socket with data waiting (a pipelined
    request) is left alone from then on: the client is evidently still there.
    """

    def __init__(self, name: str, interval: float = 0.1) -> None:
        self.interval = interval
        self._watched: dict[socket.socket, threading.Event] = {}
        self._lock = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name=f"{name}-disconnects", daemon=True)
        self._thread.start()

    def watch(self, sock: socket.socket, event: threading.Event) -> None:
        with self._lock:
            self._watched[sock] = event
            self._lock.notify()

    def unwatch(self, sock: socket.socket) -> None:
        with self._lock:
            self._watched.pop(sock, None)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify()

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._watched and not self._stopped:
                    self._lock.wait()
                if self._stopped:
                    return
                snapshot = dict(self._watched)
            self._check(snapshot)

    def _check(self, snapshot: dict[socket.socket, threading.Event]) -> None:
        poller = select.poll()
        by_fd = {}
        for sock in snapshot:
            try:
                fd = sock.fileno()
            except OSError:
                continue
            if fd >= 0:
                by_fd[fd] = sock
                poller.register(fd, select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR)
        try:
            ready = poller.poll(self.interval * 1000)
        except OSError:
            ready = []
        for fd, _ in ready:
            sock = by_fd[fd]
            try:
                gone = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
            except BlockingIOError:
                continue
            except OSError:
                gone = True
            if gone:
                snapshot[sock].set()
            self.unwatch(sock)
        if ready:
            time.sleep(self.interval)  # a socket stays readable: do not spin on it


class JsonService:
    """Serve ``routes`` (path → :class:`Route`) as JSON POST endpoints on ``host:port``.

    ``capacity`` bounds the summed cost of requests in flight; ``max_bytes_in_flight`` (default four
    bodies of ``max_body_bytes``) the bytes of request bodies held at once. ``health`` adds fields to
    ``/health``.
    """

    def __init__(self, name: str, routes: dict[str, Route], *, host: str = "127.0.0.1", port: int = 0,
                 capacity: int = 64, health: Callable[[], dict[str, Any]] | None = None,
                 max_body_bytes: int = MAX_BODY_BYTES, max_bytes_in_flight: int | None = None,
                 max_json_depth: int = MAX_JSON_DEPTH, body_timeout_s: float = 60.0) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if max_body_bytes < 1 or (max_bytes_in_flight is not None and max_bytes_in_flight < max_body_bytes):
            raise ValueError(f"max_body_bytes must be positive and max_bytes_in_flight at least max_body_bytes, "
                             f"got {max_body_bytes} and {max_bytes_in_flight}")
        self.name = name
        self.routes = routes
        self.capacity = capacity
        self.max_body_bytes = max_body_bytes
        self.max_bytes_in_flight = max_bytes_in_flight or 4 * max_body_bytes
        self.max_json_depth = max_json_depth
        self.body_timeout_s = body_timeout_s
        self._health = health
        self._lock = threading.Condition()
        self._in_flight = 0
        self._bytes_in_flight = 0
        self._busy = 0
        self._draining = False
        self._started = time.time()
        self._stats = {path: _RouteStats() for path in routes}
        self._connections: set[BaseHTTPRequestHandler] = set()
        self._contexts: set[RequestContext] = set()
        self._watcher = _DisconnectWatcher(name)
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        # Request threads are daemons and are not joined at close: shutdown() waits for the requests
        # themselves, for a bounded time, so a stuck request can never keep the process alive.
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
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

    def serve(self, drain_timeout: float | None = 30.0) -> bool:
        """Serve in this thread until SIGTERM or SIGINT, then drain (see :meth:`shutdown`) and return
        whether every request in flight finished within ``drain_timeout`` seconds."""
        stop = threading.Event()

        def on_signal(signum: int, frame: object) -> None:
            logger.info("%s: signal %d, finishing requests in flight (up to %s s)", self.name, signum, drain_timeout)
            stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            while not stop.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.shutdown(timeout=drain_timeout)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop accepting, wait up to ``timeout`` seconds (``None``: as long as it takes) for requests in
        flight, then cancel what is left and close the socket. Returns whether everything finished.

        Idle keep-alive connections are closed at once; a connection with a request in flight gets
        its answer with ``Connection: close``. Cancelled handlers see ``ctx.abandoned()``.
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
        end = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._busy and (end is None or time.monotonic() < end):
                self._lock.wait(0.1 if end is None else max(0.0, min(0.1, end - time.monotonic())))
            drained = self._busy == 0
            left = list(self._contexts)
        for ctx in left:
            ctx.cancel()
        if not drained:
            logger.warning("%s: %d request(s) still in flight after %s s; abandoning them", self.name, len(left), timeout)
        self._httpd.server_close()
        self._watcher.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return drained

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

    def _reserve_bytes(self, length: int) -> bool:
        """Reserve ``length`` body bytes (always granted to the first body, which fits the limit)."""
        with self._lock:
            if self._bytes_in_flight > 0 and self._bytes_in_flight + length > self.max_bytes_in_flight:
                return False
            self._bytes_in_flight += length
            return True

    def _release_bytes(self, length: int) -> None:
        with self._lock:
            self._bytes_in_flight -= length

    def _record(self, path: str, outcome: str, latency: float | None = None) -> None:
        with self._lock:
            stats = self._stats[path]
            setattr(stats, outcome, getattr(stats, outcome) + 1)
            if latency is not None:
                stats.latencies.append(latency)

    def retry_after(self, path: str | None) -> int:
        """Seconds a refused client should wait: the route's median latency (a typical request in
        flight will be done by then), at least 1 (the header counts whole seconds), at most 30."""
        if self._draining:
            return DRAIN_RETRY_AFTER_S
        with self._lock:
            median = self._stats[path].percentile(0.5) if path in self._stats else None
        return int(min(MAX_RETRY_AFTER_S, max(1, math.ceil(median or 1))))

    def health(self) -> tuple[int, dict[str, Any]]:
        body = {"status": "draining" if self._draining else "ok", "service": self.name,
                "uptime_s": round(time.time() - self._started, 1)}
        if self._health is not None:
            body.update(self._health())
        return (503 if self._draining else 200), body

    def metrics(self) -> dict[str, Any]:
        with self._lock:
            return {"service": self.name, "capacity": self.capacity, "in_flight": self._in_flight,
                    "bytes_in_flight": self._bytes_in_flight, "max_bytes_in_flight": self.max_bytes_in_flight,
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
                finally:
                    # Idle from here on, atomically with the drain check: a shutdown either saw this
                    # connection idle (and closes it) or set draining first (and this stops reading).
                    with service._lock:
                        if self.busy:
                            service._busy -= 1
                            service._lock.notify_all()
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
                except (BrokenPipeError, ConnectionResetError, TimeoutError):
                    self.close_connection = True  # the client went away; nothing to answer

            def _refuse(self, refusal: _Refusal) -> None:
                if refusal.close:
                    self.close_connection = True
                self._send(refusal.status, {"error": refusal.message}, refusal.headers)

            def _busy_answer(self, path: str | None, reason: str) -> _Refusal:
                seconds = service.retry_after(path)
                return _Refusal(503 if service._draining else 429, f"{reason}: retry after {seconds} s",
                                headers={"Retry-After": str(seconds)})

            def do_GET(self) -> None:
                if self.path == "/health":
                    self._send(*service.health())
                elif self.path == "/metrics":
                    self._send(200, service.metrics())
                else:
                    self._send(404, {"error": f"no route GET {self.path}; try /health or /metrics"})

            def do_POST(self) -> None:
                with service._lock:  # cleared in handle_one_request, under the lock, once the answer is out
                    self.busy = True
                    service._busy += 1
                try:
                    self._post()
                except _Refusal as refusal:
                    self._refuse(refusal)
                except _Unanswerable:
                    self.close_connection = True

            # -- reading ----------------------------------------------------------------------------

            def _read_body(self, length: int) -> bytes:
                """Exactly ``length`` bytes in chunks, within the body timeout; else :class:`_Unanswerable`."""
                chunks, got = [], 0
                end = time.monotonic() + service.body_timeout_s
                try:
                    while got < length:
                        left = end - time.monotonic()
                        if left <= 0:
                            raise _Unanswerable("body too slow")
                        self.connection.settimeout(left)
                        chunk = self.rfile.read1(min(_CHUNK, length - got))
                        if not chunk:
                            raise _Unanswerable("body cut short")
                        chunks.append(chunk)
                        got += len(chunk)
                except OSError as exc:  # timed out, reset
                    raise _Unanswerable(str(exc)) from None
                finally:
                    self.connection.settimeout(self.timeout)
                return b"".join(chunks)

            def _discard_body(self, length: int) -> None:
                """Read and drop a body we will not handle, so the connection stays usable."""
                left = length
                while left > 0:
                    chunk = self._read_body(min(_CHUNK, left))
                    left -= len(chunk)

            # -- the request ------------------------------------------------------------------------

            def _post(self) -> None:
                length = parse_content_length(self.headers, service.max_body_bytes)
                route = service.routes.get(self.path)
                if route is None:
                    self._discard_body(length)
                    raise _Refusal(404, f"no route POST {self.path}; routes: {sorted(service.routes)}")
                if not service._reserve_bytes(length):
                    self._discard_body(length)
                    service._record(self.path, "rejected")
                    raise self._busy_answer(self.path, "busy: request bodies in flight")
                try:
                    self._admitted_body(route, length)
                finally:
                    service._release_bytes(length)

            def _admitted_body(self, route: Route, length: int) -> None:
                raw = self._read_body(length)
                try:
                    deadline = parse_deadline(self.headers)
                    payload = parse_json(raw, service.max_json_depth)
                    del raw
                    cost = max(1, int(route.cost(payload)))
                except BadRequest as exc:
                    service._record(self.path, "errors")
                    raise _Refusal(exc.status, str(exc)) from None
                except (ValueError, TypeError, AttributeError, KeyError) as exc:
                    service._record(self.path, "errors")
                    raise _Refusal(400, f"invalid request: {exc}") from None
                if not service._admit(cost):
                    service._record(self.path, "rejected")
                    raise self._busy_answer(self.path, "busy")
                try:
                    self._handle(route, payload, RequestContext(deadline=deadline))
                finally:
                    service._release(cost)

            def _handle(self, route: Route, payload: Any, ctx: RequestContext) -> None:
                start = time.monotonic()
                with service._lock:
                    service._contexts.add(ctx)
                service._watcher.watch(self.connection, ctx.cancelled)
                try:
                    answer = route.handler(payload, ctx) if route.context else route.handler(payload)
                except BadRequest as exc:
                    service._record(self.path, "errors")
                    self._send(exc.status, {"error": str(exc)})
                    return
                except Abandoned as exc:
                    service._record(self.path, "abandoned")
                    self._send(504 if not ctx.cancelled.is_set() else 503, {"error": f"abandoned: {exc}"})
                    return
                except Exception as exc:  # a server bug: report it, keep serving
                    logger.exception("%s: %s failed", service.name, self.path)
                    service._record(self.path, "errors")
                    self._send(500, {"error": f"{type(exc).__name__}: {exc}"})
                    return
                finally:
                    service._watcher.unwatch(self.connection)
                    with service._lock:
                        service._contexts.discard(ctx)
                service._record(self.path, "requests", time.monotonic() - start)
                self._send(200, answer)

        return Handler


# ==================================================================================================
# Clients
# ==================================================================================================

class _Retry(Exception):
    """An attempt that may succeed if repeated (connection error, 502/504)."""


class _Busy(Exception):
    """The server is busy or draining (429/503): wait ``retry_after`` seconds (``None``: not said)."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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


def _retry_after(response: Any) -> float | None:
    """``Retry-After`` in seconds (the delay form; an HTTP date or garbage counts as not given)."""
    try:
        value = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return min(float(MAX_RETRY_AFTER_S), value) if math.isfinite(value) and value >= 0 else None


class _Call:
    """The retry state of one call: its deadline, its failures, and what to do after each attempt."""

    def __init__(self, policy: _RetryPolicy, url: str) -> None:
        self.policy = policy
        self.url = url
        self.start = time.monotonic()
        self.end = self.start + policy.deadline
        self.failures = 0
        self.waits = 0
        self.last: Exception | None = None

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def request_timeout(self) -> float:
        """The attempt's timeout: the per-request timeout, cut to what is left of the deadline."""
        return max(0.001, min(self.policy.timeout, self.remaining()))

    def headers(self) -> dict[str, str]:
        return {TIMEOUT_HEADER: f"{self.request_timeout():.3f}"}

    def delay_after(self, exc: Exception) -> float:
        """Seconds to wait before the next attempt; raises the final :class:`ServiceError` instead."""
        self.last = exc
        if isinstance(exc, _Busy):
            base = exc.retry_after if exc.retry_after is not None else self.policy.backoff * 2 ** min(self.waits, 6)
            delay = base * random.uniform(1.0, 1.5)  # spread a flood's retries out
            self.waits += 1
        else:
            self.failures += 1
            if self.failures > self.policy.retries:
                raise ServiceError(f"{exc} (gave up after {self.failures} failed attempts)")
            delay = self.policy.backoff * 2 ** (self.failures - 1)
        if delay >= self.remaining():
            status = 429 if isinstance(exc, _Busy) else 0
            raise ServiceError(f"{exc}; deadline of {self.policy.deadline:g} s reached after "
                               f"{time.monotonic() - self.start:.1f} s ({self.waits} busy waits, "
                               f"{self.failures} failed attempts)", status)
        if isinstance(exc, _Busy):
            self.policy._count_wait(delay)
        return delay


class _RetryPolicy:
    """What both clients share: which answers are final, which are waited out or retried, and how long.

    ``timeout``: seconds per attempt; ``deadline``: seconds per call, all attempts and waits together
    (default: ``timeout``); ``retries``: attempts repeated after connection errors and 502/504 (busy
    answers are waited out until the deadline instead, however many). ``busy_waits``/``busy_wait_s``
    count the waits for a busy server, for callers to log.
    """

    def __init__(self, base_url: str, retries: int, backoff: float, timeout: float, deadline: float | None) -> None:
        if deadline is not None and deadline <= 0:
            raise ValueError(f"deadline must be positive, got {deadline}")
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.deadline = deadline if deadline is not None else timeout
        self.busy_waits = 0
        self.busy_wait_s = 0.0
        self._count_lock = threading.Lock()

    def _count_wait(self, seconds: float) -> None:
        with self._count_lock:
            self.busy_waits += 1
            self.busy_wait_s += seconds

    @staticmethod
    def answer(url: str, response: Any) -> Any:
        """The JSON answer, or :class:`_Busy`/:class:`_Retry`, or a final :class:`ServiceError`."""
        if response.status_code == 200:
            return response.json()
        if response.status_code in _BUSY_STATUSES:
            raise _Busy(f"{url} answered {response.status_code}", _retry_after(response))
        if response.status_code in _RETRY_STATUSES:
            raise _Retry(f"{url} answered {response.status_code}")
        raise ServiceError(f"{url} answered {response.status_code}: {error_detail(response)}", response.status_code)


class JsonClient(_RetryPolicy):
    """Blocking client: one pooled ``httpx.Client``; thread-safe."""

    def __init__(self, base_url: str, *, timeout: float = 60.0, retries: int = 5, backoff: float = 0.2,
                 max_connections: int = 64, deadline: float | None = None) -> None:
        import httpx

        super().__init__(base_url, retries, backoff, timeout, deadline)
        self._http = httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=max_connections,
                                                                      max_keepalive_connections=max_connections))

    def post(self, path: str, payload: Any) -> Any:
        return self._request("POST", path, payload)

    def get(self, path: str) -> Any:
        return self._request("GET", path, None)

    def _request(self, method: str, path: str, payload: Any) -> Any:
        import httpx

        call = _Call(self, self.base_url + path)
        while True:
            try:
                response = self._http.request(method, call.url, json=payload, headers=call.headers(),
                                              timeout=call.request_timeout())
                return self.answer(call.url, response)
            except (httpx.TransportError, _Retry, _Busy) as exc:  # refused, reset, timed out, busy
                time.sleep(call.delay_after(exc))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncJsonClient(_RetryPolicy):
    """The asyncio twin of :class:`JsonClient` (one pooled ``httpx.AsyncClient`` per event loop)."""

    def __init__(self, base_url: str, *, timeout: float = 60.0, retries: int = 5, backoff: float = 0.2,
                 max_connections: int = 64, deadline: float | None = None) -> None:
        super().__init__(base_url, retries, backoff, timeout, deadline)
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

        call = _Call(self, self.base_url + path)
        while True:
            try:
                response = await self._client().post(call.url, json=payload, headers=call.headers(),
                                                     timeout=call.request_timeout())
                return self.answer(call.url, response)
            except (httpx.TransportError, _Retry, _Busy) as exc:
                await asyncio.sleep(call.delay_after(exc))

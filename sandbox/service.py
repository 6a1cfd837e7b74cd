"""A small JSON-over-HTTP service kit shared by the sandbox server and the reward-model server.

Server (:class:`JsonService`): an ASGI application served by uvicorn (``httptools`` parser when
installed, else ``h11``) on one event loop, route handlers on a pool of threads sized for the service,
plus what a service in a training cluster needs, with every request treated as hostile input. A POST to
a route is served by the kit's own ASGI code, which carries the load with no router, middleware, request
or response objects per request; everything else (the GET routes, ``404``, ``405``) by Starlette:

* **bodies bounded from the stream**: a POST needs a well-formed ``Content-Length``. Missing: ``411``;
  ``Transfer-Encoding: chunked``: ``411``; above ``max_body_bytes``: ``413`` before any of it is read.
  Negative, not a number or repeated with different values: ``400`` — from the HTTP parser, which
  refuses such a request before it reaches the application (its answer is JSON too, naming the parser's
  reason, and closes the connection); a value the parser accepts but this kit does not (repeated) is
  refused here with ``400``. The body is read as it arrives, never more than the declared length, within
  ``body_timeout_s`` (``408`` after it, checked every second or quarter of the timeout if shorter, for
  all reads at once); a body cut short gets no answer;
* **admission before reading**: the bytes of bodies being read, parsed and handled are a budget
  (``max_bytes_in_flight``, reserved from the declared length before the body is read). A body that does
  not fit is answered ``429`` unread (uvicorn drops its bytes as they arrive, holding at most 64 KiB per
  connection), so a flood of large requests costs the server bandwidth, not memory. Then each request has
  a *cost* (1, or the number of items of a batch); requests whose cost would push the work in flight past
  ``capacity`` are answered ``429`` too. Both carry ``Retry-After`` (seconds, from the route's median
  latency), so a flood waits in the clients;
* **JSON checked before use**: ``NaN``/``Infinity`` and nesting deeper than ``max_json_depth`` are
  answered ``400``, as is anything the route rejects with :class:`BadRequest`;
* **handlers off the event loop**: the handler and the answer's encoding run on the service's own daemon
  threads (``threads``, default ``min(capacity, 64)``), so a blocking handler never stalls other
  connections and a stuck one never keeps the process alive. The checks and admission take microseconds
  and stay on the loop, as does parsing a body of up to ``INLINE_PARSE_BYTES`` (a larger one is parsed
  on one of ``PARSER_THREADS`` threads). Answers come back to the loop straight into its futures, the
  answers finished together on one wake-up of the loop;
* **cancellation**: a route that asks for it (``Route(context=True)``) gets a :class:`RequestContext`
  whose ``cancelled`` event is set when the client disconnects (the ASGI ``http.disconnect`` message,
  awaited beside the handler) or the service stops waiting for it, and whose ``deadline`` comes from the
  client's optional ``X-Request-Timeout`` header (seconds): long work checks ``ctx.abandoned()`` and stops;
* ``GET /health`` (``200`` ready, ``503`` while draining); ``GET /metrics`` in the Prometheus text
  exposition format (per route: answered, errors, rejected, abandoned counters and a latency histogram;
  gauges of work, requests and body bytes in flight), then the service's own counters and gauges
  (:class:`Metric`, e.g. the reward model's batcher); ``GET /metrics.json`` the same as JSON with
  p50/p99 latencies over a recent window (:meth:`JsonService.metrics`);
* graceful shutdown (:meth:`JsonService.shutdown`, or SIGTERM/SIGINT under :meth:`serve`): stop
  accepting, close idle keep-alive connections, let requests in flight finish for up to a drain timeout
  (uvicorn's ``timeout_graceful_shutdown``), then cancel what is left (answered ``503``) and close.

Client (:class:`JsonClient`, :class:`AsyncJsonClient`): ``httpx`` with connection reuse. A call has a
total ``deadline`` (seconds): ``429`` and ``503`` (busy, draining) are waited out, honouring
``Retry-After``, until the deadline, and counted in ``busy_waits``; connection errors and ``502``/``504``
are retried with exponential backoff up to ``retries`` times. Each attempt sends the time left as
``X-Request-Timeout``. Errors that retrying cannot fix (400, 413, 500 from the route) are raised at once
as :class:`ServiceError`.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
import math
import queue
import random
import re
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

#: Default largest request body, in bytes.
MAX_BODY_BYTES = 64 * 1024 * 1024
#: Default deepest nesting of arrays and objects in a request.
MAX_JSON_DEPTH = 64
#: Header carrying the seconds the client will still wait for this answer.
TIMEOUT_HEADER = "X-Request-Timeout"
_TIMEOUT_HEADER_NAME = TIMEOUT_HEADER.lower().encode("latin-1")
_RETRY_STATUSES = {502, 504}
_BUSY_STATUSES = {429, 503}
_LATENCY_WINDOW = 2048
#: Upper bounds (seconds) of the latency histogram's buckets in ``/metrics``.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
#: Seconds an idle keep-alive connection is kept open.
IDLE_TIMEOUT_S = 120
#: Retry-After sent while draining: the server is going away; a restarted one may take this long.
DRAIN_RETRY_AFTER_S = 5
MAX_RETRY_AFTER_S = 30
#: Handler threads when the service does not say: enough for every request a service of this kit
#: admits at once in practice; admitted requests beyond it wait for a thread, not for admission.
DEFAULT_THREADS = 64
#: Bodies up to this size are parsed on the event loop (well under a millisecond); larger ones on
#: one of ``PARSER_THREADS`` threads, so that parsing 64 MiB does not hold up every other connection.
INLINE_PARSE_BYTES = 64 * 1024
PARSER_THREADS = 4
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: ASGI's ``receive`` and ``send`` callables.
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


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
    """The request cannot be answered (body cut short, client gone): nobody reads an answer."""


@dataclass
class _Refusal(Exception):
    """An answer given before the handler runs (4xx); ``close`` when the body was left unread."""

    status: int
    message: str
    close: bool = False
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Answer:
    """What goes back for one request: status, the JSON bytes and extra headers."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, status: int, value: Any, headers: dict[str, str] | None = None) -> _Answer:
        return cls(status, json.dumps(value).encode(), headers or {})

    @classmethod
    def refusal(cls, refusal: _Refusal) -> _Answer:
        headers = {**refusal.headers, **({"Connection": "close"} if refusal.close else {})}
        return cls.of(refusal.status, {"error": refusal.message}, headers)


@dataclass
class _RouteStats:
    requests: int = 0
    errors: int = 0
    rejected: int = 0
    abandoned: int = 0
    latencies: deque = field(default_factory=lambda: deque(maxlen=_LATENCY_WINDOW))
    #: Answered requests per latency bucket (the last one: above every bound) and their summed seconds.
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    latency_sum: float = 0.0

    def observe(self, seconds: float) -> None:
        self.latencies.append(seconds)
        self.latency_sum += seconds
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1  # the first bound >= seconds

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
        children: Iterable[Any]
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


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text[:32]} is out of the range of a float (numbers must be finite)")
    return value


#: One decoder for every request (``json.loads`` with an option builds a new one per call).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def _loads(raw: bytes | bytearray) -> Any:
    """``json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)``, step for step, on the
    shared decoder."""
    text = raw.decode(json.detect_encoding(raw), "surrogatepass")
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    return _DECODER.decode(text)


def parse_json(raw: bytes | bytearray, max_depth: int) -> Any:
    """The request's JSON; :class:`BadRequest` for invalid JSON, NaN/Infinity, a number too large for a float
    (``1e400``) or nesting past ``max_depth``."""
    try:
        payload = _loads(raw or b"null")
    except RecursionError:
        raise BadRequest(f"invalid JSON request: nested deeper than {max_depth} levels") from None
    except (ValueError, TypeError) as exc:  # UnicodeDecodeError is a ValueError
        raise BadRequest(f"invalid JSON request: {exc}") from None
    # Each level of nesting opens with a "[" or "{" (in any of JSON's encodings a byte of that value):
    # a body with no more of those bytes than the limit needs no walk of its payload.
    if raw.count(b"[") + raw.count(b"{") > max_depth and json_depth_exceeds(payload, max_depth):
        raise BadRequest(f"invalid JSON request: nested deeper than {max_depth} levels")
    return payload


@dataclass
class RequestHead:
    """The request headers this kit reads, taken from the ASGI scope's raw header list in one pass
    (the servers hand names lower-cased; values are decoded as Latin-1, as HTTP/1.1 defines them)."""

    content_lengths: list[str] = field(default_factory=list)
    transfer_encoding: str | None = None
    timeout: str | None = None

    @classmethod
    def of(cls, raw: Iterable[tuple[bytes, bytes]]) -> RequestHead:
        head = cls()
        for name, value in raw:
            if name == b"content-length":
                head.content_lengths.append(value.decode("latin-1"))
            elif name == b"transfer-encoding":
                if head.transfer_encoding is None:
                    head.transfer_encoding = value.decode("latin-1")
            elif name == _TIMEOUT_HEADER_NAME and head.timeout is None:
                head.timeout = value.decode("latin-1")
        return head


def parse_content_length(head: RequestHead, max_body_bytes: int) -> int:
    """The declared body length of a POST, checked: a :class:`_Refusal` for anything but 0..limit.

    The HTTP parser has already refused lengths it cannot frame a body with (negative, not a number);
    this refuses what it let through.
    """
    if "chunked" in (head.transfer_encoding or "").lower():
        raise _Refusal(411, "chunked transfer encoding is not supported: send Content-Length", close=True)
    values = head.content_lengths
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


def parse_deadline(value: str | None) -> float | None:
    """``time.monotonic()`` deadline from the client's ``X-Request-Timeout`` value (seconds), if sent."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise _Refusal(400, f"invalid {TIMEOUT_HEADER} {value!r}: must be a non-negative number of seconds")
    return time.monotonic() + seconds


_T = TypeVar("_T")


class _Deadlines:
    """Ends awaits (reading a request body) that take longer than ``seconds``, with :class:`TimeoutError`.

    One check every ``period`` seconds while any await is pending, rather than a timer armed and
    cancelled around each one (``asyncio.timeout``): that pair cost about a fifth of the kit's own time
    per request, for bodies that nearly always arrive with their headers. An await ends between
    ``seconds`` and ``seconds + period`` after it began.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.period = min(1.0, seconds / 4)
        self._pending: dict[asyncio.Task, float] = {}
        self._overdue: set[asyncio.Task] = set()
        self._checking = False

    async def within(self, awaitable: Awaitable[_T]) -> _T:
        """``await awaitable`` in the current task, cancelled once ``seconds`` have passed."""
        task = asyncio.current_task()
        assert task is not None, "awaited outside a task"
        self._pending[task] = time.monotonic() + self.seconds
        if not self._checking:
            self._checking = True
            asyncio.get_running_loop().call_later(self.period, self._check)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if task not in self._overdue:
                raise
            if sys.version_info >= (3, 11) and task.uncancel() > 0:
                raise  # cancelled by someone else too (the server's drain): that one wins
            raise TimeoutError(f"not done within {self.seconds:g} s") from None
        finally:
            del self._pending[task]
            self._overdue.discard(task)

    def _check(self) -> None:
        now = time.monotonic()
        for task, deadline in self._pending.items():
            if deadline <= now and task not in self._overdue:
                self._overdue.add(task)
                task.cancel()
        if self._pending:
            asyncio.get_running_loop().call_later(self.period, self._check)
        else:
            self._checking = False


#: A call for a handler thread: the loop and future that receive its outcome, the function, its arguments.
_Job = tuple[asyncio.AbstractEventLoop, asyncio.Future, Callable[..., Any], tuple[Any, ...]]
#: What a handler thread hands back: the future, the result, the exception (``None``: it returned).
_Outcome = tuple[asyncio.Future, Any, BaseException | None]


class _HandlerThreads:
    """Up to ``size`` daemon threads, started on demand, that run the blocking part of requests for one
    event loop.

    Daemons, unlike ``concurrent.futures``' workers (joined at interpreter exit): a handler still
    running after an abandoned drain must never keep the process alive. A job's outcome goes straight
    to an asyncio future of the loop (no ``concurrent.futures.Future`` chained to it); outcomes that
    finish while the loop has not yet taken the previous ones ride on the same wake-up, so a busy
    service writes to the loop's self-pipe once per batch of answers rather than once per answer.
    """

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._busy = 0
        self._waiting = 0
        self._done: deque[_Outcome] = deque()
        self._wake_pending = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future:
        """Run ``fn(*args)`` on a thread; await the returned future on the loop that called this.
        Cancelling the future before a thread took the job skips it."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._lock:
            self._waiting += 1
            spawn = self._threads < self.size and self._threads - self._busy < self._waiting
            if spawn:
                self._threads += 1
        if spawn:
            threading.Thread(target=self._work, name=f"{self.name}-handler", daemon=True).start()
        self._jobs.put((loop, future, fn, args))
        return future

    def close(self) -> None:
        """Let the threads end once the jobs queued before this are done (never waits for them)."""
        with self._lock:
            count = self._threads
        for _ in range(count):
            self._jobs.put(None)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            loop, future, fn, args = job
            with self._lock:
                self._waiting -= 1
                self._busy += 1
            try:
                if not future.cancelled():  # read across threads: at worst a just-cancelled job runs
                    try:
                        outcome: _Outcome = (future, fn(*args), None)
                    except BaseException as exc:  # noqa: BLE001 - handed to the awaiting request
                        outcome = (future, None, exc)
                    self._deliver(loop, outcome)
            finally:
                with self._lock:
                    self._busy -= 1

    def _deliver(self, loop: asyncio.AbstractEventLoop, outcome: _Outcome) -> None:
        """Hand ``outcome`` to the loop; wake it only when no wake-up is already on its way.

        Safe without a lock: an outcome is appended before the flag is read, and the loop clears the
        flag before it takes the outcomes, so each one is taken by a wake-up scheduled after it.
        """
        self._done.append(outcome)
        if self._wake_pending:
            return
        self._wake_pending = True
        try:
            loop.call_soon_threadsafe(self._settle)
        except RuntimeError:  # the loop is closed: the service stopped and nobody awaits this any more
            pass

    def _settle(self) -> None:
        """On the loop: set the futures of every outcome delivered so far (skipping cancelled ones)."""
        self._wake_pending = False
        done = self._done
        while done:
            future, result, error = done.popleft()
            if future.cancelled():
                continue
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _sample(name: str, labels: dict[str, str], value: float) -> str:
    text = ",".join(f'{key}="{_escape_label(str(v))}"' for key, v in labels.items())
    return f"{name}{{{text}}} {value:g}" if isinstance(value, float) else f"{name}{{{text}}} {value}"


_METRIC_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
#: Groups a service's metrics may not take: the kit's JSON keys (and ``http``, whose families are the kit's).
_KIT_GROUPS = frozenset({"service", "capacity", "in_flight", "requests_in_flight", "bytes_in_flight",
                         "max_bytes_in_flight", "routes"})


@dataclass(frozen=True)
class Metric:
    """A figure a service adds to the kit's own (``JsonService(metrics=...)``): a counter (``counter=True``,
    a total that only grows) or a gauge (a level). ``GET /metrics`` shows it as the family
    ``rltrain_<group>_<name>`` (``_total`` after a counter's name) labelled with the service's name;
    ``GET /metrics.json`` as ``{"<group>": {"<name>": value}}``."""

    group: str
    name: str
    help: str
    value: float
    counter: bool = True

    def __post_init__(self) -> None:
        for part in (self.group, self.name):
            if not _METRIC_NAME.fullmatch(part):
                raise ValueError(f"metric {self.group}.{self.name}: {part!r} is not a Prometheus name part")
        if self.group in _KIT_GROUPS or self.group == "http" or self.group.startswith("http_"):
            raise ValueError(f"metric {self.group}.{self.name}: the group {self.group!r} is the kit's own")

    @property
    def family(self) -> str:
        return f"rltrain_{self.group}_{self.name}{'_total' if self.counter else ''}"


def prometheus_text(service: str, gauges: dict[str, tuple[str, float]],
                    routes: dict[str, _RouteStats], extra: Iterable[Metric] = ()) -> str:
    """The Prometheus text exposition (format 0.0.4) of a service's figures, ``extra`` after the kit's.

    Written here rather than with ``prometheus-client``: a dozen families of plain counters, gauges and
    one histogram, and no process-global registry to keep apart between services in one process.
    """
    base = {"service": service}
    lines: list[str] = []
    for name, (help_text, value) in gauges.items():
        lines += [f"# HELP rltrain_http_{name} {help_text}", f"# TYPE rltrain_http_{name} gauge",
                  _sample(f"rltrain_http_{name}", base, value)]
    counters = (("requests", "Requests answered by their route (200)."),
                ("errors", "Requests refused as invalid (4xx) or failed in their handler (500)."),
                ("rejected", "Requests refused for load (429) or while draining (503)."),
                ("abandoned", "Requests given up: client gone, deadline passed, or server stopping."))
    for outcome, help_text in counters:
        name = f"rltrain_http_{outcome}_total"
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
        lines += [_sample(name, {**base, "route": path}, getattr(stats, outcome)) for path, stats in routes.items()]
    name = "rltrain_http_request_duration_seconds"
    lines += [f"# HELP {name} Handler time of answered requests.", f"# TYPE {name} histogram"]
    for path, stats in routes.items():
        labels, cumulative = {**base, "route": path}, 0
        for bound, count in zip((*LATENCY_BUCKETS, math.inf), stats.buckets, strict=False):
            cumulative += count
            lines.append(_sample(f"{name}_bucket", {**labels, "le": "+Inf" if bound == math.inf else f"{bound:g}"},
                                 cumulative))
        lines += [_sample(f"{name}_sum", labels, float(stats.latency_sum)), _sample(f"{name}_count", labels, cumulative)]
    for metric in extra:
        help_text = metric.help.replace("\\", "\\\\").replace("\n", "\\n")
        lines += [f"# HELP {metric.family} {help_text}", f"# TYPE {metric.family} {'counter' if metric.counter else 'gauge'}",
                  _sample(metric.family, base, metric.value)]
    return "\n".join(lines) + "\n"


def _json_parser_errors(protocol: type) -> type:
    """uvicorn's HTTP protocol ``protocol``, answering requests its parser refuses with our JSON error
    (``{"error": "invalid HTTP request: <the parser's reason>"}``) instead of a plain-text 400."""

    class JsonErrorProtocol(protocol):
        def send_400_response(self, msg: str) -> None:
            cause = sys.exc_info()[1]  # called inside uvicorn's handler of the parser error
            reason = str(cause) if cause is not None and str(cause) else msg
            body = json.dumps({"error": f"invalid HTTP request: {reason}"}).encode()
            head = (b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
            self.transport.write(head + body)
            self.transport.close()

    JsonErrorProtocol.__name__ = f"JsonError{protocol.__name__}"
    return JsonErrorProtocol


def http_protocol(name: str = "auto") -> type:
    """uvicorn's HTTP/1.1 implementation: ``httptools`` (faster, and strict about ``Content-Length``)
    when installed and ``name`` is ``auto``, else ``h11``."""
    if name in ("auto", "httptools"):
        try:
            from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
        except ImportError:
            if name == "httptools":
                raise
        else:
            return _json_parser_errors(HttpToolsProtocol)
    from uvicorn.protocols.http.h11_impl import H11Protocol

    return _json_parser_errors(H11Protocol)


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound now so :attr:`JsonService.address` is known before serving.

    Created with ``IPPROTO_TCP`` spelled out: asyncio sets ``TCP_NODELAY`` only on connections whose
    socket says so, and without it every answer (headers and body written apart) waits ~40 ms for the
    client's delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


class JsonService:
    """Serve ``routes`` (path → :class:`Route`) as JSON POST endpoints on ``host:port``.

    ``capacity`` bounds the summed cost of requests in flight; ``max_bytes_in_flight`` (default four
    bodies of ``max_body_bytes``) the bytes of request bodies held at once; ``threads`` the handlers
    running at once (default ``min(capacity, 64)``). ``health`` adds fields to ``/health``, ``metrics``
    figures of the service's own to ``/metrics`` and ``/metrics.json`` (:class:`Metric`). ``http``:
    uvicorn's HTTP implementation (``auto``, ``httptools``, ``h11``).
    """

    def __init__(self, name: str, routes: dict[str, Route], *, host: str = "127.0.0.1", port: int = 0,
                 capacity: int = 64, health: Callable[[], dict[str, Any]] | None = None,
                 max_body_bytes: int = MAX_BODY_BYTES, max_bytes_in_flight: int | None = None,
                 max_json_depth: int = MAX_JSON_DEPTH, body_timeout_s: float = 60.0,
                 threads: int | None = None, http: str = "auto",
                 metrics: Callable[[], Iterable[Metric]] | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if max_body_bytes < 1 or (max_bytes_in_flight is not None and max_bytes_in_flight < max_body_bytes):
            raise ValueError(f"max_body_bytes must be positive and max_bytes_in_flight at least max_body_bytes, "
                             f"got {max_body_bytes} and {max_bytes_in_flight}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.name = name
        self.routes = routes
        self.capacity = capacity
        self.max_body_bytes = max_body_bytes
        self.max_bytes_in_flight = max_bytes_in_flight or 4 * max_body_bytes
        self.max_json_depth = max_json_depth
        self.body_timeout_s = body_timeout_s
        self._health = health
        self._extra_metrics = metrics
        self._lock = threading.Lock()
        self._in_flight = 0
        self._bytes_in_flight = 0
        self._requests_in_flight = 0
        self._cut = 0  # requests still in flight when a drain timed out
        self._draining = False
        self._started = time.time()
        self._body_deadlines = _Deadlines(body_timeout_s)
        self._stats = {path: _RouteStats() for path in routes}
        self._threads = _HandlerThreads(threads or min(capacity, DEFAULT_THREADS), name)
        self._parsers = _HandlerThreads(PARSER_THREADS, f"{name}-parse")
        self._socket = _listen(host, port)
        self._address = self._socket.getsockname()[:2]
        self._server = self._uvicorn(http)
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._address
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    # -- lifecycle ----------------------------------------------------------------------------------

    def _uvicorn(self, http: str) -> Any:
        import uvicorn

        config = uvicorn.Config(
            self._app(), lifespan="off", http=http_protocol(http), loop="asyncio", log_config=None,
            log_level="error", access_log=False, timeout_keep_alive=IDLE_TIMEOUT_S, server_header=False,
            date_header=False, timeout_graceful_shutdown=None)
        return uvicorn.Server(config)

    def start(self) -> JsonService:
        """Serve in a background thread (tests, embedding) once the server is up; returns self."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name}: already started")
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-http", daemon=True)
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            time.sleep(0.005)
        if not self._server.started:
            raise ServiceError(f"{self.name}: the HTTP server failed to start (see the log)")
        return self

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except BaseException:
            logger.exception("%s: the HTTP server failed", self.name)

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
            while not stop.wait(0.5) and self._thread is not None and self._thread.is_alive():
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.shutdown(timeout=drain_timeout)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop accepting, wait up to ``timeout`` seconds (``None``: as long as it takes) for requests in
        flight, then cancel what is left and close the socket. Returns whether everything finished.

        Idle keep-alive connections are closed at once; a connection with a request in flight gets
        its answer with ``Connection: close``. Cancelled handlers see ``ctx.abandoned()``; their
        clients get ``503``.
        """
        with self._lock:
            self._draining = True
            if self._stopped:
                return self._cut == 0
            self._stopped = True
        if self._thread is None:
            self._socket.close()
        else:
            self._server.config.timeout_graceful_shutdown = timeout
            self._server.should_exit = True
            self._thread.join()
        self._threads.close()
        self._parsers.close()
        if self._cut:
            logger.warning("%s: %d request(s) still in flight after %s s; abandoned them", self.name, self._cut, timeout)
        return self._cut == 0

    # -- accounting ---------------------------------------------------------------------------------

    # The work, body bytes and requests in flight change on the event loop's thread only: no lock.
    # Other threads read them (``metrics``) and ``shutdown`` sets ``_draining``, each a single load or
    # store of one attribute.

    def _admit(self, cost: int) -> bool:
        if self._draining or (self._in_flight > 0 and self._in_flight + cost > self.capacity):
            return False
        self._in_flight += cost
        return True

    def _release(self, cost: int) -> None:
        self._in_flight -= cost

    def _reserve_bytes(self, length: int) -> bool:
        """Reserve ``length`` body bytes (always granted to the first body, which fits the limit)."""
        if self._bytes_in_flight > 0 and self._bytes_in_flight + length > self.max_bytes_in_flight:
            return False
        self._bytes_in_flight += length
        return True

    def _release_bytes(self, length: int) -> None:
        self._bytes_in_flight -= length

    def _record(self, path: str, outcome: str, latency: float | None = None) -> None:
        """Count one outcome of a request to ``path`` (from the loop and the handler threads alike)."""
        stats = self._stats[path]
        with self._lock:
            setattr(stats, outcome, getattr(stats, outcome) + 1)
            if latency is not None:
                stats.observe(latency)

    def retry_after(self, path: str | None) -> int:
        """Seconds a refused client should wait: the route's median latency (a typical request in
        flight will be done by then), at least 1 (the header counts whole seconds), at most 30."""
        if self._draining:
            return DRAIN_RETRY_AFTER_S
        with self._lock:
            median = self._stats[path].percentile(0.5) if path in self._stats else None
        return int(min(MAX_RETRY_AFTER_S, max(1, math.ceil(median or 1))))

    def _busy_refusal(self, path: str, reason: str) -> _Refusal:
        seconds = self.retry_after(path)
        return _Refusal(503 if self._draining else 429, f"{reason}: retry after {seconds} s",
                        headers={"Retry-After": str(seconds)})

    def health(self) -> tuple[int, dict[str, Any]]:
        body = {"status": "draining" if self._draining else "ok", "service": self.name,
                "uptime_s": round(time.time() - self._started, 1)}
        if self._health is not None:
            body.update(self._health())
        return (503 if self._draining else 200), body

    def metrics(self) -> dict[str, Any]:
        """The figures as JSON (``GET /metrics.json``): per route counts and p50/p99 ms, load in flight,
        and the service's own :class:`Metric` s by group."""
        with self._lock:
            figures: dict[str, Any] = {"service": self.name, "capacity": self.capacity, "in_flight": self._in_flight,
                                       "requests_in_flight": self._requests_in_flight,
                                       "bytes_in_flight": self._bytes_in_flight,
                                       "max_bytes_in_flight": self.max_bytes_in_flight,
                                       "routes": {path: stats.summary() for path, stats in self._stats.items()}}
        for metric in self._service_metrics():
            figures.setdefault(metric.group, {})[metric.name] = metric.value
        return figures

    def _service_metrics(self) -> list[Metric]:
        """The service's own figures, read outside the kit's lock (their owner keeps them consistent)."""
        return list(self._extra_metrics()) if self._extra_metrics is not None else []

    def metrics_text(self) -> str:
        """The figures in the Prometheus text format (``GET /metrics``)."""
        with self._lock:
            gauges = {
                "capacity": ("Work units admitted at once (429 beyond).", self.capacity),
                "in_flight": ("Work units of the requests being handled.", self._in_flight),
                "requests_in_flight": ("Requests between their headers and their answer.", self._requests_in_flight),
                "body_bytes_in_flight": ("Body bytes reserved by requests in flight.", self._bytes_in_flight),
                "max_body_bytes_in_flight": ("Body bytes reserved at once (429 beyond).", self.max_bytes_in_flight),
                "draining": ("1 while the service drains before stopping.", int(self._draining)),
                "uptime_seconds": ("Seconds since the service was created.", round(time.time() - self._started, 3)),
            }
            routes = {path: _RouteStats(stats.requests, stats.errors, stats.rejected, stats.abandoned,
                                        deque(), list(stats.buckets), stats.latency_sum)
                      for path, stats in self._stats.items()}
        return prometheus_text(self.name, gauges, routes, self._service_metrics())

    # -- HTTP ---------------------------------------------------------------------------------------

    def _app(self) -> Callable[[dict[str, Any], Receive, Send], Awaitable[None]]:
        """The ASGI application. A POST to a route goes straight to :meth:`_post` and its answer straight
        to the server: no router, middleware, request or response objects on the one path that carries
        the load. Everything else (``GET /health``, ``/metrics``, ``/metrics.json``, ``404``, ``405``)
        goes to Starlette."""
        starlette = self._starlette()
        routes, post = self.routes, self._post

        async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["method"] == "POST":
                path = scope["path"]
                route = routes.get(path)
                if route is not None:
                    await _send_answer(send, await post(path, route, RequestHead.of(scope["headers"]), receive))
                    return
            await starlette(scope, receive, send)

        return app

    def _starlette(self) -> Any:
        from starlette.applications import Starlette
        from starlette.routing import Route as StarletteRoute

        routes = [StarletteRoute("/health", self._get_health, methods=["GET"]),
                  StarletteRoute("/metrics", self._get_metrics, methods=["GET"]),
                  StarletteRoute("/metrics.json", self._get_metrics_json, methods=["GET"])]
        # The POST routes again, so that another method on their path is answered 405, not 404.
        routes += [StarletteRoute(path, self._post_endpoint(path, route), methods=["POST"])
                   for path, route in self.routes.items()]
        return Starlette(routes=routes, exception_handlers={404: self._not_found, 405: self._not_allowed})

    @staticmethod
    def _respond(answer: _Answer) -> Any:
        from starlette.responses import Response

        return Response(answer.body, answer.status, answer.headers, media_type="application/json")

    async def _get_health(self, request: Any) -> Any:
        return self._respond(_Answer.of(*self.health()))

    async def _get_metrics(self, request: Any) -> Any:
        from starlette.responses import Response

        return Response(self.metrics_text(), 200, media_type=PROMETHEUS_CONTENT_TYPE)

    async def _get_metrics_json(self, request: Any) -> Any:
        return self._respond(_Answer.of(200, self.metrics()))

    async def _not_found(self, request: Any, exc: Exception) -> Any:
        return self._respond(_Answer.of(404, {"error": f"no route {request.method} {request.url.path}; POST routes: "
                                                       f"{sorted(self.routes)}; GET /health, /metrics, /metrics.json"}))

    async def _not_allowed(self, request: Any, exc: Exception) -> Any:
        allowed = getattr(exc, "headers", None) or {}
        return self._respond(_Answer.of(405, {"error": f"{request.method} is not allowed on {request.url.path}"},
                                        dict(allowed)))

    def _post_endpoint(self, path: str, route: Route) -> Callable[[Any], Awaitable[Any]]:
        async def endpoint(request: Any) -> Any:
            return self._respond(await self._post(path, route, RequestHead.of(request.scope["headers"]), request.receive))

        return endpoint

    async def _post(self, path: str, route: Route, head: RequestHead, receive: Receive) -> _Answer:
        """One POST: length checks, body admission, reading, parsing and work admission on the loop
        (parsing a large body on a parser thread), the handler on a handler thread."""
        self._requests_in_flight += 1
        ctx: RequestContext | None = None
        try:
            length = parse_content_length(head, self.max_body_bytes)
            if not self._reserve_bytes(length):
                self._record(path, "rejected")
                raise self._busy_refusal(path, "busy: request bodies in flight")
            try:
                body = await self._read_body(receive, length)
                payload, cost, deadline = await self._parsed(path, route, body, head.timeout)
                del body
                if not self._admit(cost):
                    self._record(path, "rejected")
                    raise self._busy_refusal(path, "busy")
                try:
                    if not route.context:
                        work = self._threads.submit(self._handle, path, route, payload, None)
                        del payload
                        answer: _Answer = await work
                        return answer
                    ctx = RequestContext(deadline=deadline)
                    work = self._threads.submit(self._handle, path, route, payload, ctx)
                    del payload
                    return await self._await_work(work, ctx, receive)
                finally:
                    self._release(cost)
            finally:
                self._release_bytes(length)
        except _Refusal as refusal:
            return _Answer.refusal(refusal)
        except _Unanswerable:
            return _Answer(400, b"", {"Connection": "close"})  # the client is gone: nobody reads this
        except asyncio.CancelledError:  # the drain timed out with this request in flight
            if ctx is not None:
                ctx.cancel()
            with self._lock:
                self._cut += 1
            self._record(path, "abandoned")
            return _Answer.of(503, {"error": "abandoned: the server is stopping"},
                              {"Retry-After": str(DRAIN_RETRY_AFTER_S), "Connection": "close"})
        finally:
            self._requests_in_flight -= 1

    async def _parsed(self, path: str, route: Route, body: bytes | bytearray,
                      timeout: str | None) -> tuple[Any, int, float | None]:
        """The payload, its cost and its deadline; a small body is parsed on the loop (faster than a
        thread hop), a large one on a parser thread so that other connections are not held up meanwhile."""
        if len(body) <= INLINE_PARSE_BYTES:
            return self._parse(path, route, body, timeout)
        parsed: tuple[Any, int, float | None] = await self._parsers.submit(self._parse, path, route, body, timeout)
        return parsed

    async def _read_body(self, receive: Receive, length: int) -> bytes | bytearray:
        """Exactly ``length`` bytes as they arrive, within the body timeout (else ``408``);
        :class:`_Unanswerable` when the client leaves first."""
        try:
            return await self._body_deadlines.within(_receive_body(receive, length))
        except TimeoutError:
            raise _Refusal(408, f"body not received within {self.body_timeout_s:g} s", close=True) from None

    async def _await_work(self, work: asyncio.Future, ctx: RequestContext, receive: Receive) -> _Answer:
        """The handler thread's answer; a disconnect meanwhile cancels ``ctx``."""
        watcher = asyncio.ensure_future(self._cancel_on_disconnect(receive, ctx))
        try:
            answer: _Answer = await work
            return answer
        finally:
            watcher.cancel()

    @staticmethod
    async def _cancel_on_disconnect(receive: Receive, ctx: RequestContext) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        ctx.cancel()

    # -- on a parser or handler thread ------------------------------------------------------------------------

    def _parse(self, path: str, route: Route, body: bytes | bytearray, timeout: str | None) -> tuple[Any, int, float | None]:
        """The payload, its cost (at least 1) and the client's deadline; a ``400`` :class:`_Refusal`
        (counted as an error) for a bad ``X-Request-Timeout``, invalid JSON, or a payload the route's
        ``cost`` cannot read."""
        try:
            deadline = parse_deadline(timeout)
            payload = parse_json(body, self.max_json_depth)
            return payload, max(1, int(route.cost(payload))), deadline
        except _Refusal:
            self._record(path, "errors")
            raise
        except BadRequest as exc:
            self._record(path, "errors")
            raise _Refusal(exc.status, str(exc)) from None
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            self._record(path, "errors")
            raise _Refusal(400, f"invalid request: {exc}") from None

    def _handle(self, path: str, route: Route, payload: Any, ctx: RequestContext | None) -> _Answer:
        start = time.monotonic()
        try:
            answer = route.handler(payload, ctx) if route.context else route.handler(payload)
            encoded = _Answer.of(200, answer)
        except BadRequest as exc:
            self._record(path, "errors")
            return _Answer.of(exc.status, {"error": str(exc)})
        except Abandoned as exc:
            self._record(path, "abandoned")
            cancelled = ctx is not None and ctx.cancelled.is_set()
            return _Answer.of(503 if cancelled else 504, {"error": f"abandoned: {exc}"})
        except Exception as exc:  # a server bug: report it, keep serving
            logger.exception("%s: %s failed", self.name, path)
            self._record(path, "errors")
            return _Answer.of(500, {"error": f"{type(exc).__name__}: {exc}"})
        self._record(path, "requests", time.monotonic() - start)
        return encoded


async def _receive_body(receive: Receive, length: int) -> bytes | bytearray:
    """The body's ``http.request`` messages, exactly ``length`` bytes (a body that came in one message,
    the usual case for a small one, is returned as it came, uncopied)."""
    body: bytes | bytearray = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Unanswerable("the client left before sending its body")
        chunk = message.get("body", b"")
        if body:
            if isinstance(body, bytes):
                body = bytearray(body)
            body += chunk
        else:
            body = chunk
        if len(body) > length:  # the parser frames the body by its length: never expected
            raise _Refusal(400, f"body longer than its Content-Length of {length} bytes", close=True)
        if not message.get("more_body", False):
            break
    if len(body) < length:
        raise _Unanswerable("body cut short")
    return body


async def _send_answer(send: Send, answer: _Answer) -> None:
    """``answer`` as the two ASGI messages of a response (the headers Starlette's ``Response`` would send)."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer.body))]
    headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers.items()]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


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

    def __enter__(self) -> JsonClient:
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

"""The ``openai`` backend: any OpenAI-compatible chat server (``vllm serve``, SGLang, ``transformers serve``).

What is sent
------------
One ``POST {base_url}/chat/completions`` per completion, not streamed, with ``model``, the chat
``messages``, ``temperature``, ``top_p``, ``max_completion_tokens`` (the field OpenAI's API now
documents; vLLM, SGLang and ``transformers serve`` take it as well as the older ``max_tokens``) and the
request's ``seed``. ``n`` is left at the servers' default of 1 (``transformers serve`` warns about an
explicit one). The server applies the model's chat template with its generation prompt, as every backend
does, so QwQ's template prefills ``<think>\\n`` here too.

``top_k`` is no field of OpenAI's schema. vLLM and SGLang take it at the top level of the body, which is
tried first; ``transformers serve`` refuses unknown fields (422) but takes a ``generation_config`` JSON
string, so after a refusal that names ``top_k`` the backend sends ``generation_config: {"top_k": K,
"do_sample": true}`` instead (``do_sample`` too, since that server otherwise decodes greedily for a
model whose own generation config does not sample). A server that refuses both (OpenAI's own API) ends
the evaluation with an error that says so: evaluate with top-k disabled there (``top_k=None``), knowing
that QwQ's protocol samples with top-k 40. With ``top_k=None`` neither is sent.

The completion text
-------------------
Servers with a reasoning parser (``vllm serve --reasoning-parser``, QwQ's hosted API) return the thinking
apart, as ``reasoning_content`` (vLLM before 0.11, most others) or ``reasoning`` (vLLM since). It is joined
back so that every backend scores the same kind of text::

    "<think>\\n" + reasoning.strip() + "\\n</think>\\n\\n" + content.lstrip()

unless ``content`` already contains ``</think>`` (the server did not split it: ``content`` is the text),
or there is no reasoning (``content`` alone). When the server returned reasoning and an empty content
(``null`` from vLLM, ``""`` from transformers serve), the text is ``"<think>\\n" + reasoning.strip()``: the
model usually never closed its thinking (a completion cut at ``max_tokens``), and neither server tells
that apart from a closed thinking with nothing after it, so no closing tag is made up; such a completion
has no answer either way. The parsers differ in the newlines they leave around the two parts; stripping
them gives QwQ's own layout whichever parser ran. Without a reasoning parser the text is what the model
wrote after the prompt (QwQ's prefilled ``<think>\\n`` then belongs to the prompt, not to the text);
scorers read the answer after ``</think>`` either way.

``finish_reason`` ``"length"`` is a completion cut at ``max_tokens`` (scored wrong, reported as
truncated); ``"abort"`` or ``"error"`` (a request the server dropped) is retried; anything else counts as
a finished completion. Token counts are the answer's ``usage``.

Failures
--------
Requests run ``concurrency`` at a time on an event loop in a background thread; :meth:`generate` yields
each completion as it arrives. Each attempt may take ``timeout_s`` seconds (connect, and each wait for
bytes of the answer: the answer is not streamed, so in effect the whole completion). A 32k-token
reasoning completion on a server running hundreds of them at once can take far longer than the default
600 s: raise it there (slurm/eval.slurm gives 7200), since a timed-out request is abandoned by vLLM and
started again from scratch. Connection errors, timeouts, 408, 429 and 5xx answers are retried up to
``max_retries`` times with exponential backoff and jitter (1, 2, 4, ... seconds up to 60, each between
half and all of that), or after the ``Retry-After`` the server asked for; then :class:`BackendError`
names the URL and the last error. Other refusals (a prompt longer than the server's context, an unknown
model) end the evaluation at once with the server's message: repeating them cannot help.

At construction the backend asks ``GET {base_url}/models`` (retried alike) and refuses a server that does
not serve ``model``, listing what it serves. The API key is ``api_key``, else ``$OPENAI_API_KEY``, sent
as a bearer token (local servers need none).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import httpx

from rltrain.evaluation.backends.base import BackendError, FinishReason, Generation, GenerationRequest
from rltrain.evaluation.settings import SamplingSettings

__all__ = ["OpenAIBackend", "join_reasoning"]

logger = logging.getLogger(__name__)

TopKField = Literal["top_k", "generation_config"]
"""Where a request carries top-k: the body's ``top_k`` (vLLM, SGLang) or ``generation_config`` (transformers serve)."""

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Answers worth repeating: a timeout, a busy server, a server (or the proxy in front of it) failing."""
RETRY_FINISH_REASONS = frozenset({"abort", "error"})
"""Finish reasons of a request the server dropped rather than completed."""
MAX_RETRY_AFTER_S = 300.0
"""The longest ``Retry-After`` honoured; a server asking for more is retried after this long."""
CONNECT_TIMEOUT_S = 30.0
"""Seconds to open a connection (at most ``timeout_s``): a server that takes longer is down or swamped."""
POLL_S = 0.5
"""How often the waiting caller checks that the background loop is still alive."""

T = TypeVar("T")


def join_reasoning(reasoning: str | None, content: str | None) -> str:
    """The completion text from a server's split answer (the rule of the module docstring)."""
    if not reasoning:
        return content or ""
    if not content:
        return "<think>\n" + reasoning.strip()
    if "</think>" in content:
        return content
    return "<think>\n" + reasoning.strip() + "\n</think>\n\n" + content.lstrip()


def api_base(base_url: str) -> str:
    """``base_url`` without a trailing slash, with ``/v1`` added when it names no path at all (a server's
    root, ``http://node:8000``, is a common way to give an OpenAI-compatible server's address)."""
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BackendError(f"openai backend: base URL {base_url!r} is not an http(s) URL such as http://node:8000/v1")
    return url if parts.path else url + "/v1"


def retry_after_s(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (a delay or an HTTP date), capped; ``None`` when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(MAX_RETRY_AFTER_S, max(0.0, seconds))


def error_text(response: httpx.Response, limit: int = 500) -> str:
    """A refusal's message: OpenAI-style ``{"error": {"message"}}``, vLLM's older ``{"message"}``,
    FastAPI's ``{"detail"}``; else the body. Cut at ``limit`` characters."""
    try:
        body = response.json()
    except ValueError:
        body = None
    text = response.text
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            text = str(error["message"])
        elif error:
            text = str(error)
        elif body.get("message"):
            text = str(body["message"])
        elif body.get("detail"):
            text = str(body["detail"])
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


class _Retryable(Exception):
    """One attempt failed in a way that another attempt may not (``delay``: what the server asked for)."""

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class _TopKRefused(Exception):
    """The server refused the request because of how top-k was sent."""


@dataclass(frozen=True)
class _Served:
    """A model a server lists at ``/models``."""

    id: str
    root: str | None


class OpenAIBackend:
    """Completions from an OpenAI-compatible server at ``base_url`` (e.g. ``http://node:8000/v1``) serving ``model``."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        concurrency: int = 8,
        timeout_s: float = 600,
        max_retries: int = 5,
        api_key: str | None = None,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``backoff_s``/``max_backoff_s``: the first and the longest wait between attempts; ``transport``:
        an httpx transport to talk through instead of the network (tests)."""
        if concurrency < 1:
            raise BackendError(f"openai backend: concurrency must be >= 1, got {concurrency}")
        if not timeout_s > 0:
            raise BackendError(f"openai backend: timeout_s must be > 0, got {timeout_s}")
        if max_retries < 0:
            raise BackendError(f"openai backend: max_retries must be >= 0, got {max_retries}")
        self.base_url = api_base(base_url)
        self.model = model
        self.concurrency = concurrency
        self.timeout_s = float(timeout_s)
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.retries = 0
        """Attempts repeated so far (all requests together), for callers to report."""
        self._top_k_field: TopKField = "top_k"
        self._random = random.Random()
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        timeout = httpx.Timeout(self.timeout_s, connect=min(CONNECT_TIMEOUT_S, self.timeout_s))
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="openai-backend", daemon=True)
        self._thread.start()
        self._closed = False

        async def make_client() -> httpx.AsyncClient:
            return httpx.AsyncClient(headers=headers, timeout=timeout, limits=limits, transport=transport)

        try:
            self._client = self._call(make_client())
            self._served = self._check_model()
        except BaseException:
            self.close()
            raise

    # -- the Protocol -------------------------------------------------------------------------------

    def identity(self) -> str:
        """The served model's name, and the checkpoint behind it when the server says (vLLM's ``root``) and
        it differs: two checkpoints served under one name never share samples."""
        if self._served is not None and self._served.root and self._served.root != self._served.id:
            return f"{self._served.id}@{self._served.root}"
        return self.model

    def generate(self, requests: Sequence[GenerationRequest], settings: SamplingSettings) -> Iterator[tuple[GenerationRequest, Generation]]:
        """Yield each request with its completion as soon as the server answers it, ``concurrency`` in
        flight; the first request that fails for good raises :class:`BackendError` (the others in flight
        are cancelled). Leaving the loop early cancels what is still in flight."""
        if self._closed:
            raise BackendError("openai backend: generate() after close()")
        if not requests:
            return
        done: queue.Queue[tuple[GenerationRequest, Generation] | BaseException] = queue.Queue()
        future = asyncio.run_coroutine_threadsafe(self._run(list(requests), settings, done.put), self._loop)
        try:
            for _ in range(len(requests)):
                item = self._next(done, future)
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            future.cancel()

    def close(self) -> None:
        """Close the connections and stop the background loop; idempotent."""
        if self._closed:
            return
        self._closed = True
        client = getattr(self, "_client", None)
        if client is not None and self._loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(client.aclose(), self._loop).result(timeout=10)
            except Exception as exc:  # noqa: BLE001 - closing: a connection that fails to close is let go
                logger.debug("openai backend: closing the client failed: %s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def top_k_field(self) -> TopKField:
        """How top-k is sent now: ``top_k`` until the server refuses it, then ``generation_config``."""
        return self._top_k_field

    # -- requests -----------------------------------------------------------------------------------

    def request_body(self, request: GenerationRequest, settings: SamplingSettings) -> dict[str, Any]:
        """The JSON body of one chat completion (see the module docstring)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(message) for message in request.messages],
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "max_completion_tokens": settings.max_tokens,
            "seed": request.seed,
        }
        if settings.top_k is not None:
            if self._top_k_field == "top_k":
                body["top_k"] = settings.top_k
            else:
                body["generation_config"] = json.dumps({"top_k": settings.top_k, "do_sample": not settings.greedy})
        return body

    async def _run(self, requests: list[GenerationRequest], settings: SamplingSettings,
                   put: Callable[[tuple[GenerationRequest, Generation] | BaseException], None]) -> None:
        """``concurrency`` workers take the requests in order; each result (or the error that ends the run) is put."""
        pending = deque(requests)

        async def worker() -> None:
            while pending:
                request = pending.popleft()
                try:
                    put((request, await self._complete(request, settings)))
                except asyncio.CancelledError:
                    raise
                except BackendError as exc:
                    put(exc)
                    return
                except Exception as exc:  # noqa: BLE001 - any other failure ends the run as a BackendError
                    put(BackendError(f"openai backend: {self.base_url}: {request.key}: {type(exc).__name__}: {exc}"))
                    return

        workers = [asyncio.ensure_future(worker()) for _ in range(min(self.concurrency, len(requests)))]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()

    async def _complete(self, request: GenerationRequest, settings: SamplingSettings) -> Generation:
        """One completion, with the retries of the module docstring."""
        url = f"{self.base_url}/chat/completions"

        async def attempt() -> Generation:
            while True:
                field = self._top_k_field
                response = await self._client.post(url, json=self.request_body(request, settings))
                try:
                    return self._generation(response, url, top_k_sent=settings.top_k is not None)
                except _TopKRefused:
                    self._after_top_k_refusal(field, url, response)

        return await self._with_retries(attempt, f"{url} ({request.key.benchmark}/{request.key.item_id}#{request.key.index})")

    def _after_top_k_refusal(self, field: TopKField, url: str, response: httpx.Response) -> None:
        """Switch to the next way of sending top-k, or stop when the server takes none."""
        if field == "top_k":
            if self._top_k_field == "top_k":
                logger.info("openai backend: %s refuses a top_k field (%s); sending top-k in generation_config", url,
                            error_text(response, 200))
                self._top_k_field = "generation_config"
            return
        raise BackendError(
            f"openai backend: {url} accepts no top-k, neither as a top_k field (vLLM, SGLang) nor in "
            f"generation_config (transformers serve): {error_text(response)}. OpenAI's own API has no top-k: "
            "evaluate there with top-k disabled (top_k=None), knowing that QwQ's protocol samples with top-k 40.")

    def _generation(self, response: httpx.Response, url: str, *, top_k_sent: bool) -> Generation:
        """The completion in a 200 answer; raises what the other answers mean."""
        status = response.status_code
        if status in RETRY_STATUSES:
            raise _Retryable(f"HTTP {status}: {error_text(response, 200)}", retry_after_s(response))
        if status in (400, 422) and top_k_sent and self._names_top_k(response):
            raise _TopKRefused()
        if status != 200:
            raise BackendError(f"openai backend: {url} refused the request (HTTP {status}): {error_text(response)}")
        try:
            data = response.json()
            choice = data["choices"][0]
            message = choice.get("message") or {}
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise _Retryable(f"an answer that is no chat completion ({type(exc).__name__}): {response.text[:200]!r}") from exc
        finish = choice.get("finish_reason")
        if finish in RETRY_FINISH_REASONS:
            raise _Retryable(f"the server ended the request with finish_reason {finish!r}")
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        usage = data.get("usage") or {}
        reason: FinishReason = "length" if finish == "length" else "stop"
        return Generation(text=join_reasoning(reasoning, message.get("content")), finish_reason=reason,
                          prompt_tokens=_count(usage.get("prompt_tokens")),
                          completion_tokens=_count(usage.get("completion_tokens")))

    @staticmethod
    def _names_top_k(response: httpx.Response) -> bool:
        """Whether a refusal is about the top-k field: transformers serve's "Unexpected fields in the
        request: {'top_k'}", OpenAI's "Unrecognized request argument supplied: top_k", and the like."""
        text = error_text(response, 2000)
        return "top_k" in text or "generation_config" in text

    # -- the server's models --------------------------------------------------------------------------

    def _check_model(self) -> _Served | None:
        """What the server lists for ``model``; raises when it lists models but not this one. A server
        without a model list (404/405) is taken at its word."""
        url = f"{self.base_url}/models"

        async def attempt() -> httpx.Response:
            response = await self._client.get(url)
            if response.status_code in RETRY_STATUSES:
                raise _Retryable(f"HTTP {response.status_code}: {error_text(response, 200)}", retry_after_s(response))
            return response

        response = self._call(self._with_retries(attempt, url))
        if response.status_code in (404, 405):
            logger.warning("openai backend: %s lists no models (HTTP %d); assuming it serves %r", url, response.status_code, self.model)
            return None
        if response.status_code != 200:
            raise BackendError(f"openai backend: {url} answered HTTP {response.status_code}: {error_text(response)}")
        try:
            listed = [_Served(str(entry["id"]), entry.get("root")) for entry in response.json()["data"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendError(f"openai backend: {url} answered no model list: {response.text[:200]!r}") from exc
        for served in listed:
            if served.id == self.model:
                return served
        names = ", ".join(repr(s.id) for s in listed) or "nothing"
        raise BackendError(f"openai backend: {self.base_url} does not serve {self.model!r}; it serves {names}. "
                           "Name the model as the server does (vllm serve --served-model-name).")

    # -- plumbing -----------------------------------------------------------------------------------

    async def _with_retries(self, attempt: Callable[[], Awaitable[T]], what: str) -> T:
        """``attempt()`` until it succeeds, retrying connection errors, timeouts and :class:`_Retryable`."""
        last = ""
        for number in range(self.max_retries + 1):
            asked: float | None = None
            try:
                return await attempt()
            except httpx.TimeoutException as exc:
                last = f"no answer within {self.timeout_s:g} s ({type(exc).__name__})"
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            except _Retryable as exc:
                last, asked = str(exc), exc.delay
            if number == self.max_retries:
                break
            delay = asked if asked is not None else self._backoff(number)
            self.retries += 1
            logger.warning("openai backend: %s: %s; retry %d of %d in %.1f s", what, last, number + 1, self.max_retries, delay)
            await asyncio.sleep(delay)
        raise BackendError(f"openai backend: {what}: gave up after {self.max_retries + 1} attempts; last error: {last}")

    def _backoff(self, number: int) -> float:
        """Exponential backoff with jitter: between half and all of ``backoff_s * 2**number`` (capped)."""
        ceiling = min(self.max_backoff_s, self.backoff_s * 2 ** min(number, 30))
        return ceiling * self._random.uniform(0.5, 1.0)

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the background loop and wait for it."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result()

    def _next(self, done: queue.Queue[Any], future: Future[None]) -> Any:
        """The next finished item; a run that ended without putting one (it crashed) raises."""
        while True:
            try:
                return done.get(timeout=POLL_S)
            except queue.Empty:
                if future.done() and done.empty():
                    error = None if future.cancelled() else future.exception()
                    raise BackendError(f"openai backend: the request loop stopped unexpectedly: {error!r}") from error


def _count(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

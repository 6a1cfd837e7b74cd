"""Serving a reward model over HTTP: ``rltrain rm serve MODEL_PATH --port 8081``.

A large reward model can live on its own node while the trainer's ranks score against it. Built on the
shared JSON service kit (:mod:`sandbox.service`): bounded bodies and work in flight answered ``429``,
``GET /health`` (ready, model, device, batcher counters), ``GET /metrics`` (the kit's request metrics and
the batcher's counters, ``rltrain_rm_batcher_*``), shutdown on SIGTERM that drains for a bounded time; a
client that disconnects only loses its own answer.

Routes:

* ``POST /score`` ``{"pairs": [{"messages": [...] | "prompt text", "response": "..."}]}`` →
  ``{"scores": [...]}``: raw scores, the conversation rendered with the model's chat template;
* ``POST /get_reward`` ``{"query": ["full text", ...]}`` → ``{"rewards": [...]}``: OpenRLHF's remote reward
  model route; each query is scored as given (already formatted by the caller).

**Dynamic batching**: requests from many clients are queued and scored together. The batcher takes up
to ``max_batch`` texts (waiting at most ``max_wait_ms`` after the first), tokenizes each on its own,
sorts them by length and packs them into forward passes of at most ``max_batch`` rows and
``max_batch_tokens`` padded tokens (rows × longest row): that budget, not the number of texts, is what
bounds the memory of a forward pass.

**Isolation**: a text that cannot be tokenized (a lone surrogate) or is empty fails its own request
with ``400`` naming it; a forward pass that fails is retried text by text, so only the texts that fail
alone fail their requests. **Abandonment**: texts of a request whose client disconnected, whose
``X-Request-Timeout`` passed, or that already failed are skipped between forward passes.
**Caps** per request: ``max_texts`` texts and ``max_chars`` characters (rendered), ``413`` beyond.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from verifiers.errors import VerifierError
from verifiers.reward_model.model import RewardModel

if TYPE_CHECKING:
    from sandbox.service import JsonService, Metric

logger = logging.getLogger(__name__)

__all__ = ["DynamicBatcher", "ServerCaps", "TextError", "build_service"]


class TextError(ValueError):
    """A text the model cannot score (empty, not tokenizable): fails its own request only, with 400."""

    index: int | None = None
    """The text's position in its request, set when the request's scores are collected."""


@dataclass(frozen=True)
class ServerCaps:
    """What one request and one forward pass may hold (``rltrain rm serve`` options).

    ``max_batch_tokens`` bounds a forward pass's memory (activations grow with rows × length); it must
    hold at least one text of the model's ``max_length``. ``max_texts``/``max_chars`` bound what one
    request can queue; the default takes 10,000 texts of 2 KB.
    """

    max_batch: int = 64
    max_batch_tokens: int = 16384
    max_wait_ms: float = 5.0
    max_texts: int = 16384
    max_chars: int = 32_000_000

    def check(self, max_length: int) -> None:
        for name in ("max_batch", "max_batch_tokens", "max_texts", "max_chars"):
            if getattr(self, name) < 1:
                raise VerifierError(f"rm serve: {name} must be at least 1, got {getattr(self, name)}")
        if self.max_batch_tokens < max_length:
            raise VerifierError(f"rm serve: max_batch_tokens={self.max_batch_tokens} cannot hold one text of "
                                f"max_length={max_length} tokens; raise it or lower max_length")

    @property
    def max_body_bytes(self) -> int:
        """Largest request body: the characters, JSON quoting and escapes, and the messages' structure."""
        return 2 * self.max_chars + 1024 * 1024


@dataclass(eq=False)
class _Item:
    """One text waiting for the batcher, with what tells whether anyone still wants its score."""

    text: str
    future: Future
    stop: threading.Event
    ctx: Any = None  # a sandbox.service.RequestContext
    tokens: int = 0

    def abandoned(self) -> bool:
        return self.stop.is_set() or self.future.cancelled() or (self.ctx is not None and self.ctx.abandoned())


def _settle(future: Future, *, result: Any = None, error: BaseException | None = None) -> None:
    """Set a future unless its request gave up on it meanwhile."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass


@dataclass
class _Counters:
    """What the batcher has done since it started; each total only grows."""

    batches: int = 0
    scored: int = 0
    tokens: int = 0
    padded_tokens: int = 0
    abandoned: int = 0
    failed: int = 0
    retried_passes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + n)

    def add_pass(self, rows: list[_Item]) -> None:
        """One forward pass that scored ``rows``."""
        with self.lock:
            self.batches += 1
            self.scored += len(rows)
            self.tokens += sum(item.tokens for item in rows)
            self.padded_tokens += len(rows) * max(item.tokens for item in rows)


#: The batcher's figures on ``/metrics`` (``rltrain_rm_batcher_<name>``) and ``/metrics.json``
#: (``"rm_batcher"``): name, whether a counter (else a gauge), help text, the ``stats()`` key it reads.
_BATCHER_METRICS: tuple[tuple[str, bool, str, str], ...] = (
    ("forward_passes", True, "Forward passes of the reward model that scored their texts.", "batches"),
    ("texts_scored", True, "Texts scored.", "texts_scored"),
    ("tokens_scored", True, "Tokens of the texts scored, padding excluded.", "tokens_scored"),
    ("padded_tokens", True, "Tokens of the forward passes that scored, padding included (rows x longest row): "
                            "what --max-batch-tokens bounds.", "padded_tokens"),
    ("texts_abandoned", True, "Texts skipped unscored: their client left, its X-Request-Timeout passed, or "
                              "another text of their request failed.", "texts_abandoned"),
    ("texts_failed", True, "Texts that could not be scored (empty, not tokenizable, or failing in a forward pass "
                           "of their own): their request is answered 400.", "texts_failed"),
    ("passes_retried", True, "Forward passes that failed and were retried text by text to find the failing "
                             "texts.", "passes_retried"),
    ("texts_queued", False, "Texts waiting for the batcher.", "texts_queued"),
)


class DynamicBatcher:
    """Collects texts from concurrent requests and scores them in shared, token-bounded forward passes
    on one thread (see the module docstring)."""

    def __init__(self, model: RewardModel, *, max_batch: int = 64, max_wait_ms: float = 5.0,
                 max_batch_tokens: int | None = None):
        self.model = model
        self.max_batch = max_batch
        self.max_batch_tokens = max_batch_tokens or max_batch * model.max_length
        self.max_wait = max_wait_ms / 1000
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._counters = _Counters()
        self._thread = threading.Thread(target=self._loop, name="rm-batcher", daemon=True)
        self._thread.start()

    # -- counters -------------------------------------------------------------------------------------

    @property
    def batches(self) -> int:
        """Forward passes run."""
        return self._counters.batches

    @property
    def scored(self) -> int:
        return self._counters.scored

    @property
    def abandoned(self) -> int:
        """Texts dropped unscored because their request was cancelled, timed out or failed."""
        return self._counters.abandoned

    def stats(self) -> dict[str, int]:
        """The counters (totals since start) and the texts waiting now; ``/health`` shows them too."""
        c = self._counters
        return {"batches": c.batches, "texts_scored": c.scored, "tokens_scored": c.tokens,
                "padded_tokens": c.padded_tokens, "texts_abandoned": c.abandoned, "texts_failed": c.failed,
                "passes_retried": c.retried_passes, "texts_queued": self._queue.qsize()}

    def metrics(self) -> list[Metric]:
        """:meth:`stats` as the service's own metrics (``JsonService(metrics=...)``), each with its help."""
        from sandbox.service import Metric

        stats = self.stats()
        return [Metric("rm_batcher", name, help_text, stats[key], counter)
                for name, counter, help_text, key in _BATCHER_METRICS]

    # -- the request side -----------------------------------------------------------------------------

    def score(self, texts: list[str], ctx: Any = None) -> list[float]:
        """Scores of ``texts`` in order, computed in whatever passes the batcher forms; blocks until done.

        Raises :class:`TextError` (with ``.index``) for the first text that cannot be scored, and
        ``sandbox.service.Abandoned`` when ``ctx`` is abandoned first; the request's other texts are
        then dropped.
        """
        from sandbox.service import Abandoned

        stop = threading.Event()
        items = [_Item(text, Future(), stop, ctx) for text in texts]
        for item in items:
            self._queue.put(item)
        try:
            scores = []
            for index, item in enumerate(items):
                while True:
                    try:
                        scores.append(item.future.result(timeout=0.1))
                        break
                    except FutureTimeout:
                        if ctx is not None and ctx.abandoned():
                            raise Abandoned("the client disconnected or its deadline passed") from None
                    except TextError as exc:
                        exc.index = index
                        raise
            return scores
        finally:
            stop.set()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    # -- the batcher thread ---------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            window = self._collect()
            if window is None:
                return
            try:
                for rows in self._pack(self._tokenized(window)):
                    self._forward(rows)
            except Exception as exc:
                logger.exception("reward model batcher failed")
                for item in window:
                    _settle(item.future, error=exc)

    def _collect(self) -> list[_Item] | None:
        """Up to ``max_batch`` queued texts, waiting ``max_wait`` after the first; ``None`` once closed."""
        first = self._queue.get()
        if first is None:
            return None
        window = [first]
        deadline = time.monotonic() + self.max_wait
        while len(window) < self.max_batch:
            try:
                nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if nxt is None:
                self._queue.put(None)
                break
            window.append(nxt)
        return window

    def _live(self, items: list[_Item]) -> list[_Item]:
        """The items someone still waits for; the others are counted as abandoned."""
        live = [item for item in items if not item.abandoned()]
        if len(live) < len(items):
            self._counters.add("abandoned", len(items) - len(live))
        return live

    def _tokenized(self, window: list[_Item]) -> list[_Item]:
        """Live items with their token counts; a text that cannot be tokenized fails its own future."""
        tokenizer, out = self.model.tokenizer, []
        for item in self._live(window):
            try:
                ids = tokenizer(item.text, add_special_tokens=False, truncation=True,
                                max_length=self.model.max_length)["input_ids"]
            except Exception as exc:  # noqa: BLE001 - e.g. a lone surrogate
                self._fail(item, TextError(f"cannot tokenize the text: {exc}"))
                continue
            if not ids:
                self._fail(item, TextError("empty text (0 tokens): nothing to score"))
                continue
            item.tokens = len(ids)
            out.append(item)
        return out

    def _pack(self, items: list[_Item]) -> list[list[_Item]]:
        """Passes of at most ``max_batch`` rows and ``max_batch_tokens`` padded tokens, longest first."""
        passes: list[list[_Item]] = []
        for item in sorted(items, key=lambda i: i.tokens, reverse=True):
            rows = passes[-1] if passes else None
            # Sorted longest first: a pass's padded size is its row count times its first row's length.
            if rows and len(rows) < self.max_batch and (len(rows) + 1) * rows[0].tokens <= self.max_batch_tokens:
                rows.append(item)
            else:
                passes.append([item])
        return passes

    def _forward(self, rows: list[_Item]) -> None:
        rows = self._live(rows)  # checked between passes: a long request stops soon after its client left
        if not rows:
            return
        try:
            scores = self.model.score_texts([item.text for item in rows])
        except Exception as exc:  # noqa: BLE001
            if len(rows) == 1:
                logger.warning("reward model: a text failed to score: %s", exc)
                self._fail(rows[0], exc)
                return
            self._counters.add("retried_passes")
            for row in rows:  # isolate the failing text(s): the others still get their scores
                self._forward([row])
            return
        self._counters.add_pass(rows)
        for item, value in zip(rows, scores, strict=True):
            _settle(item.future, result=value)

    def _fail(self, item: _Item, exc: BaseException) -> None:
        self._counters.add("failed")
        _settle(item.future, error=exc)


# -- routes ----------------------------------------------------------------------------------------------

def _pairs(payload: Any) -> list[tuple[Any, str]]:
    from sandbox.service import BadRequest

    if not isinstance(payload, dict) or not isinstance(payload.get("pairs"), list):
        raise BadRequest('expected {"pairs": [{"messages": [...], "response": "..."}, ...]}')
    out = []
    for i, pair in enumerate(payload["pairs"]):
        if not isinstance(pair, dict) or not isinstance(pair.get("response"), str) or "messages" not in pair:
            raise BadRequest(f"pairs[{i}]: needs 'messages' (chat messages or a prompt string) and 'response' (a string)")
        out.append((pair["messages"], pair["response"]))
    return out


def _queries(payload: Any) -> list[str]:
    from sandbox.service import BadRequest

    query = payload.get("query") if isinstance(payload, dict) else None
    if not isinstance(query, list):
        raise BadRequest('expected {"query": ["text", ...]} (OpenRLHF remote reward model format)')
    for i, text in enumerate(query):
        if not isinstance(text, str):
            raise BadRequest(f"query[{i}] must be a string, got {type(text).__name__}")
    return query


def _check_count(n: int, key: str, caps: ServerCaps) -> None:
    from sandbox.service import BadRequest

    if n > caps.max_texts:
        raise BadRequest(f"{key} has {n} texts, above this server's cap of {caps.max_texts} per request "
                         "(rm serve --max-texts); send smaller requests", status=413)


def _check_chars(texts: list[str], key: str, caps: ServerCaps) -> None:
    from sandbox.service import BadRequest

    total = sum(len(t) for t in texts)
    if total > caps.max_chars:
        raise BadRequest(f"{key} holds {total} characters, above this server's cap of {caps.max_chars} per "
                         "request (rm serve --max-chars); send smaller requests", status=413)


def _scored(batcher: DynamicBatcher, texts: list[str], key: str, ctx: Any) -> list[float]:
    from sandbox.service import BadRequest

    try:
        return batcher.score(texts, ctx)
    except TextError as exc:
        raise BadRequest(f"{key}[{'?' if exc.index is None else exc.index}]: {exc}") from None


def build_service(model: RewardModel, *, host: str = "127.0.0.1", port: int = 8081, max_batch: int = 64,
                  max_wait_ms: float = 5.0, capacity: int = 4096, model_path: str = "",
                  max_batch_tokens: int | None = None, max_texts: int = ServerCaps.max_texts,
                  max_chars: int = ServerCaps.max_chars) -> tuple[JsonService, DynamicBatcher]:
    """The HTTP service (not yet started) and its batcher.

    ``max_batch_tokens`` defaults to ``ServerCaps.max_batch_tokens``, or the model's ``max_length`` when
    that is longer. Raises :class:`VerifierError` for caps that cannot work.
    """
    from sandbox.service import BadRequest, JsonService, Route

    if max_batch_tokens is None:
        max_batch_tokens = max(ServerCaps.max_batch_tokens, model.max_length)
    caps = ServerCaps(max_batch=max_batch, max_batch_tokens=max_batch_tokens, max_wait_ms=max_wait_ms,
                      max_texts=max_texts, max_chars=max_chars)
    caps.check(model.max_length)
    batcher = DynamicBatcher(model, max_batch=max_batch, max_wait_ms=max_wait_ms, max_batch_tokens=max_batch_tokens)

    def score(payload: Any, ctx: Any) -> dict[str, Any]:
        pairs = _pairs(payload)
        _check_count(len(pairs), "pairs", caps)
        try:
            texts = [model.render(messages, response) for messages, response in pairs]
        except Exception as exc:  # noqa: BLE001 - a template that cannot render the messages
            raise BadRequest(f"cannot render the conversation: {exc}") from None
        _check_chars(texts, "pairs", caps)
        return {"scores": _scored(batcher, texts, "pairs", ctx)}

    def get_reward(payload: Any, ctx: Any) -> dict[str, Any]:
        texts = _queries(payload)
        _check_count(len(texts), "query", caps)
        _check_chars(texts, "query", caps)
        return {"rewards": _scored(batcher, texts, "query", ctx)}

    def items(key: str) -> Callable[[Any], int]:
        def cost(payload: Any) -> int:
            value = payload.get(key) if isinstance(payload, dict) else None
            return len(value) if isinstance(value, list) else 1
        return cost

    routes = {"/score": Route(score, items("pairs"), context=True),
              "/get_reward": Route(get_reward, items("query"), context=True)}

    def health() -> dict[str, Any]:
        return {"model": model_path, "device": str(model.device), "max_batch": max_batch,
                "max_batch_tokens": max_batch_tokens, **batcher.stats()}

    service = JsonService("reward-model", routes, host=host, port=port, capacity=capacity, health=health,
                          max_body_bytes=caps.max_body_bytes, max_bytes_in_flight=2 * caps.max_body_bytes,
                          metrics=batcher.metrics)
    return service, batcher

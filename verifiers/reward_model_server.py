"""Serving a reward model over HTTP: ``rltrain rm serve MODEL_PATH --port 8081``.

A large reward model can live on its own node while the trainer's ranks score against it. Built on the
shared JSON service kit (:mod:`sandbox.service`): bounded work in flight answered ``429``, ``GET /health``
(ready, model, device), ``GET /metrics``, graceful shutdown on SIGTERM; a client that disconnects only
loses its own answer.

Routes:

* ``POST /score`` ``{"pairs": [{"messages": [...] | "prompt text", "response": "..."}]}`` →
  ``{"scores": [...]}``: raw scores, the conversation rendered with the model's chat template;
* ``POST /get_reward`` ``{"query": ["full text", ...]}`` → ``{"rewards": [...]}``: OpenRLHF's remote reward
  model route; each query is scored as given (already formatted by the caller).

**Dynamic batching**: requests from many clients are queued and scored together, up to ``max_batch``
texts per forward pass; a batch closes when it is full or ``max_wait_ms`` after its first text arrived.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from typing import Any

from verifiers.reward_model import RewardModel

logger = logging.getLogger(__name__)

__all__ = ["DynamicBatcher", "build_service"]


class DynamicBatcher:
    """Collects texts from concurrent requests and scores them in shared batches on one thread."""

    def __init__(self, model: RewardModel, *, max_batch: int = 64, max_wait_ms: float = 5.0):
        self.model = model
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self._queue: queue.Queue[tuple[str, Future] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="rm-batcher", daemon=True)
        self.batches = 0
        self._thread.start()

    def score(self, texts: list[str]) -> list[float]:
        """Scores of ``texts``, computed in whatever batches the batcher forms; blocks until done."""
        futures = []
        for text in texts:
            future: Future = Future()
            self._queue.put((text, future))
            futures.append(future)
        return [f.result() for f in futures]

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            deadline = time.monotonic() + self.max_wait
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            try:
                scores = self.model.score_texts([text for text, _ in batch])
            except Exception as exc:  # noqa: BLE001 - handed to every waiting request
                for _, future in batch:
                    future.set_exception(exc)
                continue
            self.batches += 1
            for (_, future), value in zip(batch, scores):
                future.set_result(value)


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
    if not isinstance(query, list) or not all(isinstance(q, str) for q in query):
        raise BadRequest('expected {"query": ["text", ...]} (OpenRLHF remote reward model format)')
    return query


def build_service(model: RewardModel, *, host: str = "127.0.0.1", port: int = 8081, max_batch: int = 64,
                  max_wait_ms: float = 5.0, capacity: int = 4096, model_path: str = ""):
    """The HTTP service (not yet started) and its batcher."""
    from sandbox.service import BadRequest, JsonService, Route

    batcher = DynamicBatcher(model, max_batch=max_batch, max_wait_ms=max_wait_ms)

    def score(payload: Any) -> dict[str, Any]:
        try:
            texts = [model.render(messages, response) for messages, response in _pairs(payload)]
        except Exception as exc:  # a template that cannot render the messages
            if isinstance(exc, BadRequest):
                raise
            raise BadRequest(f"cannot render the conversation: {exc}") from None
        return {"scores": batcher.score(texts)}

    def get_reward(payload: Any) -> dict[str, Any]:
        return {"rewards": batcher.score(_queries(payload))}

    def items(key: str):
        return lambda payload: len(payload.get(key) or []) if isinstance(payload, dict) else 1

    routes = {"/score": Route(score, items("pairs")), "/get_reward": Route(get_reward, items("query"))}
    health = lambda: {"model": model_path, "device": str(model.device), "max_batch": max_batch,
                      "batches": batcher.batches}
    service = JsonService("reward-model", routes, host=host, port=port, capacity=capacity, health=health)
    return service, batcher

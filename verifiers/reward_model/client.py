"""Client of a served reward model (``rltrain rm serve``, or any OpenRLHF-style ``/get_reward`` server).

Pairs are sent in chunks of ``batch_size``, several chunks in flight at once, over one pooled HTTP
client (:class:`sandbox.service.JsonClient`): ``timeout`` is each chunk's whole budget, waits for a busy
server (429/503, honouring ``Retry-After``) included, so a loaded server is waited for rather than
turned into masked rewards; ``retries`` repeat after connection errors. :attr:`busy_waits` counts waits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

from verifiers.errors import VerifierError
from verifiers.reward_model.rendering import Thinking, plain, response_text

__all__ = ["RewardModelClient", "score_in_chunks"]

_Item = TypeVar("_Item")


def score_in_chunks(items: Sequence[_Item], score_chunk: Callable[[Sequence[_Item]], list[float]], *,
                    batch_size: int, concurrency: int) -> list[float]:
    """Scores of ``items`` in order: chunks of ``batch_size`` sent by up to ``concurrency`` threads."""
    chunks = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    if len(chunks) <= 1:
        return score_chunk(chunks[0]) if chunks else []
    with ThreadPoolExecutor(min(concurrency, len(chunks))) as pool:
        return [score for part in pool.map(score_chunk, chunks) for score in part]


class RewardModelClient:
    """``score(pairs) -> list[float]`` against a server.

    ``api``: ``rltrain`` posts structured pairs to ``/score`` (the server applies its chat template);
    ``openrlhf`` posts ``{"query": [prompt + response, ...]}`` to ``/get_reward``.
    """

    def __init__(self, url: str, *, timeout: float = 60.0, retries: int = 3, batch_size: int = 32,
                 concurrency: int = 4, thinking: Thinking = "strip",
                 api: Literal["rltrain", "openrlhf"] = "rltrain"):
        from sandbox.service import JsonClient

        if not url.startswith(("http://", "https://")):
            raise VerifierError(f"reward model url {url!r} must start with http:// or https://")
        self.url = url
        self.batch_size = max(1, batch_size)
        self.concurrency = max(1, concurrency)
        self.thinking = thinking
        self.api = api
        self._http = JsonClient(url, timeout=timeout, retries=retries, deadline=timeout)

    @property
    def busy_waits(self) -> int:
        """Waits for a busy or draining server so far."""
        return self._http.busy_waits

    def _chunk(self, pairs: Sequence[tuple[Any, str]]) -> list[float]:
        if self.api == "openrlhf":
            answer = self._http.post("/get_reward", {"query": [plain(m) + r for m, r in pairs]})
            values = answer.get("rewards")
        else:
            answer = self._http.post("/score", {"pairs": [{"messages": m, "response": r} for m, r in pairs]})
            values = answer.get("scores")
        if not isinstance(values, list) or len(values) != len(pairs):
            raise VerifierError(f"{self.url}: expected {len(pairs)} scores, got {str(answer)[:200]}")
        return [float(v) for v in values]

    def score(self, pairs: Sequence[tuple[Any, str]]) -> list[float]:
        """Raw scores of (messages, response) pairs, in order."""
        prepared = [(m, response_text(r, self.thinking)) for m, r in pairs]
        return score_in_chunks(prepared, self._chunk, batch_size=self.batch_size, concurrency=self.concurrency)

    def close(self) -> None:
        self._http.close()

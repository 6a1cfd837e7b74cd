"""Test doubles for benchmark evaluation: a backend whose completions follow from each request's seed
(and that counts what it generates, and can stop part-way), and a small benchmark scored by string
comparison."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator, Sequence

from rltrain.evaluation.backends.base import Generation, GenerationRequest
from rltrain.evaluation.benchmarks.base import Benchmark, BenchmarkItem, DataCache, Verdict
from rltrain.evaluation.settings import SamplingSettings


class Stop(BaseException):
    """What the fake backend raises to stop part-way (a BaseException, like the CLI's stop request)."""


class FakeBackend:
    """Completion ``"answer D"`` with D = seed mod 3; ``length``-finished when seed mod 5 == 0.

    ``stop_after``: after that many completions, raise :class:`Stop`, or with ``signal_stop`` send this
    process SIGTERM (as SLURM would) and go on as if nothing happened."""

    name = "fake"

    def __init__(self, *, stop_after: int | None = None, signal_stop: bool = False, identity: str = "fake-1") -> None:
        self.generated: list[tuple[str, str, int]] = []
        self.stop_after = stop_after
        self.signal_stop = signal_stop
        self._identity = identity
        self.closed = False

    def identity(self) -> str:
        return self._identity

    def generate(self, requests: Sequence[GenerationRequest], settings: SamplingSettings) -> Iterator[tuple[GenerationRequest, Generation]]:
        for request in requests:
            if self.stop_after is not None and len(self.generated) >= self.stop_after:
                if not self.signal_stop:
                    raise Stop
                os.kill(os.getpid(), signal.SIGTERM)
            key = request.key
            self.generated.append((key.benchmark, key.item_id, key.index))
            finish = "length" if request.seed % 5 == 0 else "stop"
            yield request, Generation(f"answer {request.seed % 3}", finish, prompt_tokens=3, completion_tokens=request.seed % 11)

    def close(self) -> None:
        self.closed = True


class ToyBenchmark(Benchmark):
    """Six items whose reference is a digit 0-2; correct when the completion is ``"answer <reference>"``."""

    name = "toy"
    description = "six items for tests"
    default_n = 4
    has_answers = True
    group_by = "parity"

    def __init__(self) -> None:
        self.scored_texts: list[str] = []

    def load(self, cache: DataCache) -> list[BenchmarkItem]:
        return [BenchmarkItem(id=f"t{i}", messages=({"role": "user", "content": f"question {i}"},), reference=str(i % 3),
                              meta={"parity": "even" if i % 2 == 0 else "odd"}) for i in range(6)]

    def score(self, items: Sequence[BenchmarkItem], completions: Sequence[str]) -> list[Verdict]:
        self.scored_texts.extend(completions)
        verdicts = []
        for item, text in zip(items, completions, strict=True):
            answer = text.rpartition(" ")[2] or None
            verdicts.append(Verdict(answer == item.reference, "correct" if answer == item.reference else "wrong_answer", answer,
                                    {"digit": answer}))
        return verdicts

    def extra_metrics(self, items: Sequence[BenchmarkItem], verdicts: Sequence[Verdict]) -> dict[str, float]:
        return {"zeros": sum(v.details.get("digit") == "0" for v in verdicts) / len(verdicts)}

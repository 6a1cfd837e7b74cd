"""The samples file of one evaluation directory, ``samples.jsonl``: every completion, as soon as it exists.

A generation record is appended (and flushed) the moment the backend hands a completion over, still
unscored; a scoring pass later appends the same record with its verdict. Records are keyed by
(benchmark, id, index, fingerprint) and the last record of a key wins, so the file only ever grows while
a run is in progress and a job killed at any point loses at most the completions in flight: a truncated
last line is dropped with a warning when read (:func:`rltrain.run.layout.read_jsonl`), and an unscored
record is scored by the next run instead of generated again. When a run finishes, the file is compacted
atomically (written beside, then renamed over) into one record per key, sorted.

Record fields: ``benchmark``, ``id``, ``index``, ``fingerprint``, ``prompt`` (the last user message),
``completion``, ``finish_reason`` (``stop`` or ``length``), ``prompt_tokens``, ``completion_tokens``,
and once scored ``answer``, ``correct``, ``reason``, ``details``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from rltrain.evaluation.backends.base import Generation, GenerationRequest
from rltrain.evaluation.benchmarks.base import Verdict
from rltrain.run.layout import read_jsonl

__all__ = ["SAMPLES_FILE", "RecordKey", "SampleRecord", "SampleStore"]

logger = logging.getLogger(__name__)

SAMPLES_FILE = "samples.jsonl"

RecordKey = tuple[str, str, int, str]
"""(benchmark, id, index, fingerprint): what makes two records the same sample."""


@dataclass(frozen=True)
class SampleRecord:
    """One completion of one item, scored or not yet."""

    benchmark: str
    id: str
    index: int
    fingerprint: str
    prompt: str
    completion: str
    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    answer: str | None = None
    correct: bool | None = None
    """``None`` until scored."""
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> RecordKey:
        return (self.benchmark, self.id, self.index, self.fingerprint)

    @property
    def scored(self) -> bool:
        return self.correct is not None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"

    @classmethod
    def generated(cls, request: GenerationRequest, generation: Generation, fingerprint: str) -> SampleRecord:
        """The unscored record of a completion as the backend returned it."""
        return cls(
            benchmark=request.key.benchmark, id=request.key.item_id, index=request.key.index, fingerprint=fingerprint,
            prompt=request.messages[-1]["content"] if request.messages else "", completion=generation.text,
            finish_reason=generation.finish_reason, prompt_tokens=generation.prompt_tokens,
            completion_tokens=generation.completion_tokens,
        )

    def with_verdict(self, verdict: Verdict) -> SampleRecord:
        return replace(self, answer=verdict.answer, correct=bool(verdict.correct), reason=verdict.reason,
                       details=dict(verdict.details))

    def verdict(self) -> Verdict:
        """The verdict this record carries (a wrong one, reason ``unscored``, if it has none yet)."""
        if not self.scored:
            return Verdict(False, "unscored")
        return Verdict(bool(self.correct), self.reason or "", self.answer, self.details)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, default=str)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SampleRecord:
        """A record read back; raises ``ValueError`` for one that lacks or mistypes a key field."""
        try:
            benchmark, item_id, index, fingerprint = raw["benchmark"], raw["id"], raw["index"], raw["fingerprint"]
        except KeyError as exc:
            raise ValueError(f"no {exc.args[0]!r} field") from None
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise ValueError(f"index must be a non-negative integer, got {index!r}")
        correct = raw.get("correct")
        details = raw.get("details")
        return cls(
            benchmark=str(benchmark), id=str(item_id), index=index, fingerprint=str(fingerprint),
            prompt=str(raw.get("prompt") or ""), completion=str(raw.get("completion") or ""),
            finish_reason="length" if raw.get("finish_reason") == "length" else "stop",
            prompt_tokens=_optional_int(raw.get("prompt_tokens")), completion_tokens=_optional_int(raw.get("completion_tokens")),
            answer=None if raw.get("answer") is None else str(raw["answer"]),
            correct=None if correct is None else bool(correct),
            reason=None if raw.get("reason") is None else str(raw["reason"]),
            details=dict(details) if isinstance(details, Mapping) else {},
        )


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class SampleStore:
    """``samples.jsonl`` of one evaluation directory: read it, append to it, compact it.

    Appends are thread-safe (the generation loop and the scoring thread share one store) and each one
    is flushed before it returns, so what a killed job leaves is every finished record plus at most one
    partial line.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._handle: IO[str] | None = None

    def load(self) -> dict[RecordKey, SampleRecord]:
        """The latest record of every key, in the order keys first appeared."""
        latest: dict[RecordKey, SampleRecord] = {}
        for number, raw in enumerate(read_jsonl(self.path).records, start=1):
            try:
                record = SampleRecord.from_dict(raw)
            except ValueError as exc:
                logger.warning("%s: skipped record %d (%s)", self.path, number, exc)
                continue
            latest[record.key] = record
        return latest

    def append(self, records: Iterable[SampleRecord]) -> None:
        lines = "".join(record.to_json() + "\n" for record in records)
        if not lines:
            return
        with self._lock:
            handle = self._open()
            handle.write(lines)
            handle.flush()

    def _open(self) -> IO[str]:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            ends_mid_line = self.path.is_file() and self.path.stat().st_size > 0 and not _ends_with_newline(self.path)
            self._handle = self.path.open("a", encoding="utf-8")
            if ends_mid_line:  # a killed writer's partial line stays on a line of its own, where the reader skips it
                self._handle.write("\n")
        return self._handle

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None

    def compact(self) -> int:
        """Rewrite the file as one record per key, sorted by key, atomically; returns the record count."""
        self.close()
        records = sorted(self.load().values(), key=lambda r: r.key)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.writelines(record.to_json() + "\n" for record in records)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return len(records)

    def __enter__(self) -> SampleStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"

"""Running an evaluation: benchmarks -> requests -> backend -> ``samples.jsonl`` -> verdicts -> results.

:func:`plan` loads each benchmark's items and decides its sample count (``--n-per-benchmark`` over
``--n`` over the benchmark's ``default_n``; one sample under greedy decoding, where all would be equal).
:func:`run_suite` then:

1. computes the fingerprint of the settings, model and backend, and reads the samples file: a sample
   already there under this fingerprint is never generated again (one there but unscored, because the
   job was stopped before its scoring pass, is scored now);
2. streams every missing sample through the backend in one call (so an engine batches across
   benchmarks), appending each completion to the samples file the moment it arrives;
3. scores completions in batches of ``score_every`` per benchmark on a scoring thread while generation
   goes on, appending the verdicts as they come; a completion cut at ``max_tokens`` is not scored but
   wrong with reason ``truncated`` and no details (so a benchmark's ``extra_metrics`` must read a
   verdict's details with ``.get``);
4. aggregates the metrics (:mod:`rltrain.evaluation.metrics`), compacts the samples file and writes
   ``results.json`` and ``results.md`` (:mod:`rltrain.evaluation.results`).

Progress goes to the log (stderr) every ``progress_every_s`` seconds: samples done of the total, their
rate, and how many are scored. SIGTERM/SIGUSR1 are turned into an exception by the command line
(exit status 75, as for training); the ``finally`` blocks here close the samples file after its last
complete line, so the same command run again continues where this one stopped.

:func:`score_file` scores completions generated elsewhere (``rltrain eval score``).
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rltrain.errors import RecipeError
from rltrain.evaluation.backends.base import GenerationBackend, GenerationRequest, SampleKey
from rltrain.evaluation.benchmarks.base import Benchmark, BenchmarkItem, DataCache, Verdict
from rltrain.evaluation.benchmarks.sources import numbered_json_objects
from rltrain.evaluation.metrics import BenchmarkMetrics, benchmark_metrics
from rltrain.evaluation.results import EvalResults, write_results
from rltrain.evaluation.samples import SAMPLES_FILE, RecordKey, SampleRecord, SampleStore
from rltrain.evaluation.settings import SamplingSettings, sample_seed

__all__ = [
    "SCORE_ONLY_FINGERPRINT_PREFIX", "Plan", "aggregate", "external_records", "plan", "plan_metrics", "run_suite", "score_file",
    "score_records",
]

logger = logging.getLogger(__name__)

SCORE_ONLY_FINGERPRINT_PREFIX = "scored-"
"""Fingerprints of completions generated elsewhere: this prefix and a hash of the input file."""


@dataclass(frozen=True)
class Plan:
    """One benchmark of an evaluation: its items (after ``--limit``) and samples per item."""

    benchmark: Benchmark
    items: list[BenchmarkItem]
    n: int
    by_id: dict[str, BenchmarkItem] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {item.id: item for item in self.items})

    @property
    def name(self) -> str:
        return self.benchmark.name

    def keys(self, fingerprint: str) -> list[RecordKey]:
        return [(self.name, item.id, index, fingerprint) for item in self.items for index in range(self.n)]


def plan(benchmarks: Sequence[Benchmark], cache: DataCache, *, n: int | None = None,
         n_per_benchmark: Mapping[str, int] | None = None, limit: int | None = None, greedy: bool = False) -> list[Plan]:
    """Load every benchmark's items and settle its sample count."""
    overrides = dict(n_per_benchmark or {})
    names = [b.name for b in benchmarks]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise RecipeError(f"--n-per-benchmark: {', '.join(unknown)} is not among the benchmarks of this run ({', '.join(names)})")
    if len(set(names)) != len(names):
        raise RecipeError(f"benchmarks: a name appears twice ({', '.join(names)})")
    plans = []
    for benchmark in benchmarks:
        samples = overrides.get(benchmark.name, n if n is not None else benchmark.default_n)
        if samples < 1:
            raise RecipeError(f"{benchmark.name}: samples per item must be >= 1, got {samples}")
        if greedy and samples > 1:
            logger.info("%s: greedy decoding samples every completion alike: 1 sample per item instead of %d", benchmark.name, samples)
            samples = 1
        items = benchmark.load(cache)
        if limit is not None:
            items = items[:limit]
        if not items:
            raise RecipeError(f"{benchmark.name}: no items to evaluate")
        plans.append(Plan(benchmark, items, samples))
    return plans


def score_records(plan_: Plan, records: Sequence[SampleRecord]) -> list[SampleRecord]:
    """``records`` of one benchmark with their verdicts; truncated completions are wrong unscored."""
    judged = [r for r in records if not r.truncated]
    verdicts = plan_.benchmark.score([plan_.by_id[r.id] for r in judged], [r.completion for r in judged]) if judged else []
    if len(verdicts) != len(judged):
        raise RuntimeError(f"{plan_.name}: score() returned {len(verdicts)} verdicts for {len(judged)} completions")
    by_key = {r.key: r.with_verdict(v) for r, v in zip(judged, verdicts, strict=True)}
    truncated = Verdict(False, "truncated")
    return [by_key.get(r.key) or r.with_verdict(truncated) for r in records]


class _Scorer:
    """Scores batches on one background thread, in submission order, appending the scored records to
    the store and keeping them in ``done``. A scorer that raises stops the evaluation (the error is
    raised in the caller's thread at its next :meth:`submit` or at :meth:`finish`). The thread is a
    daemon: a stopped evaluation does not wait for a long scoring batch, whose completions are
    scored again by the next run."""

    def __init__(self, plans: Mapping[str, Plan], store: SampleStore, done: dict[RecordKey, SampleRecord]) -> None:
        self._plans, self._store, self.done = plans, store, done
        self._queue: queue.Queue[tuple[str, list[SampleRecord]] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._abandoned = False
        self._lock = threading.Lock()
        self.scored = 0
        self._thread = threading.Thread(target=self._work, name="eval-scorer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            if self._error is not None or self._abandoned:
                continue
            name, records = job
            try:
                scored = score_records(self._plans[name], records)
                if self._abandoned:  # the evaluation stopped meanwhile and closed its samples file
                    continue
                self._store.append(scored)
            except BaseException as exc:  # noqa: BLE001 - handed to the evaluation's thread
                self._error = exc
                continue
            with self._lock:
                for record in scored:
                    self.done[record.key] = record
                self.scored += len(scored)

    def submit(self, name: str, records: list[SampleRecord]) -> None:
        self._raise_error()
        if records:
            self._queue.put((name, records))

    def finish(self) -> None:
        """Wait until everything submitted is scored."""
        self._queue.put(None)
        self._thread.join()
        self._raise_error()

    def abandon(self) -> None:
        """Stop without waiting: what is not scored yet is scored by the next run."""
        self._abandoned = True
        self._queue.put(None)

    def _raise_error(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"scoring failed: {type(self._error).__name__}: {self._error}") from self._error


class _Progress:
    """A log line every ``every_s`` seconds: generated/total, rate, scored."""

    def __init__(self, total: int, every_s: float) -> None:
        self.total, self.every_s = total, every_s
        self.done = 0
        self.started = self.last = time.monotonic()

    def tick(self, scored: int) -> None:
        self.done += 1
        now = time.monotonic()
        if now - self.last >= self.every_s or self.done == self.total:
            self.last = now
            rate = self.done / max(now - self.started, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            logger.info("eval: %d/%d samples generated (%.0f%%), %.2f samples/s, %d scored, about %.0f s to go",
                        self.done, self.total, 100 * self.done / self.total, rate, scored, eta)


def run_suite(model: str, backend: GenerationBackend, settings: SamplingSettings, plans: Sequence[Plan], output: str | Path, *,
              score_every: int = 64, progress_every_s: float = 30.0) -> EvalResults:
    """Generate what ``output``'s samples file lacks, score it, and write the results (see the module doc)."""
    started = time.monotonic()
    output = Path(output)
    fingerprint = settings.fingerprint(model, backend.identity())
    by_name = {p.name: p for p in plans}
    store = SampleStore(output / SAMPLES_FILE)
    done = {key: record for key, record in store.load().items() if key[3] == fingerprint}
    requests = _missing_requests(plans, done, fingerprint, settings.seed)
    scorer = _Scorer(by_name, store, done)
    finished = False
    try:
        for p in plans:
            scorer.submit(p.name, [done[k] for k in p.keys(fingerprint) if k in done and not done[k].scored])
        _generate(backend, settings, requests, fingerprint, store, scorer, score_every, progress_every_s)
        scorer.finish()
        finished = True
    finally:
        if not finished:
            scorer.abandon()
        store.close()
    results = EvalResults(model=model, backend=backend.name, backend_identity=backend.identity(), fingerprint=fingerprint,
                          settings=asdict(settings), benchmarks=aggregate(plans, done, fingerprint))
    missing = sum(not (k in done and done[k].scored) for p in plans for k in p.keys(fingerprint))
    results.complete = missing == 0
    if results.complete:
        store.compact()
    else:
        logger.warning("%d planned samples are missing (the backend returned fewer completions than asked): the results "
                       "are partial; run the same command again to fill them in", missing)
    results.seconds = round(time.monotonic() - started, 2)
    write_results(output, results)
    return results


def _missing_requests(plans: Sequence[Plan], done: Mapping[RecordKey, SampleRecord], fingerprint: str,
                      seed: int) -> list[GenerationRequest]:
    requests = []
    for p in plans:
        missing = 0
        for item in p.items:
            for index in range(p.n):
                if (p.name, item.id, index, fingerprint) in done:
                    continue
                missing += 1
                requests.append(GenerationRequest(SampleKey(p.name, item.id, index), item.messages,
                                                  sample_seed(seed, p.name, item.id, index)))
        total = len(p.items) * p.n
        logger.info("%s: %d items x %d samples = %d, %d already generated", p.name, len(p.items), p.n, total, total - missing)
    return requests


def _generate(backend: GenerationBackend, settings: SamplingSettings, requests: Sequence[GenerationRequest], fingerprint: str,
              store: SampleStore, scorer: _Scorer, score_every: int, progress_every_s: float) -> None:
    if not requests:
        return
    pending: dict[str, list[SampleRecord]] = {}
    progress = _Progress(len(requests), progress_every_s)
    for request, generation in backend.generate(requests, settings):
        record = SampleRecord.generated(request, generation, fingerprint)
        store.append([record])
        batch = pending.setdefault(record.benchmark, [])
        batch.append(record)
        if len(batch) >= score_every:
            scorer.submit(record.benchmark, pending.pop(record.benchmark))
        progress.tick(scorer.scored)
    for name, batch in pending.items():
        scorer.submit(name, batch)


def aggregate(plans: Sequence[Plan], records: Mapping[RecordKey, SampleRecord], fingerprint: str) -> dict[str, BenchmarkMetrics]:
    """The metrics of every benchmark that has scored samples among its planned ones."""
    out = {}
    for p in plans:
        scored = [records[k] for k in p.keys(fingerprint) if k in records and records[k].scored]
        if not scored:
            logger.warning("%s: no scored samples yet: left out of the results", p.name)
            continue
        out[p.name] = plan_metrics(p, scored)
    return out


def plan_metrics(p: Plan, scored: Sequence[SampleRecord]) -> BenchmarkMetrics:
    """The metrics of one benchmark's scored samples, with its groups and extra metrics."""
    group_key = p.benchmark.group_by
    groups = None
    if group_key:
        groups = {group_key: {item.id: str(item.meta[group_key]) for item in p.items if item.meta.get(group_key) is not None}}
    metrics = benchmark_metrics(scored, has_answers=p.benchmark.has_answers, groups=groups)
    metrics.extra = dict(p.benchmark.extra_metrics([p.by_id[r.id] for r in scored], [r.verdict() for r in scored]))
    return metrics


def external_records(p: Plan, path: Path, fingerprint: str) -> list[SampleRecord]:
    """The completions of a score-only input file as unscored records of ``p``'s benchmark.

    Each line: ``completion`` and either ``id`` (the benchmark's item id) or ``prompt`` (its prompt
    text, the last user message, compared without surrounding whitespace); optional ``index`` (else the
    item's next free index), ``finish_reason`` (``length`` = truncated), ``prompt_tokens`` and
    ``completion_tokens``.
    """
    by_prompt = {item.prompt_text.strip(): item for item in p.items}
    records: dict[tuple[str, int], SampleRecord] = {}
    next_index: dict[str, int] = {}
    for number, row in numbered_json_objects(path):
        where = f"{path}: line {number}"
        completion = row.get("completion")
        if not isinstance(completion, str):
            raise RecipeError(f"{where}: needs a 'completion' string")
        item = _matched_item(p, by_prompt, row, where)
        index = row.get("index", next_index.get(item.id, 0))
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise RecipeError(f"{where}: 'index' must be a non-negative integer, got {index!r}")
        if (item.id, index) in records:
            raise RecipeError(f"{where}: item {item.id!r} sample {index} appears twice")
        next_index[item.id] = max(next_index.get(item.id, 0), index + 1)
        raw = {**row, "benchmark": p.name, "id": item.id, "index": index, "fingerprint": fingerprint,
               "prompt": item.prompt_text, "completion": completion}
        for verdict_field in ("answer", "correct", "reason", "details"):
            raw.pop(verdict_field, None)
        records[(item.id, index)] = SampleRecord.from_dict(raw)
    if not records:
        raise RecipeError(f"{path}: no completions")
    return list(records.values())


def _matched_item(p: Plan, by_prompt: Mapping[str, BenchmarkItem], row: Mapping[str, Any], where: str) -> BenchmarkItem:
    if row.get("id") is not None:
        item = p.by_id.get(str(row["id"]))
        if item is None:
            raise RecipeError(f"{where}: id {row['id']!r} is not an item of {p.name}")
        return item
    prompt = row.get("prompt")
    if isinstance(prompt, list) and prompt and isinstance(prompt[-1], dict):
        prompt = prompt[-1].get("content")
    if not isinstance(prompt, str):
        raise RecipeError(f"{where}: needs an 'id' or a 'prompt' to find its item of {p.name}")
    item = by_prompt.get(prompt.strip())
    if item is None:
        raise RecipeError(f"{where}: the prompt matches no item of {p.name} (it must be the benchmark's prompt text, "
                          f"as in its samples.jsonl; or give the item's 'id')")
    return item


def score_file(benchmark: Benchmark, path: str | Path, output: str | Path, cache: DataCache, *, batch_size: int = 64) -> EvalResults:
    """Score completions generated elsewhere (format: :func:`external_records`) and write ``output``'s
    ``samples.jsonl`` (replaced), ``results.json`` and ``results.md``. Items may have different numbers
    of samples; n is the smallest."""
    started = time.monotonic()
    path, output = Path(path), Path(output)
    if not path.is_file():
        raise RecipeError(f"{path}: no such file")
    fingerprint = SCORE_ONLY_FINGERPRINT_PREFIX + hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    p = Plan(benchmark, benchmark.load(cache), 1)
    records = external_records(p, path, fingerprint)
    scored: list[SampleRecord] = []
    for start in range(0, len(records), batch_size):
        scored.extend(score_records(p, records[start : start + batch_size]))
        logger.info("%s: %d/%d completions scored", p.name, len(scored), len(records))
    scored.sort(key=lambda r: r.key)
    samples_path = output / SAMPLES_FILE
    samples_path.unlink(missing_ok=True)
    with SampleStore(samples_path) as store:
        store.append(scored)
    results = EvalResults(model=str(path), backend="external", fingerprint=fingerprint, settings=None,
                          benchmarks={p.name: plan_metrics(p, scored)}, complete=True)
    results.seconds = round(time.monotonic() - started, 2)
    write_results(output, results)
    return results

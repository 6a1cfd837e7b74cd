"""Benchmark metrics from scored samples: avg@n with its standard error, pass@k, maj@k, lengths, truncation.

Definitions (items ``i = 1..m``, item ``i`` with ``n_i`` samples of which ``c_i`` are correct):

* **avg@n** = mean over items of ``c_i / n_i`` (the mean pass@1 over the n samples, QwQ's headline).
* **stderr** of avg@n = ``s / sqrt(m)`` where ``s`` is the sample standard deviation (``ddof=1``) of the
  per-item means ``c_i / n_i``: the standard error over items, as lighteval and evalchemy report it. It
  measures how much the score would move on another draw of problems of the same kind; the sampling
  noise within an item is part of each item's mean. With one sample per item it is the familiar
  ``sqrt(p (1 - p) / (m - 1))``. ``None`` with fewer than two items.
* **pass@k** = mean over items of ``1 - C(n_i - c_i, k) / C(n_i, k)``, the unbiased estimator of the
  chance that at least one of k samples is correct (Chen et al., 2021), computed in the stable product
  form ``1 - prod_{j = n - c + 1}^{n} (1 - k / j)``; reported for k = 1, 2, 4, ... up to the smallest
  ``n_i``, and for that ``n`` itself.
* **maj@k** = mean over items of whether the most frequent answer among the item's first k samples (by
  sample index) is correct. Samples without an answer never vote; ties go to the answer that appeared
  first; an item whose k samples gave no answer at all counts as wrong. Reported for k = n, and only for
  benchmarks whose answers compare (:attr:`~rltrain.evaluation.benchmarks.base.Benchmark.has_answers`).
* **length**: mean completion tokens over the samples whose backend counted them, and mean characters.
* **truncated**: the share of samples cut at ``max_tokens`` (scored wrong).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rltrain.evaluation.samples import SampleRecord

__all__ = ["BenchmarkMetrics", "avg_at_n", "benchmark_metrics", "majority_correct", "pass_at_k", "pass_at_k_values"]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one item with ``c`` correct samples out of ``n``: ``1 - C(n-c, k) / C(n, k)``."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    product = 1.0
    for j in range(n - c + 1, n + 1):
        product *= 1.0 - k / j
    return 1.0 - product


def avg_at_n(per_item: Sequence[float]) -> tuple[float, float | None]:
    """The mean of the per-item scores and its standard error over items (``None`` below two items)."""
    m = len(per_item)
    if m == 0:
        raise ValueError("avg@n of no items")
    mean = math.fsum(per_item) / m
    if m < 2:
        return mean, None
    variance = math.fsum((p - mean) ** 2 for p in per_item) / (m - 1)
    return mean, math.sqrt(variance / m)


def majority_correct(samples: Sequence[SampleRecord], k: int) -> bool:
    """Whether the majority answer of the first ``k`` samples (by index) is a correct one."""
    first = sorted(samples, key=lambda s: s.index)[:k]
    votes: Counter[str] = Counter()
    first_seen: dict[str, SampleRecord] = {}
    for sample in first:
        if sample.answer is None:
            continue
        votes[sample.answer] += 1
        first_seen.setdefault(sample.answer, sample)
    if not votes:
        return False
    top = max(votes.values())
    winner = next(answer for answer in first_seen if votes[answer] == top)  # first_seen keeps first-appearance order
    return bool(first_seen[winner].correct)


def pass_at_k_values(max_n: int) -> list[int]:
    """The k reported for pass@k: powers of two below ``max_n``, then ``max_n``."""
    ks, k = [], 1
    while k < max_n:
        ks.append(k)
        k *= 2
    return [*ks, max_n] if max_n >= 1 else []


@dataclass
class BenchmarkMetrics:
    """The figures of one benchmark (or one group of its items)."""

    items: int
    samples: int
    n: int
    """Samples per item (the smallest count, where items differ)."""
    avg_at_n: float
    stderr: float | None
    pass_at_k: dict[str, float]
    maj_at_n: float | None
    truncated: float
    mean_completion_tokens: float | None
    mean_completion_chars: float
    reasons: dict[str, int]
    groups: dict[str, dict[str, BenchmarkMetrics]] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> BenchmarkMetrics:
        values = dict(raw)
        groups = values.pop("groups", {}) or {}
        return cls(**values, groups={key: {value: cls.from_dict(m) for value, m in by_value.items()}
                                     for key, by_value in groups.items()})


def _by_item(samples: Iterable[SampleRecord]) -> dict[str, list[SampleRecord]]:
    grouped: dict[str, list[SampleRecord]] = defaultdict(list)
    for sample in samples:
        grouped[sample.id].append(sample)
    return grouped


def benchmark_metrics(samples: Sequence[SampleRecord], *, has_answers: bool = False,
                      groups: Mapping[str, Mapping[str, str]] | None = None) -> BenchmarkMetrics:
    """The metrics of one benchmark's scored samples. ``groups`` maps a group key (e.g. ``difficulty``)
    to ``{item id: value}``; every value gets the same metrics over its items."""
    by_item = _by_item(samples)
    if not by_item:
        raise ValueError("no samples to compute metrics from")
    counts = {item: (len(s), sum(bool(x.correct) for x in s)) for item, s in by_item.items()}
    n = min(total for total, _ in counts.values())
    mean, stderr = avg_at_n([c / total for total, c in counts.values()])
    pass_k = {str(k): math.fsum(pass_at_k(total, c, k) for total, c in counts.values()) / len(counts)
              for k in pass_at_k_values(n)}
    maj = None
    if has_answers:
        maj = sum(majority_correct(s, n) for s in by_item.values()) / len(by_item)
    tokens = [s.completion_tokens for s in samples if s.completion_tokens is not None]
    result = BenchmarkMetrics(
        items=len(by_item), samples=len(samples), n=n, avg_at_n=mean, stderr=stderr, pass_at_k=pass_k, maj_at_n=maj,
        truncated=sum(s.truncated for s in samples) / len(samples),
        mean_completion_tokens=math.fsum(tokens) / len(tokens) if tokens else None,
        mean_completion_chars=math.fsum(len(s.completion) for s in samples) / len(samples),
        reasons=dict(sorted(Counter(s.reason or "unscored" for s in samples).items())),
    )
    for key, values in (groups or {}).items():
        members: dict[str, list[SampleRecord]] = defaultdict(list)
        for sample in samples:
            value = values.get(sample.id)
            if value is not None:
                members[value].append(sample)
        result.groups[key] = {value: benchmark_metrics(members[value], has_answers=has_answers) for value in sorted(members)}
    return result

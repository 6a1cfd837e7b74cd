"""The contract of a benchmark: its items (prompt + reference), how one completion is scored, and how
many samples it draws by default.

A benchmark is data + a prompt format + a scorer + a default sample count. :meth:`Benchmark.load`
returns the items with their prompts already formatted (QwQ's boxed instruction, the multiple-choice JSON
instruction, LiveCodeBench's code-format instruction); :meth:`Benchmark.score` judges completions with
rltrain's verifiers (math verifier, sandbox, rule verifiers), each under its own hard time limit, and never
raises for a hostile completion: a completion that cannot be judged is a wrong verdict with its reason.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rltrain.errors import RecipeError

__all__ = ["Benchmark", "BenchmarkItem", "DataCache", "DataUnavailable", "Verdict"]


class DataUnavailable(RecipeError):
    """A benchmark's data must come from a hub and is neither cached nor downloadable (an offline
    machine): the message names the file to place in the cache and where."""


@dataclass(frozen=True)
class BenchmarkItem:
    """One problem of a benchmark."""

    id: str
    """Stable identifier within the benchmark (the dataset's own id where it has one)."""
    messages: tuple[dict[str, str], ...]
    """The chat prompt, formatted as the benchmark's protocol asks."""
    reference: Any
    """What the scorer compares with: a gold answer, a correct letter, tests, instruction ids + kwargs."""
    meta: Mapping[str, Any] = field(default_factory=dict)
    """Extra facts reported per group (e.g. LiveCodeBench's ``difficulty``) or shown in samples."""

    @property
    def prompt_text(self) -> str:
        """The last user message: what ``rltrain eval score`` matches generations made elsewhere with."""
        return self.messages[-1]["content"]


@dataclass(frozen=True)
class Verdict:
    """The judgement of one completion."""

    correct: bool
    """The benchmark's headline criterion (IFEval: prompt-level strict)."""
    reason: str
    """Why: ``"correct"``, ``"wrong_answer"``, ``"no_answer"``, ``"truncated"``, ``"timeout"``, a test
    failure ... short and stable, for counting."""
    answer: str | None = None
    """The extracted answer, normalized so that equal answers compare equal (for maj@k); ``None`` when
    the benchmark has no single answer (code, instruction following) or none was found."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """Further per-completion figures aggregated by :meth:`Benchmark.extra_metrics` (IFEval: loose and
    per-instruction verdicts; LiveCodeBench: tests passed)."""


class DataCache:
    """Where benchmark data fetched from a hub is kept: ``$RLTRAIN_CACHE/benchmarks`` (default
    ``~/.cache/rltrain/benchmarks``), one sub-directory per benchmark."""

    def __init__(self, root: str | Path | None = None) -> None:
        default = Path(os.environ.get("RLTRAIN_CACHE", Path.home() / ".cache" / "rltrain")) / "benchmarks"
        self.root = Path(root) if root is not None else default

    def path(self, benchmark: str, filename: str) -> Path:
        return self.root / benchmark / filename


class Benchmark(ABC):
    """A named benchmark. Subclasses set the class attributes and implement :meth:`load` and
    :meth:`score`; the others have defaults."""

    name: str
    """The name used on the command line (``--benchmarks aime24``)."""
    description: str
    """One line for ``rltrain eval --list``: source, size, scorer, licence of the shipped data."""
    default_n: int = 1
    """Samples per item by default (QwQ: AIME 64, LiveCodeBench 8, IFEval 1)."""
    has_answers: bool = False
    """Whether :attr:`Verdict.answer` is comparable across samples, so maj@k is reported."""
    group_by: str | None = None
    """A key of :attr:`BenchmarkItem.meta` whose values get their own avg@n (LiveCodeBench: difficulty)."""

    @abstractmethod
    def load(self, cache: DataCache) -> list[BenchmarkItem]:
        """The items, prompts formatted. Shipped data is read from the package; hub data from ``cache``,
        fetched into it once when online, else :class:`DataUnavailable`."""

    @abstractmethod
    def score(self, items: Sequence[BenchmarkItem], completions: Sequence[str]) -> list[Verdict]:
        """One verdict per (item, completion) pair, ``items[i]`` with ``completions[i]``. Batched so that
        scorers can use their worker pools; must not raise for any completion text."""

    def extra_metrics(self, items: Sequence[BenchmarkItem], verdicts: Sequence[Verdict]) -> dict[str, float]:
        """Figures beyond avg@n / pass@k / maj@k, from all verdicts of a run (``items[i]`` with
        ``verdicts[i]``); IFEval's four accuracies, for instance. Default: none."""
        return {}

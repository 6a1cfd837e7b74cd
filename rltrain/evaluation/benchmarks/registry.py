"""Benchmarks and suites by name. Each benchmark module is imported only when its benchmark is used, so
listing or running one never imports the others' dependencies.

Besides the names, a benchmark may be a JSONL file (:mod:`rltrain.evaluation.benchmarks.jsonl`):
``path/to/test.jsonl`` (named after the file) or ``name=path/to/test.jsonl``."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rltrain.errors import RecipeError
from rltrain.evaluation.benchmarks.base import Benchmark

__all__ = ["BENCHMARKS", "SUITES", "benchmark_names", "get_benchmark", "is_jsonl_spec", "load_benchmark", "resolve_names"]


@dataclass(frozen=True)
class _Entry:
    module: str
    attribute: str


BENCHMARKS: dict[str, _Entry] = {
    "aime24": _Entry("rltrain.evaluation.benchmarks.math", "Aime24"),
    "aime25": _Entry("rltrain.evaluation.benchmarks.math", "Aime25"),
    "math500": _Entry("rltrain.evaluation.benchmarks.math", "Math500"),
    "gpqa_diamond": _Entry("rltrain.evaluation.benchmarks.gpqa", "GpqaDiamond"),
    "livecodebench_v5": _Entry("rltrain.evaluation.benchmarks.livecodebench", "LiveCodeBenchV5"),
    "ifeval": _Entry("rltrain.evaluation.benchmarks.ifeval", "IfEval"),
}
"""Every built-in benchmark: name -> where its class lives."""

SUITES: dict[str, tuple[str, ...]] = {
    "qwq": ("aime24", "aime25", "livecodebench_v5", "ifeval"),
}
"""Named groups of benchmarks (``--suite qwq``: what QwQ-32B reports from its own evaluation folder)."""


def benchmark_names() -> list[str]:
    return sorted(BENCHMARKS)


def get_benchmark(name: str) -> Benchmark:
    """A fresh instance of the benchmark called ``name``."""
    entry = BENCHMARKS.get(name)
    if entry is None:
        raise RecipeError(f"unknown benchmark {name!r}; known: {', '.join(benchmark_names())} (or a JSONL file path)")
    cls = getattr(importlib.import_module(entry.module), entry.attribute)
    instance = cls()
    assert isinstance(instance, Benchmark), f"{entry.module}.{entry.attribute} is not a Benchmark"
    return instance


def resolve_names(benchmarks: str | None, suite: str | None) -> list[str]:
    """The benchmark names of ``--benchmarks a,b`` and/or ``--suite NAME``, in order, without repeats."""
    names: list[str] = []
    if suite is not None:
        if suite not in SUITES:
            raise RecipeError(f"unknown suite {suite!r}; known: {', '.join(sorted(SUITES))}")
        names.extend(SUITES[suite])
    if benchmarks:
        names.extend(n.strip() for n in benchmarks.split(",") if n.strip())
    if not names:
        raise RecipeError("name at least one benchmark (--benchmarks a,b) or a suite (--suite qwq)")
    return list(dict.fromkeys(names))


def is_jsonl_spec(spec: str) -> bool:
    """Whether ``spec`` names a JSONL file (``path.jsonl`` or ``name=path.jsonl``) rather than a benchmark."""
    return spec.partition("=")[2].endswith(".jsonl") if "=" in spec else spec.endswith(".jsonl")


def load_benchmark(spec: str, *, rewards: Sequence[str] | None = None, threshold: float = 1.0) -> Benchmark:
    """The benchmark a ``--benchmarks`` entry names: a built-in name, or a JSONL file scored by
    ``rewards`` (see :class:`~rltrain.evaluation.benchmarks.jsonl.JsonlBenchmark`)."""
    if not is_jsonl_spec(spec):
        return get_benchmark(spec)
    from rltrain.evaluation.benchmarks.jsonl import JsonlBenchmark

    name, _, path = spec.partition("=") if "=" in spec else ("", "", spec)
    if name and not name.replace("_", "").replace("-", "").isalnum():
        raise RecipeError(f"benchmark {spec!r}: the name before '=' must be letters, digits, '_' or '-'")
    if (name or Path(path).stem) in BENCHMARKS:
        raise RecipeError(f"benchmark {spec!r}: {name or Path(path).stem!r} is a built-in benchmark's name; "
                          "name the file's benchmark otherwise (name=path.jsonl)")
    return JsonlBenchmark(path, name=name or None, rewards=rewards, threshold=threshold)

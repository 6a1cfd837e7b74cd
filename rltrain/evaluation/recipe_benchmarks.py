"""The benchmarks a recipe's ``eval.benchmarks`` names, read the way the recipe reads every input.

A stage evaluates them before and after training (:func:`rltrain.evaluation.runner.evaluate_benchmarks`);
the recipe checks (:mod:`rltrain.recipe.checks`) call :func:`benchmark_specs` when the recipe loads, so a
misspelt name or a missing JSONL file is one error naming ``eval.benchmarks.<i>`` before any model
loads, not a failure after the first evaluation. This module only parses and resolves names, so that the
checks can use it without importing any benchmark's scorer.
"""

from __future__ import annotations

import os
from typing import Any

from rltrain.errors import RecipeError
from rltrain.evaluation.benchmarks.base import Benchmark
from rltrain.evaluation.benchmarks.registry import BENCHMARKS, benchmark_names, is_jsonl_spec, load_benchmark
from rltrain.evaluation.results import EvalResults
from rltrain.evaluation.settings import SamplingSettings
from rltrain.recipe.schema import EvalConfig, Recipe

__all__ = ["SUMMARY_FIELDS", "benchmark_specs", "recipe_benchmarks", "sampling_settings", "summary_rows"]

SUMMARY_FIELDS = ("avg_at_n", "stderr", "n", "items", "samples", "truncated")
"""What ``summary.json`` keeps of each benchmark's metrics (the full figures are in its results.json)."""


def benchmark_specs(recipe: Recipe) -> list[str]:
    """``eval.benchmarks`` as ``rltrain eval --benchmarks`` entries, JSONL files as ``name=/absolute/path``
    (a relative path is the recipe's, like every input; the name stays the file's stem unless given).

    Raises :class:`RecipeError` naming the entry (``eval.benchmarks.<i>``): an unknown name (with the
    known ones), a JSONL file that does not exist, a benchmark named twice; and for a reward-model stage,
    which generates nothing to score.
    """
    specs = recipe.eval.benchmarks if recipe.eval else []
    if specs and recipe.stage == "reward":
        raise RecipeError("eval.benchmarks: a reward-model stage generates no completions to score; remove them")
    resolved: list[str] = []
    seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        where = f"eval.benchmarks.{i}"
        name, entry = _resolved(recipe, spec, where)
        if name in seen:
            raise RecipeError(f"{where}: benchmark {name!r} is already eval.benchmarks.{seen[name]}")
        seen[name] = i
        resolved.append(entry)
    return resolved


def _resolved(recipe: Recipe, spec: str, where: str) -> tuple[str, str]:
    """The benchmark name of one entry and the entry with its file, if any, made absolute."""
    if not is_jsonl_spec(spec):
        if spec not in BENCHMARKS:
            raise RecipeError(f"{where}: unknown benchmark {spec!r}; known: {', '.join(benchmark_names())}, "
                              "or a JSONL file (path.jsonl or name=path.jsonl)")
        return spec, spec
    try:
        benchmark = load_benchmark(spec)  # a JSONL benchmark reads nothing until it is loaded
    except RecipeError as exc:
        raise RecipeError(f"{where}: {exc}") from None
    path = getattr(benchmark, "path", None)
    if path is None:
        raise RecipeError(f"{where}: {spec!r} names no file")
    absolute = os.path.abspath(recipe.resolve_input(str(path)))
    if not os.path.isfile(absolute):
        raise RecipeError(f"{where}: file not found: {absolute}")
    return benchmark.name, f"{benchmark.name}={absolute}"


def recipe_benchmarks(recipe: Recipe) -> list[Benchmark]:
    """The benchmarks of ``eval.benchmarks``, ready to plan (JSONL files scored by the reward their
    columns choose, as ``rltrain eval`` without ``--rewards``)."""
    return [load_benchmark(spec) for spec in benchmark_specs(recipe)]


def sampling_settings(cfg: EvalConfig) -> SamplingSettings:
    """The eval section's sampling as benchmark settings: the same temperature, top-p, top-k, new tokens
    and seed as the held-out evaluation, temperature 0 when ``greedy``."""
    return SamplingSettings(temperature=0.0 if cfg.greedy else cfg.temperature, top_p=cfg.top_p, top_k=cfg.top_k,
                            max_tokens=cfg.max_new_tokens, seed=cfg.seed)


def summary_rows(results: EvalResults) -> dict[str, dict[str, Any]]:
    """Per benchmark, the headline figures ``summary.json`` records (:data:`SUMMARY_FIELDS`)."""
    return {name: {key: getattr(metrics, key) for key in SUMMARY_FIELDS} for name, metrics in results.benchmarks.items()}

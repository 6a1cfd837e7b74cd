"""A stage's ``eval.benchmarks``: the starting or trained model evaluated on benchmarks, as ``rltrain eval
MODEL --benchmarks ... --backend hf`` would, from inside the stage.

The benchmarks, the sampling settings and the rows kept in ``summary.json`` come from the recipe
(:mod:`rltrain.evaluation.recipe_benchmarks`); generation, scoring, resuming and the evaluation
directory's files are the benchmark machinery's (:func:`rltrain.evaluation.suite.run_suite`). The model
is loaded from the recipe's model section, as held-out evaluation loads it, so both evaluate the same
weights.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from rltrain.evaluation.backends.hf import HfBackend
from rltrain.evaluation.runner import recipe_with_model
from rltrain.recipe.schema import Recipe

__all__ = ["evaluate_benchmarks"]

logger = logging.getLogger(__name__)


def evaluate_benchmarks(recipe: Recipe, source: str | None, output: str | Path) -> dict[str, dict[str, Any]]:
    """Evaluate the starting model (``source=None``) or a saved model directory on ``eval.benchmarks`` into
    the evaluation directory ``output``; returns the per-benchmark rows of ``summary.json``.

    Samples already in ``output`` under the same settings and model are not generated again, so a stage
    stopped while evaluating continues where it stopped. Hub data (GPQA, LiveCodeBench's tests) comes
    from the default cache, ``$RLTRAIN_CACHE/benchmarks``.
    """
    from rltrain.evaluation.benchmarks.base import DataCache
    from rltrain.evaluation.recipe_benchmarks import recipe_benchmarks, sampling_settings, summary_rows
    from rltrain.evaluation.suite import plan, run_suite

    cfg = recipe.eval
    if cfg is None or not cfg.benchmarks:
        raise ValueError(f"{recipe.name}: the recipe sets no eval.benchmarks")
    settings = sampling_settings(cfg)
    plans = plan(recipe_benchmarks(recipe), DataCache(), n=cfg.benchmark_n, limit=cfg.benchmark_limit, greedy=settings.greedy)
    target = recipe_with_model(recipe, source)
    backend = HfBackend(target.model.name_or_path, batch_size=cfg.batch_size, recipe=target)
    try:
        results = run_suite(_model_name(target), backend, settings, plans, output)
    finally:
        backend.close()
    if not results.complete:
        logger.warning("%s: the benchmark results in %s are partial (the backend returned fewer completions than asked)",
                       recipe.name, output)
    return summary_rows(results)


def _model_name(recipe: Recipe) -> str:
    """The model as the evaluation's fingerprint names it: a local directory by its absolute path (the
    same whichever directory the stage runs from), anything else (a hub id, ``tiny``) as given."""
    from rltrain.models.loading import model_source

    source = model_source(recipe)
    return os.path.abspath(source) if os.path.isdir(source) else source

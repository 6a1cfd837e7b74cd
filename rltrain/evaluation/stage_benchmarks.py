"""A stage's ``eval.benchmarks``: the starting or trained model evaluated on benchmarks, as ``rltrain eval
MODEL --benchmarks ... --backend hf`` would, from inside the stage.

The benchmarks, the sampling settings and the rows kept in ``summary.json`` come from the recipe
(:mod:`rltrain.evaluation.recipe_benchmarks`); generation, scoring, resuming and the evaluation
directory's files are the benchmark machinery's (:func:`rltrain.evaluation.suite.run_suite`). The model
is loaded the way held-out evaluation loads it (:class:`RecipeHfBackend`), so both evaluate the same
weights.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from rltrain.evaluation.backends.hf import Dtype, HfBackend
from rltrain.evaluation.runner import evaluation_device_map, recipe_with_model
from rltrain.recipe.schema import Recipe

__all__ = ["RecipeHfBackend", "evaluate_benchmarks"]

logger = logging.getLogger(__name__)


class RecipeHfBackend(HfBackend):
    """The ``hf`` backend with the model loaded from a recipe's model section: the tiny model's shape,
    ``rope_scaling``, dtype and the remote-code setting all apply, where the plain backend knows only a
    model name."""

    def __init__(self, recipe: Recipe, *, batch_size: int) -> None:
        self._recipe = recipe
        super().__init__(recipe.model.name_or_path, batch_size=batch_size, dtype=recipe.model.dtype,
                         trust_remote_code=recipe.model.trust_remote_code)

    # The base class loads from the name alone, in a static method; this one reads the recipe it was given.
    def _load(self, model: str, dtype: Dtype, trust_remote_code: bool) -> tuple[Any, Any]:  # type: ignore[override]
        from rltrain.models.loading import load_model, load_tokenizer

        tokenizer = load_tokenizer(self._recipe)
        loaded = load_model(self._recipe, tokenizer, device_map=evaluation_device_map())
        loaded.eval()
        tokenizer.padding_side = "left"
        return loaded, tokenizer


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
    backend = RecipeHfBackend(target, batch_size=cfg.batch_size)
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

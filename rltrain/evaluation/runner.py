"""Evaluating a model with a recipe: load the held-out rows, the model (the recipe's starting model or
a saved directory) and the rewards, then score (:mod:`rltrain.evaluation.heldout`). Used by a stage before
and after training, by ``eval.retention``, and by ``rltrain eval``.

A stage's ``eval.benchmarks`` are evaluated by :mod:`rltrain.evaluation.stage_benchmarks` (with the model
loaded as here, on :func:`evaluation_device_map`).
"""

from __future__ import annotations

from typing import Any

from rltrain.recipe.schema import Recipe


def evaluation_device_map() -> str | None:
    """Evaluations load the model on the GPUs of this node when there are any (``"auto"`` spreads a
    model too large for one GPU over several), else on the CPU."""
    import torch

    return "auto" if torch.cuda.is_available() else None


def evaluate_model(recipe: Recipe, source: str | None, label: str) -> dict[str, Any]:
    """Evaluate the starting model (``source=None``) or a saved model directory."""
    from rltrain.data.prompts import load_splits
    from rltrain.evaluation.heldout import evaluate
    from rltrain.models.loading import load_model, load_tokenizer
    from rltrain.rewards.build import build_rewards

    target = recipe_with_model(recipe, source)
    splits = load_splits(recipe)
    if splits.eval is None:
        raise ValueError("data.eval_size is 0: no held-out rows to evaluate on")
    tokenizer = load_tokenizer(target)
    model = load_model(target, tokenizer, device_map=evaluation_device_map())
    if recipe.stage == "reward":
        from rltrain.evaluation.heldout import evaluate_preferences

        return evaluate_preferences(model, tokenizer, splits.eval, recipe, model_name=label).as_dict()
    result = evaluate(model, tokenizer, splits.eval, recipe, build_rewards(recipe), model_name=label)
    return result.as_dict()


def recipe_with_model(recipe: Recipe, source: str | None) -> Recipe:
    """``recipe`` with its model replaced by the saved directory ``source`` (``None``: unchanged)."""
    if source is None:
        return recipe
    return recipe.model_copy(update={"model": recipe.model.model_copy(update={"name_or_path": source})})


def retention_recipe(recipe: Recipe) -> Recipe:
    """The recipe of ``eval.retention``, evaluating this stage's model on that recipe's held-out data.

    The other recipe is validated with this stage's model in it (already checked by this stage's own
    recipe, and possibly still to be trained), so its own ``model`` section may be absent.
    """
    from rltrain.models.loading import model_source
    from rltrain.recipe.loading import read_yaml, recipe_from_dict

    eval_cfg = recipe.eval
    if eval_cfg is None or eval_cfg.retention is None:
        raise ValueError(f"{recipe.name}: the recipe sets no eval.retention")
    spec = eval_cfg.retention
    path = recipe.resolve_input(spec.recipe)
    model = recipe.model.model_copy(update={"name_or_path": model_source(recipe)})  # absolute if local
    raw = {**read_yaml(path), "model": model.model_dump(mode="json"), "output_dir": recipe.output_dir}
    other = recipe_from_dict(raw, source=f"{recipe.name}: eval.retention.recipe {path}", base_dir=path.resolve().parent,
                             pending_model=f"the model of stage {recipe.name}")
    updates: dict[str, Any] = {"model": model}
    if spec.metric:
        updates["eval"] = (other.eval or eval_cfg).model_copy(update={"metric": spec.metric, "retention": None})
    return other.model_copy(update=updates)

"""Measuring a model: ``heldout`` samples completions for held-out prompts and scores them with the
recipe's rewards (pairwise accuracy for a reward model); ``runner`` loads what an evaluation needs from a
recipe (the starting model or a saved one, and ``eval.retention``'s other recipe). Benchmark evaluations
belong here too."""

from rltrain.evaluation.heldout import EvalResult, evaluate, evaluate_preferences, generate, transcript
from rltrain.evaluation.runner import evaluate_model, retention_recipe

__all__ = ["EvalResult", "evaluate", "evaluate_model", "evaluate_preferences", "generate", "retention_recipe", "transcript"]

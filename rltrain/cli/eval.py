"""``rltrain eval``: held-out accuracy of a recipe's model, or of a model directory, with the recipe's
rewards; prints the table and the result, and writes it as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rltrain.cli.console import SET_HELP, console
from rltrain.errors import RecipeError
from rltrain.run.layout import RunLayout


def cmd_eval(args: argparse.Namespace) -> int:
    from rltrain.evaluation.runner import evaluate_model
    from rltrain.recipe.loading import load_recipe
    from rltrain.reporting.table import print_table

    overrides = list(args.set)
    for key, value in (("eval.num_samples", args.num_samples), ("eval.num_prompts", args.num_prompts)):
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.greedy:
        overrides.append("eval.greedy=true")
    target = Path(args.target)
    if target.is_dir():  # `rltrain eval MODEL_DIR --recipe R.yaml`
        if not args.recipe:
            raise RecipeError(f"{target} is a model directory: also pass --recipe R.yaml for data, rewards and eval settings")
        if args.model:
            raise RecipeError("give the model either as the first argument or with --model, not both")
        recipe_path, model = args.recipe, str(target)
    else:
        recipe_path, model = args.target, args.model
    recipe = load_recipe(recipe_path, overrides)
    result = evaluate_model(recipe, str(Path(model).resolve()) if model else None, model or recipe.model.name_or_path)
    output = Path(args.output) if args.output else RunLayout.of(recipe.output_dir).eval
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2))
    print_table([{"stage": recipe.name, "kind": "eval", "eval_after": result}], console=console(), title="held-out evaluation")
    print(json.dumps({k: v for k, v in result.items() if k != "examples"}, indent=2))
    return 0


def add_eval_parser(sub: Any) -> None:
    """Register ``rltrain eval``."""
    p = sub.add_parser("eval", help="held-out accuracy with a recipe's rewards", 
                       description="Sample completions for held-out prompts and score them with the recipe's rewards; "
                                   "prints and writes JSON.")
    p.add_argument("target", metavar="RECIPE_OR_MODEL", help="recipe YAML file, or a model directory (then pass --recipe)")
    p.add_argument("--recipe", help="recipe giving data, rewards and eval settings when RECIPE_OR_MODEL is a model")
    p.add_argument("--model", help="model directory to evaluate instead of the recipe's model")
    p.add_argument("--num-samples", type=int, help="completions per prompt (eval.num_samples)")
    p.add_argument("--num-prompts", type=int, help="held-out prompts (eval.num_prompts)")
    p.add_argument("--greedy", action="store_true", help="greedy decoding, one completion per prompt")
    p.add_argument("--output", help="JSON file to write (default: <output_dir>/eval.json)")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help=SET_HELP)
    p.set_defaults(func=cmd_eval)

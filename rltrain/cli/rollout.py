"""``rltrain rollout``: one GRPO rollout of a recipe, printed token-exact with what the loss sees.

Builds the recipe's trainer (model, tokenizer, rewards, tools), generates one group of completions
per prompt through the trainer's own path (TRL's generation and tool loop, the recipe's rewards), and
prints each completion with the spans that are *not* trained on (tool results, and the turn headers
the template puts around them) between ``⟦`` and ``⟧``, with its reward and advantage. Use it to check
a chat template and tools before a long run: the tool call, the tool's answer and the masking are all
visible.
"""

from __future__ import annotations

import argparse
from typing import Any


def spans(tokenizer: Any, ids: list[int], trained: list[bool]) -> str:
    """The completion's text with untrained spans between ``⟦`` and ``⟧``."""
    out, start = [], 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or trained[i] != trained[start]:
            text = tokenizer.decode(ids[start:i])
            out.append(text if trained[start] else f"⟦{text}⟧")
            start = i
    return "".join(out)


def cmd_rollout(args: argparse.Namespace) -> int:
    from rltrain.errors import RecipeError
    from rltrain.recipe.loading import load_recipe
    from rltrain.run.trainer import build_trainer

    overrides = list(args.set) + ([f"model.name_or_path={args.model}"] if args.model else [])
    recipe = load_recipe(args.recipe, overrides)
    if recipe.stage != "grpo":
        raise RecipeError(f"{args.recipe}: rollout shows GRPO rollouts; this stage is {recipe.stage!r}")
    trainer = build_trainer(recipe, callbacks=[])
    rows = [trainer.train_dataset[i] for i in range(min(args.num_prompts, len(trainer.train_dataset)))]
    group = trainer.num_generations
    out = trainer._generate_and_score_completions([row for row in rows for _ in range(group)])
    tokenizer = trainer.processing_class
    real = out["completion_mask"].bool()
    trained = real & out["tool_mask"].bool() if "tool_mask" in out else real
    for i in range(len(rows) * group):
        if i % group == 0:
            print(f"=== prompt {i // group + 1}: {rows[i // group]['prompt'][-1]['content']}")
        ids = out["completion_ids"][i][real[i]].tolist()
        text = spans(tokenizer, ids, trained[i][real[i]].tolist())
        print(f"--- completion {i % group + 1}: advantage {out['advantages'][i].item():+.3f}")
        print(text)
    return 0


def add_rollout_parser(sub: Any) -> None:
    """Register ``rltrain rollout``."""
    p = sub.add_parser(
        "rollout", help="generate and print one GRPO rollout, marking the tokens the loss ignores",
        description="Generate one group of completions for the first training prompts of a GRPO recipe through the "
                    "trainer (tools included) and print them; spans not trained on (tool results) are shown ⟦like this⟧.",
    )
    p.add_argument("recipe", help="GRPO recipe YAML file")
    p.add_argument("--model", help="model directory to roll out instead of the recipe's model")
    p.add_argument("--num-prompts", type=int, default=1, help="prompts to roll out (default 1)")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a recipe field (value parsed as YAML); repeatable")
    p.set_defaults(func=cmd_rollout)

"""Held-out evaluation: sample completions for held-out prompts and score them with the recipe's rewards.

For a reward-model stage, :func:`evaluate_preferences` reports pairwise accuracy instead.

Accuracy is the mean of one reward (``eval.metric``, default the first reward) over every sampled
completion that reward could judge; completions it masked (``None``) are counted, not scored. The
generation seed is fixed, so the before and after evaluations of a stage draw the same randomness.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from rltrain.config import EvalConfig, Recipe
from rltrain.errors import RecipeError


@dataclass
class EvalResult:
    model: str
    accuracy: float | None
    metric: str
    num_prompts: int
    num_samples: int
    rewards: dict[str, float | None] = field(default_factory=dict)
    masked: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean(values: list[float | None]) -> float | None:
    judged = [v for v in values if v is not None]
    return sum(judged) / len(judged) if judged else None


def generate(model, tokenizer, prompts: list[list[dict[str, str]]], cfg: EvalConfig) -> list[list[str]]:
    """``num_samples`` completions for each chat prompt (decoded text, special tokens removed)."""
    import torch

    samples = 1 if cfg.greedy else cfg.num_samples
    device = next(model.parameters()).device
    tokenizer.padding_side = "left"
    out: list[list[str]] = []
    model.eval()
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(cfg.seed)
    try:
        for start in range(0, len(prompts), cfg.batch_size):
            batch = prompts[start : start + cfg.batch_size]
            texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in batch]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            with torch.inference_mode():
                ids = model.generate(
                    **enc,
                    max_new_tokens=cfg.max_new_tokens,
                    do_sample=not cfg.greedy,
                    temperature=cfg.temperature if not cfg.greedy else None,
                    top_p=cfg.top_p if not cfg.greedy else None,
                    top_k=cfg.top_k if not cfg.greedy else None,
                    num_return_sequences=samples,
                    pad_token_id=tokenizer.pad_token_id,
                )
            decoded = tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            out.extend(decoded[i * samples : (i + 1) * samples] for i in range(len(batch)))
    finally:
        torch.random.set_rng_state(generator_state)
    return out


def evaluate(model, tokenizer, rows, recipe: Recipe, rewards: list, *, model_name: str) -> EvalResult:
    """Score ``eval.num_samples`` sampled completions per held-out row with the guarded rewards."""
    cfg = recipe.eval or EvalConfig()
    if not rewards:
        raise RecipeError("eval: the recipe lists no rewards to score completions with")
    metric = cfg.metric or rewards[0].__name__
    names = [r.__name__ for r in rewards]
    if metric not in names:
        raise RecipeError(f"eval.metric: {metric!r} is not one of the recipe's rewards {names}")
    rows = rows.select(range(min(cfg.num_prompts, len(rows))))
    started = time.monotonic()
    completions = generate(model, tokenizer, list(rows["prompt"]), cfg)
    flat_prompts, flat_completions, columns = [], [], {c: [] for c in rows.column_names if c != "prompt"}
    for row, samples in zip(rows, completions):
        for text in samples:
            flat_prompts.append(row["prompt"])
            flat_completions.append([{"role": "assistant", "content": text}])
            for c in columns:
                columns[c].append(row[c])
    scores = {r.__name__: _call(r, flat_prompts, flat_completions, columns) for r in rewards}
    examples = [
        {"prompt": flat_prompts[i][-1]["content"], "completion": flat_completions[i][0]["content"],
         **{n: scores[n][i] for n in names}}
        for i in range(min(3, len(flat_prompts)))
    ]
    return EvalResult(
        model=model_name,
        accuracy=_mean(scores[metric]),
        metric=metric,
        num_prompts=len(rows),
        num_samples=len(completions[0]) if completions else 0,
        rewards={n: _mean(v) for n, v in scores.items()},
        masked={n: sum(v is None for v in s) for n, s in scores.items()},
        seconds=round(time.monotonic() - started, 2),
        examples=examples,
    )


def evaluate_preferences(model, tokenizer, rows, recipe: Recipe, *, model_name: str) -> EvalResult:
    """Pairwise accuracy of a reward model on held-out preference rows: how often chosen > rejected."""
    from verifiers.reward_model import RewardModel

    cfg = recipe.eval or EvalConfig()
    rows = rows.select(range(min(cfg.num_prompts, len(rows))))
    started = time.monotonic()
    scorer = RewardModel(model, tokenizer, batch_size=cfg.batch_size)
    prompts = list(rows["prompt"])
    chosen = scorer.score([(p, c[-1]["content"]) for p, c in zip(prompts, rows["chosen"])])
    rejected = scorer.score([(p, r[-1]["content"]) for p, r in zip(prompts, rows["rejected"])])
    wins = [float(c > r) for c, r in zip(chosen, rejected)]
    return EvalResult(
        model=model_name,
        accuracy=_mean(wins),
        metric="pairwise_accuracy",
        num_prompts=len(rows),
        num_samples=1,
        rewards={"margin": _mean([c - r for c, r in zip(chosen, rejected)])},
        seconds=round(time.monotonic() - started, 2),
    )


def _call(reward, prompts, completions, columns) -> list[float | None]:
    from rltrain.rewards import is_async_callable

    if is_async_callable(reward):
        import asyncio

        return asyncio.run(reward(prompts, completions, **columns))
    return reward(prompts, completions, **columns)


def format_accuracy(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f}%"

"""Held-out evaluation: sample completions for held-out prompts and score them with the recipe's rewards.

For a reward-model stage, :func:`evaluate_preferences` reports pairwise accuracy instead.

Accuracy is the mean of one reward (``eval.metric``, default the first reward) over every sampled
completion that reward could judge; completions it masked (``None``) are counted, not scored. The
generation seed is fixed, so the before and after evaluations of a stage draw the same randomness.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rltrain.errors import RecipeError
from rltrain.recipe.schema import DEFAULT_TOOL_ROUNDS, EvalConfig, Recipe
from verifiers.registry import Scores, is_async_reward


@dataclass
class EvalResult:
    """One evaluation of one model, as stored under ``eval_before``/``eval_after`` in ``summary.json``."""

    model: str
    accuracy: float | None
    metric: str
    num_prompts: int
    num_samples: int
    rewards: dict[str, float | None] = field(default_factory=dict)
    masked: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    examples: list[dict[str, Any]] = field(default_factory=list)
    tools: dict[str, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean(values: Sequence[float | None]) -> float | None:
    judged = [v for v in values if v is not None]
    return sum(judged) / len(judged) if judged else None


def _sampling(cfg: EvalConfig) -> dict[str, Any]:
    if cfg.greedy:
        return {"do_sample": False}
    return {"do_sample": True, "temperature": cfg.temperature, "top_p": cfg.top_p, "top_k": cfg.top_k}


def generate(model, tokenizer, prompts: list[list[dict[str, str]]], cfg: EvalConfig, toolset: Any = None,
             max_tool_rounds: int = 0) -> list[list[Any]]:
    """``num_samples`` completions for each chat prompt: decoded text (special tokens removed), or with
    ``toolset``, message lists of tool-using conversations."""
    import torch

    samples = 1 if cfg.greedy else cfg.num_samples
    device = next(model.parameters()).device
    tokenizer.padding_side = "left"
    out: list[list[Any]] = []
    model.eval()
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(cfg.seed)
    try:
        if toolset:
            from rltrain.tools.loop import generate_with_tools

            return generate_with_tools(model, tokenizer, prompts, tools=toolset.functions, samples=samples,
                                       max_new_tokens=cfg.max_new_tokens, max_rounds=max_tool_rounds,
                                       batch_size=cfg.batch_size, sampling=_sampling(cfg))
        for start in range(0, len(prompts), cfg.batch_size):
            batch = prompts[start : start + cfg.batch_size]
            texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in batch]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            with torch.inference_mode():
                ids = model.generate(**enc, max_new_tokens=cfg.max_new_tokens, num_return_sequences=samples,
                                     pad_token_id=tokenizer.pad_token_id, **_sampling(cfg))
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
    toolset = _toolset(recipe)
    completions = generate(model, tokenizer, list(rows["prompt"]), cfg, toolset, _tool_rounds(recipe))
    flat_prompts: list[Any] = []
    flat_completions: list[Any] = []
    columns: dict[str, list[Any]] = {c: [] for c in rows.column_names if c != "prompt"}
    for row, samples in zip(rows, completions, strict=False):
        for sample in samples:
            flat_prompts.append(row["prompt"])
            flat_completions.append(sample if toolset else [{"role": "assistant", "content": sample}])
            for c in columns:
                columns[c].append(row[c])
    scores = {r.__name__: _call(r, flat_prompts, flat_completions, columns) for r in rewards}
    examples = [
        {"prompt": flat_prompts[i][-1]["content"], "completion": transcript(flat_completions[i]),
         **{n: scores[n][i] for n in names}}
        for i in range(min(3, len(flat_prompts)))
    ]
    tools = None
    if toolset:
        from rltrain.tools.metrics import batch_counters, batch_metrics

        tools = batch_metrics(batch_counters(flat_completions, toolset.ledger.take()))
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
        tools=tools,
    )


def _toolset(recipe: Recipe):
    if not recipe.tools:
        return None
    from rltrain.tools import build_toolset

    return build_toolset(recipe.tools)  # the rollout loop gives the tokenizer its tool-call parser


def _tool_rounds(recipe: Recipe) -> int:
    rounds = recipe.trl_options().get("max_tool_calling_iterations")  # a GRPO stage's, default included
    return DEFAULT_TOOL_ROUNDS if rounds is None else int(rounds)


def transcript(messages: list[dict[str, Any]]) -> str:
    """A completion's messages as readable text: assistant text, tool calls and ``[tool]`` results."""
    import json

    from verifiers.completions import completion_text

    parts = []
    for m in messages:
        if m.get("role") == "tool":
            parts.append(f"[tool {m.get('name', '')}] {m.get('content', '')}")
            continue
        text = completion_text([m])
        calls = [json.dumps(c.get("function", c), ensure_ascii=False) for c in m.get("tool_calls") or []]
        parts.append(text + "".join(f"<tool_call>{c}</tool_call>" for c in calls))
    return "\n".join(parts)


def evaluate_preferences(model, tokenizer, rows, recipe: Recipe, *, model_name: str) -> EvalResult:
    """Pairwise accuracy of a reward model on held-out preference rows: how often chosen > rejected."""
    from verifiers.reward_model import RewardModel

    cfg = recipe.eval or EvalConfig()
    rows = rows.select(range(min(cfg.num_prompts, len(rows))))
    started = time.monotonic()
    scorer = RewardModel(model, tokenizer, batch_size=cfg.batch_size)
    prompts = list(rows["prompt"])
    chosen = scorer.score([(p, c[-1]["content"]) for p, c in zip(prompts, rows["chosen"], strict=False)])
    rejected = scorer.score([(p, r[-1]["content"]) for p, r in zip(prompts, rows["rejected"], strict=False)])
    wins = [float(c > r) for c, r in zip(chosen, rejected, strict=False)]
    return EvalResult(
        model=model_name,
        accuracy=_mean(wins),
        metric="pairwise_accuracy",
        num_prompts=len(rows),
        num_samples=1,
        rewards={"margin": _mean([c - r for c, r in zip(chosen, rejected, strict=False)])},
        seconds=round(time.monotonic() - started, 2),
    )


def _call(reward, prompts, completions, columns) -> Scores:
    if is_async_reward(reward):
        import asyncio

        return asyncio.run(reward(prompts, completions, **columns))
    return reward(prompts, completions, **columns)


"""Recipe rewards → the functions TRL calls: registry lookup, gates, then the guard.

Each ``rewards[]`` entry is built from the verifiers registry with its ``params``, wrapped by its gates
(:mod:`rltrain.rewards.gates`) when ``rewards[].gate`` names any, and guarded
(:mod:`rltrain.rewards.guard`). A factory that refuses its params is a RecipeError naming the entry.
"""

from __future__ import annotations

import verifiers
from rltrain.errors import RecipeError
from rltrain.recipe.schema import Recipe, RewardConfig
from rltrain.rewards.gates import gated
from rltrain.rewards.guard import GuardedReward, guard


def build_reward(cfg: RewardConfig, index: int, gates: list[RewardConfig] | None = None, *,
                 split_by_tool_use: bool = False) -> GuardedReward:
    """One recipe reward, guarded; gated by ``gates`` (see :mod:`rltrain.rewards.gates`) when given."""
    try:
        fn = verifiers.build_reward(cfg.name, cfg.params)
        if gates:
            gate_fns = [verifiers.build_reward(g.name, g.params) for g in gates]
            fn = gated(cfg.name, fn, gate_fns, cfg.gate_threshold)
    except verifiers.VerifierError as exc:
        raise RecipeError(f"rewards.{index} ({cfg.name}): {exc}") from None
    return guard(cfg.name, fn, cfg.timeout, split_by_tool_use=split_by_tool_use)


def build_rewards(recipe: Recipe) -> list[GuardedReward]:
    """The recipe's rewards, in order, each guarded (and gated where ``rewards[].gate`` says so)."""
    by_name = {cfg.name: cfg for cfg in recipe.rewards}
    return [build_reward(cfg, i, [by_name[g] for g in cfg.gate], split_by_tool_use=bool(recipe.tools))
            for i, cfg in enumerate(recipe.rewards)]

"""Rewards as the trainer calls them: ``build`` turns a recipe's ``rewards[]`` into reward functions from
the verifiers registry, ``gates`` zeroes a reward where a gate reward (typically a format check) fails,
and ``guard`` wraps each in a deadline, exception capture and masking metrics. The function contract
itself, :class:`verifiers.registry.RewardFn`, lives beside the registry."""

from rltrain.rewards.build import build_reward, build_rewards
from rltrain.rewards.gates import gated
from rltrain.rewards.guard import AsyncGuardedReward, GuardedReward, RewardStats, guard

__all__ = ["AsyncGuardedReward", "GuardedReward", "RewardStats", "build_reward", "build_rewards", "gated", "guard"]

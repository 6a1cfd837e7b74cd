"""Verifiers: reward functions for outcome-reward RL, plugged into recipes by name.

Importing the package registers the built-in rewards:

* ``math_accuracy`` (:mod:`verifiers.math`): final ``\\boxed{}`` answer against the gold answer, with
  sympy equivalence checks under a hard per-sample timeout in killable worker processes;
* ``think_format`` (:mod:`verifiers.format`): reasoning closed by ``</think>`` and a non-empty answer.

Use :func:`build_reward` to get a TRL reward function from a recipe's ``name`` and ``params``.
"""

from verifiers import format, math  # noqa: F401 - importing registers the built-in rewards
from verifiers.completions import completion_text
from verifiers.errors import VerifierError
from verifiers.pool import Outcome, WorkerPool, shared_pool
from verifiers.registry import RewardEntry, RewardFn, available_rewards, build_reward, get_reward, register_reward

__all__ = [
    "Outcome",
    "RewardEntry",
    "RewardFn",
    "VerifierError",
    "WorkerPool",
    "available_rewards",
    "build_reward",
    "completion_text",
    "get_reward",
    "register_reward",
    "shared_pool",
]

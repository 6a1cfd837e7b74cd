"""Verifiers: reward functions for outcome-reward RL, plugged into recipes by name.

Importing the package registers the built-in rewards:

* ``math_accuracy`` (:mod:`verifiers.math`): the final answer (last ``\\boxed{}`` after ``</think>``, or an
  answer statement) against the gold answer, exactly for plain numbers and with sympy under a hard
  per-sample timeout in killable worker processes otherwise (docs/verifiers.md);
* ``code_pass_rate`` / ``code_all_pass`` (:mod:`verifiers.code`): the completion's last code block run
  against the row's tests in the sandbox (:mod:`sandbox`), locally or on a sandbox server;
* ``think_format`` (:mod:`verifiers.format`): reasoning closed by ``</think>`` and a non-empty answer;
* ``ifeval``, ``answer_format``, ``length_limit``, ``repetition_penalty`` (:mod:`verifiers.rules`): rule
  verifiers for instruction following (IFEval's 25 instruction types);
* ``reward_model`` (:mod:`verifiers.reward_model`): a sequence-classification reward model's score,
  in-process or from a served model (``rltrain rm serve``, OpenRLHF, or vLLM).

Use :func:`build_reward` to get a TRL reward function from a recipe's ``name`` and ``params``.
"""

from verifiers import code, format, math, reward_model, rules  # noqa: F401 - importing registers the built-in rewards
from verifiers.completions import completion_text
from verifiers.errors import VerifierError
from verifiers.pool import Outcome, WorkerPool, shared_pool
from verifiers.registry import (
    RewardEntry,
    RewardFn,
    Scores,
    available_rewards,
    build_reward,
    get_reward,
    is_async_reward,
    is_collective,
    mark_collective,
    register_reward,
)

__all__ = [
    "Outcome",
    "RewardEntry",
    "RewardFn",
    "Scores",
    "VerifierError",
    "WorkerPool",
    "available_rewards",
    "build_reward",
    "completion_text",
    "get_reward",
    "is_async_reward",
    "is_collective",
    "mark_collective",
    "register_reward",
    "shared_pool",
]

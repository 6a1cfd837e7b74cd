"""The ``math_accuracy`` reward: verdicts of :func:`verifiers.math.verify_batch` as TRL rewards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from verifiers.errors import VerifierError
from verifiers.math.batch import verify_batch
from verifiers.math.policy import ListOrder, MathPolicy, PercentPolicy
from verifiers.math.verdict import (
    EQUIVALENT,
    ERROR,
    NO_ANSWER,
    NOT_EQUAL,
    TIMEOUT,
    UNPARSEABLE_GOLD,
)
from verifiers.registry import RewardFn, register_reward

__all__ = ["SCORES", "TRL_EXTRAS", "build_math_accuracy", "math_accuracy_reward"]

#: Reward per verdict reason; the reasons absent here (could not judge) give ``None``, i.e. masked.
SCORES: dict[str, float] = {EQUIVALENT: 1.0, NOT_EQUAL: 0.0, NO_ANSWER: 0.0}
#: Keyword arguments TRL adds to every reward call; not dataset columns.
TRL_EXTRAS = frozenset({"trainer_state", "log_metric", "log_extra", "completion_ids"})
#: Reasons logged as the fraction ``verifiers/math/<reason with underscores>`` of each batch.
LOGGED_REASONS = (NO_ANSWER, UNPARSEABLE_GOLD, TIMEOUT, ERROR)


def math_accuracy_reward(
    prompts: Sequence[Any] | None,
    completions: Sequence[Any],
    *,
    answer: Sequence[Any],
    timeout: float = 5.0,
    policy: MathPolicy | None = None,
    **kwargs: Any,
) -> list[float | None]:
    """TRL reward: 1.0 equivalent, 0.0 not equal or no answer found, ``None`` when it could not judge.

    ``None`` (masked, never scored as wrong) covers an unparseable gold, a comparison past ``timeout``
    and a failed comparison. Other keyword arguments (dataset columns, TRL's ``trainer_state``,
    ``completion_ids``, ...) are ignored, except ``log_metric``, which receives the batch fraction
    ``verifiers/math/<reason>`` (``no_answer_found``, ``unparseable_gold``, ``timeout``, ``error``, and
    ``no_gold`` for rows whose gold is ``None``: another task's rows in a mixed dataset, masked unjudged).
    """
    if len(completions) != len(answer):
        raise VerifierError(
            f"math_accuracy: got {len(completions)} completions but {len(answer)} gold answers; pass one gold per completion"
        )
    # A gold of None marks another task's row (e.g. code rows in stage one): masked without judging.
    judged = [i for i, gold in enumerate(answer) if gold is not None]
    verdicts = verify_batch([(completions[i], answer[i]) for i in judged], timeout=timeout, policy=policy)
    scores: list[float | None] = [None] * len(completions)
    for i, verdict in zip(judged, verdicts, strict=False):
        scores[i] = SCORES.get(verdict.reason)
    log_metric = kwargs.get("log_metric")
    if callable(log_metric) and completions:
        for reason in LOGGED_REASONS:
            share = sum(v.reason == reason for v in verdicts) / len(completions)
            log_metric(f"verifiers/math/{reason.replace(' ', '_')}", share)
        log_metric("verifiers/math/no_gold", (len(completions) - len(judged)) / len(completions))
    return scores


@register_reward(
    "math_accuracy",
    description="1.0 if the final answer (last \\boxed{} after </think>, else an answer statement) is equivalent "
    "to the gold answer, else 0.0; None when the gold is unparseable or judging timed out",
)
def build_math_accuracy(
    *,
    timeout: float = 5.0,
    answer_column: str = "answer",
    percent: PercentPolicy = "either",
    lists: ListOrder = "unordered",
    require_boxed: bool = False,
    decimal_comma: bool = False,
) -> RewardFn:
    """Factory for the ``math_accuracy`` reward.

    Args:
        timeout: seconds allowed per sample for the comparison (killed and masked after that).
        answer_column: dataset column holding the gold answers.
        percent: ``"either"`` (``50\\%`` equals ``50`` and ``0.5``), ``"number"`` (equals ``50`` only) or
            ``"fraction"`` (equals ``0.5`` only); see :class:`verifiers.math.MathPolicy`.
        lists: ``"unordered"`` (a bare list ``2, 3`` is a set) or ``"ordered"``.
        require_boxed: only a ``\\boxed{}`` answer counts (no ``Answer:`` or last-number fallbacks).
        decimal_comma: a comma between digits is a decimal comma (``1,5`` is 1.5); off by default.
    """
    if not timeout > 0:
        raise VerifierError(f"math_accuracy: parameter 'timeout' must be a positive number of seconds, got {timeout!r}")
    if not answer_column:
        raise VerifierError("math_accuracy: parameter 'answer_column' must name a dataset column, got an empty string")
    policy = MathPolicy(percent=percent, lists=lists, require_boxed=require_boxed, decimal_comma=decimal_comma)

    def math_accuracy(prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
        if answer_column not in kwargs:
            columns = sorted(k for k in kwargs if k not in TRL_EXTRAS)
            raise VerifierError(
                f"math_accuracy: the dataset has no column {answer_column!r} with gold answers (columns: "
                f"{columns}); set params.answer_column to the right one"
            )
        answers = kwargs.pop(answer_column)
        kwargs.pop("answer", None)
        return math_accuracy_reward(prompts, completions, answer=answers, timeout=timeout, policy=policy, **kwargs)

    return math_accuracy

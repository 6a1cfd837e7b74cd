"""Verification of whole completions: extraction and the fast path here, sympy in killable workers.

For each (completion, gold) pair the calling process extracts both answers and tries the exact
plain-number comparison (:func:`verifiers.math.equivalence.decide_fast`); that is bounded string and
integer work and settles most pairs in microseconds. The remaining pairs go to a
:class:`~verifiers.pool.WorkerPool` in one ``map``: each runs :func:`verifiers.math.equivalence.compare`
in a worker process that is killed when it exceeds ``timeout``, so no input can hang the caller, in any
thread, and a slow pair never delays the others by more than its own timeout (given two or more
workers). Nothing here raises for what a completion contains: failures become verdicts.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from verifiers.completions import completion_text
from verifiers.errors import VerifierError
from verifiers.math.equivalence import compare, decide_fast
from verifiers.math.extraction import extract_final_answer, extract_gold
from verifiers.math.normalize import clean
from verifiers.math.policy import DEFAULT_POLICY, MathPolicy
from verifiers.math.structure import MAX_ANSWER_CHARS, choice_letter
from verifiers.math.verdict import (
    EQUIVALENT,
    ERROR,
    NO_ANSWER,
    NOT_EQUAL,
    TIMEOUT,
    UNPARSEABLE_GOLD,
    MathVerdict,
    Reason,
)
from verifiers.pool import SHARED_PRELOAD, WorkerPool, shared_pool

__all__ = ["MAX_ANSWER_CHARS", "MAX_GOLD_CHARS", "math_pool", "prepare", "verify", "verify_batch"]

logger = logging.getLogger(__name__)

#: A gold answer longer than this (after extraction) is "unparseable gold"; an extracted answer longer than
#: MAX_ANSWER_CHARS (from :mod:`verifiers.math.structure`) is only compared by its exact text.
MAX_GOLD_CHARS = MAX_ANSWER_CHARS

_pools: dict[tuple[int, int], WorkerPool] = {}
_pools_lock = threading.Lock()


def math_pool(workers: int | None = None) -> WorkerPool:
    """The pool comparisons run in: the shared pool by default, or a per-process pool of ``workers``."""
    if workers is None:
        return shared_pool()
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise VerifierError(f"workers must be a positive integer or None (the shared pool), got {workers!r}")
    key = (os.getpid(), workers)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None or pool.closed:
            for stale in [k for k in _pools if k[0] != key[0]]:
                del _pools[stale]  # copied from a parent by fork: not ours to use
            pool = WorkerPool(workers, preload=SHARED_PRELOAD)
            _pools[key] = pool
        return pool


def prepare(completion: Any, gold: Any, policy: MathPolicy) -> MathVerdict | tuple[str, str]:
    """What the calling process decides on its own: extraction, size bounds and the exact plain-number
    comparison. Returns a verdict, or the ``(extracted, gold)`` texts a worker must compare with sympy."""
    gold_answer = extract_gold(gold)
    text = completion_text(completion)
    is_choice = gold_answer is not None and choice_letter(clean(gold_answer), gold=True) is not None
    extracted = extract_final_answer(text, require_boxed=policy.require_boxed, choice=is_choice, decimal_comma=policy.decimal_comma)
    if gold_answer is None or len(gold_answer) > MAX_GOLD_CHARS:
        return MathVerdict(False, extracted, UNPARSEABLE_GOLD)
    if extracted is None:
        return MathVerdict(False, None, NO_ANSWER)
    if len(extracted) > MAX_ANSWER_CHARS:
        same = extracted.strip() == gold_answer.strip()
        return MathVerdict(same, extracted, EQUIVALENT if same else NOT_EQUAL)
    reason = decide_fast(extracted, gold_answer, policy)
    if reason is not None:
        return MathVerdict(reason == EQUIVALENT, extracted, reason)
    return extracted, gold_answer


def _outcome_reason(status: str, value: Any) -> Reason:
    if status == "ok":
        return value
    return TIMEOUT if status == "timed_out" else ERROR


def verify_batch(
    pairs: Iterable[tuple[Any, Any]],
    *,
    workers: int | None = None,
    timeout: float = 5.0,
    policy: MathPolicy | None = None,
    pool: WorkerPool | None = None,
) -> list[MathVerdict]:
    """Verify ``(completion, gold)`` pairs; verdicts come back in input order.

    Args:
        pairs: completions (strings or TRL message lists) with their gold answers (LaTeX with or without
            ``$``, plain text, numbers, or a solution ending in ``\\boxed{}`` or ``#### answer``).
        workers: worker processes for the comparisons that need sympy; ``None`` uses the shared pool
            (``$VERIFIERS_WORKERS`` or up to 4).
        timeout: seconds each comparison may take in its worker before it is killed (verdict ``timeout``).
        policy: the judging conventions (:class:`MathPolicy`); default ``MathPolicy()``.
        pool: run in this pool instead (overrides ``workers``).

    Raises:
        VerifierError: for misuse only (a non-pair element, a non-positive timeout, bad ``workers``),
            never for what a completion or gold contains.
    """
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise VerifierError(f"timeout must be a positive number of seconds, got {timeout!r}")
    policy = policy or DEFAULT_POLICY
    items: list[tuple[Any, Any]] = []
    for i, pair in enumerate(pairs):
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            raise VerifierError(f"pairs[{i}] must be a (completion, gold) pair, got {type(pair).__name__}")
        items.append((pair[0], pair[1]))

    verdicts: list[MathVerdict | None] = [None] * len(items)
    jobs: list[int] = []
    args: list[tuple[str, str, MathPolicy]] = []
    for i, (completion, gold) in enumerate(items):
        try:
            prepared = prepare(completion, gold, policy)
        except Exception as exc:  # noqa: BLE001 - a malformed sample must not fail the batch
            logger.warning("math verifier could not read sample %d: %s: %s", i, type(exc).__name__, exc)
            verdicts[i] = MathVerdict(False, None, ERROR)
            continue
        if isinstance(prepared, MathVerdict):
            verdicts[i] = prepared
        else:
            jobs.append(i)
            args.append((prepared[0], prepared[1], policy))

    if jobs:
        try:
            outcomes = (pool or math_pool(workers)).map(compare, args, timeout=timeout)
            reasons = [_outcome_reason(o.status, o.value) for o in outcomes]
            for o in outcomes:
                if o.status == "errored":
                    logger.debug("math comparison failed: %s", o.error)
        except VerifierError:
            raise
        except Exception as exc:  # noqa: BLE001 - never fail a training step over the judge's plumbing
            logger.warning("math verifier could not run its worker pool: %s: %s", type(exc).__name__, exc)
            reasons = [ERROR] * len(jobs)
        for i, (extracted, _, _), reason in zip(jobs, args, reasons, strict=False):
            verdicts[i] = MathVerdict(reason == EQUIVALENT, extracted, reason)
    return [v if v is not None else MathVerdict(False, None, ERROR) for v in verdicts]


def verify(completion: Any, gold: Any, *, timeout: float = 5.0, policy: MathPolicy | None = None) -> MathVerdict:
    """Verify one completion against its gold answer with a hard ``timeout`` (see :func:`verify_batch`).

    ``completion`` is a whole model response (reasoning, possibly in ``<think>...</think>``, then a final
    answer); ``gold`` a reference answer. Safe to call from any thread; never raises for what they contain.
    """
    return verify_batch([(completion, gold)], timeout=timeout, policy=policy)[0]

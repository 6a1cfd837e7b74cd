"""IFEval: 541 prompts with verifiable instructions, judged by rltrain's rule verifiers.

The prompts are QwQ's evaluation file (identical to IFEval's original ``input_data.jsonl``), shipped with
IFEval's ``key`` as the item id. A completion's answer part (after the last ``</think>``; an unfinished
``<think>`` has none) is checked against each instruction by :func:`verifiers.rules.check` in IFEval's
two modes:

* **strict**: the response as written;
* **loose**: any of eight relaxed versions (first and/or last line dropped, markdown ``*`` removed).

:attr:`Verdict.correct` is prompt-level strict accuracy (every instruction followed), QwQ's headline
figure. :meth:`IfEval.extra_metrics` reports IFEval's four accuracies over all samples, as fractions:
``prompt_strict``, ``prompt_loose``, ``instruction_strict`` and ``instruction_loose``.

Checks run in the verifiers' killable worker pool, each completion under a hard time limit (a hostile
completion can make a rule's regular expression run for minutes); one that runs out gets a ``timeout``
verdict with every instruction counted as not followed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from rltrain.evaluation.benchmarks.base import Benchmark, BenchmarkItem, DataCache, Verdict
from rltrain.evaluation.benchmarks.sources import read_jsonl, shipped
from verifiers.pool import WorkerPool, shared_pool
from verifiers.rules import check_strict_and_loose, strip_thinking

__all__ = ["IfEval"]

logger = logging.getLogger(__name__)


class IfEval(Benchmark):
    """IFEval (see the module docstring). ``timeout``: seconds one completion's checks may take;
    ``pool``: the worker pool to check in (default: the verifiers' shared pool)."""

    name = "ifeval"
    description = "IFEval, 541 prompts (QwQ's eval data = google-research IFEval, Apache-2.0); rule verifiers; n=1"
    default_n = 1

    def __init__(self, *, timeout: float = 30.0, pool: WorkerPool | None = None) -> None:
        self.timeout = timeout
        self.pool = pool

    def load(self, cache: DataCache) -> list[BenchmarkItem]:
        return [
            BenchmarkItem(
                id=str(row["key"]),
                messages=({"role": "user", "content": row["prompt"]},),
                reference={"instruction_id_list": row["instruction_id_list"], "kwargs": row["kwargs"]},
            )
            for row in read_jsonl(shipped("ifeval.jsonl"))
        ]

    def score(self, items: Sequence[BenchmarkItem], completions: Sequence[str]) -> list[Verdict]:
        pairs = list(zip(items, completions, strict=True))
        jobs = [
            (completion if isinstance(completion, str) else str(completion),
             item.reference["instruction_id_list"], item.reference["kwargs"])
            for item, completion in pairs
        ]
        try:
            outcomes = (self.pool or shared_pool()).map(check_strict_and_loose, jobs, timeout=self.timeout)
        except Exception as exc:  # noqa: BLE001 - the judge's own failure is an error verdict, never a crash
            logger.warning("ifeval: the rule checks could not run: %s: %s", type(exc).__name__, exc)
            return [_unjudged(item, "error") for item, _ in pairs]
        verdicts = []
        for (item, _), (text, _, _), outcome in zip(pairs, jobs, outcomes, strict=True):
            if outcome.status == "timed_out":
                verdicts.append(_unjudged(item, "timeout"))
            elif outcome.status != "ok":
                logger.warning("ifeval: checking a completion of %s failed: %s", item.id, outcome.error)
                verdicts.append(_unjudged(item, "error"))
            else:
                strict, loose = outcome.value
                verdicts.append(_verdict(item, text, strict, loose))
        return verdicts

    def extra_metrics(self, items: Sequence[BenchmarkItem], verdicts: Sequence[Verdict]) -> dict[str, float]:
        """IFEval's four accuracies over all samples. A verdict without per-instruction details (a
        completion cut at the token limit is wrong unscored) counts every instruction of its prompt as
        not followed, in both modes."""
        if not verdicts:
            return {}
        strict = [_followed(item, verdict, "strict") for item, verdict in zip(items, verdicts, strict=True)]
        loose = [_followed(item, verdict, "loose") for item, verdict in zip(items, verdicts, strict=True)]
        instructions = sum(len(s) for s in strict)
        return {
            "prompt_strict": sum(all(s) for s in strict) / len(verdicts),
            "prompt_loose": sum(all(lo) for lo in loose) / len(verdicts),
            "instruction_strict": sum(sum(s) for s in strict) / instructions if instructions else 0.0,
            "instruction_loose": sum(sum(lo) for lo in loose) / instructions if instructions else 0.0,
        }


def _followed(item: BenchmarkItem, verdict: Verdict, mode: str) -> list[bool]:
    count = len(item.reference["instruction_id_list"])
    given = verdict.details.get(mode)
    if isinstance(given, list) and len(given) == count:
        return [bool(v) for v in given]
    return [False] * count


def _details(item: BenchmarkItem, strict: list[bool], loose: list[bool]) -> dict[str, Any]:
    return {"instructions": list(item.reference["instruction_id_list"]), "strict": strict, "loose": loose,
            "loose_correct": all(loose)}


def _unjudged(item: BenchmarkItem, reason: str) -> Verdict:
    none = [False] * len(item.reference["instruction_id_list"])
    return Verdict(correct=False, reason=reason, details=_details(item, none, list(none)))


def _verdict(item: BenchmarkItem, completion: str, strict: list[bool], loose: list[bool]) -> Verdict:
    if not strip_thinking(completion).strip():
        reason = "no_answer"
    else:
        reason = "correct" if all(strict) else "not_followed"
    return Verdict(correct=all(strict), reason=reason, details=_details(item, strict, loose))

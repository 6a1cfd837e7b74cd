"""Math benchmarks with a final answer: AIME 2024, AIME 2025 and MATH-500, judged by :mod:`verifiers.math`.

Prompts are QwQ's: the problem, a newline, then ``Please reason step by step, and put your final answer
within \\boxed{}.`` The AIME prompts are QwQ's evaluation files verbatim; MATH-500 problems get the same
sentence appended. A completion is judged on its final answer after ``</think>`` (an unfinished
``<think>`` has none) by the math verifier, each comparison in a killable worker under a hard time
limit. :attr:`Verdict.answer` is a normalized form of the extracted answer (``025`` and ``25`` agree,
as do ``0.5`` and ``\\frac{1}{2}``), so majority voting counts equal answers together.

Default samples per problem: AIME 64 (QwQ's protocol: 30 problems need many samples for a stable
average); MATH-500 4 (DeepSeek-R1's protocol draws 4 to 64 samples depending on the test set's size; for
500 problems 4 keeps the standard error of avg@n near one point at a sixteenth of AIME's cost).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from fractions import Fraction

from rltrain.evaluation.benchmarks.base import Benchmark, BenchmarkItem, DataCache, Verdict
from rltrain.evaluation.benchmarks.sources import read_jsonl, shipped
from verifiers.math import MathPolicy, MathVerdict, normalize_answer, verify_batch

__all__ = ["BOXED_INSTRUCTION", "Aime24", "Aime25", "Math500", "MathBenchmark", "answer_key"]

logger = logging.getLogger(__name__)

BOXED_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
"""QwQ's instruction for math problems, on its own line after the problem."""

_REASONS = {
    "equivalent": "correct", "not equal": "wrong_answer", "no answer found": "no_answer",
    "unparseable gold": "unparseable_gold", "timeout": "timeout", "error": "error",
}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_FRACTION = re.compile(r"(-?)\\frac\{(-?\d+)\}\{(\d+)\}")


def answer_key(extracted: str | None) -> str | None:
    """The form of an answer that majority voting compares: the verifier's normalized text, with plain
    numbers and integer fractions reduced to one canonical fraction (``025`` → ``25``, ``0.50`` and
    ``\\frac{1}{2}`` → ``1/2``)."""
    if extracted is None:
        return None
    try:
        text = normalize_answer(extracted)
    except Exception:  # noqa: BLE001 - an answer the normalizer cannot read still gets a key: its raw text
        return extracted.strip()
    if _NUMBER.fullmatch(text) and len(text) <= 64:
        return str(Fraction(text))
    fraction = _FRACTION.fullmatch(text)
    if fraction and int(fraction.group(3)) != 0 and len(text) <= 64:
        value = Fraction(int(fraction.group(2)), int(fraction.group(3)))
        return str(-value if fraction.group(1) else value)
    return text


def _verdict(result: MathVerdict) -> Verdict:
    return Verdict(
        correct=result.correct, reason=_REASONS.get(result.reason, "error"), answer=answer_key(result.extracted),
        details={"extracted": result.extracted},
    )


class MathBenchmark(Benchmark):
    """A benchmark of problems with one gold answer each, judged by the math verifier.

    ``timeout``: seconds one answer comparison may run in its worker before it is killed (a ``timeout``
    verdict); ``workers``: worker processes for the comparisons (``None``: the verifiers' shared pool).
    """

    has_answers = True
    policy = MathPolicy()

    def __init__(self, *, timeout: float = 5.0, workers: int | None = None) -> None:
        self.timeout = timeout
        self.workers = workers

    def score(self, items: Sequence[BenchmarkItem], completions: Sequence[str]) -> list[Verdict]:
        pairs = [(completion, item.reference) for item, completion in zip(items, completions, strict=True)]
        try:
            results = verify_batch(pairs, timeout=self.timeout, policy=self.policy, workers=self.workers)
        except Exception as exc:  # noqa: BLE001 - the judge's own failure is an error verdict, never a crash
            logger.warning("%s: the math verifier failed on a batch: %s: %s", self.name, type(exc).__name__, exc)
            return [Verdict(correct=False, reason="error") for _ in pairs]
        return [_verdict(result) for result in results]


def _boxed_prompt(problem: str) -> tuple[dict[str, str], ...]:
    return ({"role": "user", "content": f"{problem}\n{BOXED_INSTRUCTION}"},)


class _Aime(MathBenchmark):
    """AIME problems from QwQ's evaluation data: ``{"prompt", "answer"}`` per line, prompts verbatim."""

    default_n = 64
    filename: str

    def load(self, cache: DataCache) -> list[BenchmarkItem]:
        items = []
        for index, row in enumerate(read_jsonl(shipped(self.filename))):
            messages = ({"role": "user", "content": str(row["prompt"])},)
            items.append(BenchmarkItem(id=str(index), messages=messages, reference=str(row["answer"])))
        return items


class Aime24(_Aime):
    name = "aime24"
    description = "AIME 2024 I+II, 30 problems (QwQ's eval data, Apache-2.0); math verifier; n=64"
    filename = "aime24.jsonl"


class Aime25(_Aime):
    name = "aime25"
    description = "AIME 2025 I+II, 30 problems (QwQ's eval data, Apache-2.0); math verifier; n=64"
    filename = "aime25.jsonl"


class Math500(MathBenchmark):
    """MATH-500: the 500-problem test subset of MATH chosen by PRM800K, ids as in that split
    (``test/precalculus/807.json``); reported per difficulty level as well. Answers follow MATH's
    conventions, so a percent sign is ignored (``50\\%`` equals ``50``)."""

    name = "math500"
    description = "MATH-500 test subset, 500 problems (PRM800K split of MATH, MIT); math verifier; n=4; per level"
    default_n = 4
    group_by = "level"
    policy = MathPolicy(percent="number")

    def load(self, cache: DataCache) -> list[BenchmarkItem]:
        return [
            BenchmarkItem(
                id=row["unique_id"], messages=_boxed_prompt(row["problem"]), reference=row["answer"],
                meta={"level": str(row["level"]), "subject": row["subject"]},
            )
            for row in read_jsonl(shipped("math500.jsonl"))
        ]

"""The result of verifying one completion."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["EQUIVALENT", "ERROR", "NOT_EQUAL", "NO_ANSWER", "REASONS", "TIMEOUT", "UNPARSEABLE_GOLD", "MathVerdict", "Reason"]

Reason = Literal["equivalent", "not equal", "no answer found", "unparseable gold", "timeout", "error"]

EQUIVALENT: Reason = "equivalent"
NOT_EQUAL: Reason = "not equal"
NO_ANSWER: Reason = "no answer found"
UNPARSEABLE_GOLD: Reason = "unparseable gold"
TIMEOUT: Reason = "timeout"
ERROR: Reason = "error"

#: Every reason, in the order reports list them.
REASONS: tuple[Reason, ...] = (EQUIVALENT, NOT_EQUAL, NO_ANSWER, UNPARSEABLE_GOLD, TIMEOUT, ERROR)


@dataclass(frozen=True)
class MathVerdict:
    """Outcome of verifying one completion against its gold answer.

    Attributes:
        correct: the extracted answer is equivalent to the gold answer.
        extracted: the final answer found in the completion (``None`` when there is none).
        reason: why ``correct`` is what it is: ``"equivalent"``, ``"not equal"``, ``"no answer found"``,
            or one of the verdicts that could not judge: ``"unparseable gold"`` (the reference answer is
            empty or cannot be read), ``"timeout"`` (the comparison ran past its time limit and was
            killed), ``"error"`` (the comparison failed unexpectedly).
    """

    correct: bool
    extracted: str | None
    reason: Reason

    @property
    def judged(self) -> bool:
        """Whether the verdict is a real right/wrong judgement (rewards mask the others)."""
        return self.reason in (EQUIVALENT, NOT_EQUAL, NO_ANSWER)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"correct": ..., "extracted": ..., "reason": ...}``."""
        return asdict(self)

"""The judging policy: the choices on which reasonable graders (and answer keys) disagree.

Every field has a default that suits most math RL data; recipes change them through the
``math_accuracy`` reward's params, scripts through :class:`MathPolicy` or ``rltrain verify math`` flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from verifiers.errors import VerifierError

__all__ = ["ListOrder", "MathPolicy", "PercentPolicy"]

PercentPolicy = Literal["either", "number", "fraction"]
ListOrder = Literal["unordered", "ordered"]


@dataclass(frozen=True)
class MathPolicy:
    """How answers are judged where answer keys follow different conventions.

    Attributes:
        percent: how an answer written with a percent sign compares with one written without it.
            ``"either"`` (default): ``50\\%`` equals both ``50`` and ``0.5`` (a plain ``50`` still differs
            from ``0.5``); ``"number"``: the sign is ignored, ``50\\%`` equals ``50`` only (the MATH
            dataset's convention); ``"fraction"``: the sign means hundredths, ``50\\%`` equals ``0.5`` only.
            Two answers that both carry the sign compare their numbers.
        lists: how a bare list of answers (``2, 3``, ``2 or 3``) is compared. ``"unordered"`` (default):
            as a set, since such lists answer "find all ..." questions; ``"ordered"``: element by element.
            Sets (``\\{2, 3\\}``) are always unordered; tuples, points, intervals and matrices always
            ordered.
        require_boxed: only a ``\\boxed{}``/``\\fbox{}`` answer counts; ``Answer:`` lines, "the final answer
            is ...", the last formula and the last number are not used as fallbacks.
        decimal_comma: a comma between digits is a decimal comma (``1,5`` is 1.5, ``1{,}5`` too), as in
            much of Europe; lists then need a space after the comma (``2, 3``) or a semicolon. Off by default:
            ``1,000`` is a thousand and ``3,5`` the list 3, 5.
    """

    percent: PercentPolicy = "either"
    lists: ListOrder = "unordered"
    require_boxed: bool = False
    decimal_comma: bool = False

    def __post_init__(self) -> None:
        if self.percent not in get_args(PercentPolicy):
            raise VerifierError(
                f"math policy: percent must be one of {', '.join(map(repr, get_args(PercentPolicy)))}, "
                f"got {self.percent!r}"
            )
        if self.lists not in get_args(ListOrder):
            raise VerifierError(
                f"math policy: lists must be one of {', '.join(map(repr, get_args(ListOrder)))}, got {self.lists!r}"
            )
        if not isinstance(self.require_boxed, bool):
            raise VerifierError(f"math policy: require_boxed must be true or false, got {self.require_boxed!r}")
        if not isinstance(self.decimal_comma, bool):
            raise VerifierError(f"math policy: decimal_comma must be true or false, got {self.decimal_comma!r}")


DEFAULT_POLICY = MathPolicy()

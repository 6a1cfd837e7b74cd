"""Equivalence: whether an extracted answer and a gold answer say the same thing.

The comparison walks the two structures from :mod:`verifiers.math.structure` and hands the scalars,
equations and inequalities at the leaves to a *judge*:

* :class:`ExactJudge` decides plain numbers with exact rational arithmetic and never imports sympy. It
  runs in the trainer process and settles most answers (integers, decimals, fractions, lists of them,
  word answers, choice letters) in microseconds; anything else raises :class:`NeedsSympy`.
* :class:`SympyJudge` parses expressions with :mod:`verifiers.math.latex` and compares them: exactly for
  rationals, numerically at 30 digits for constants (``\\sqrt{8}`` and ``2\\sqrt{2}``), and at random points
  for expressions with variables (see :meth:`SympyJudge.functions_equal`). It may run long on hostile
  input, so :func:`compare` is meant to run in a worker process with a hard time limit.

Both judges share every structural rule, so the fast path never decides differently from the full one.
Rules, in short: choice letters compare as letters; word answers without case, spaces and punctuation;
``x = 3`` (and ``f(x) = ...``, ``x = 6/2 = 3``) is its right-hand side; a bare list is a set (or a
sequence under ``MathPolicy(lists="ordered")``), except values of different names (``AB = 4, CD = 5``), which
match by name or in order; sets ignore order and repetition; tuples, intervals and
matrices compare element by element with their brackets; inequalities in one variable compare as the
intervals they describe; other equations compare as equations (``2x - y + 1 = 0`` equals ``y = 2x+1``).
Decimals: two exact values must be equal; a gold decimal with k >= 2 places accepts an irrational value
that rounds to it (``3.14`` accepts ``\\pi``); a predicted decimal with k >= 6 places is accepted for a
gold value it rounds (``0.333333`` for ``\\frac{1}{3}``). Percentages follow ``MathPolicy.percent``.
"""

from __future__ import annotations

import cmath
import random
import zlib
from fractions import Fraction
from typing import Any

from verifiers.math.extraction import extract_gold
from verifiers.math.latex import LatexError, TooLarge, parse_latex
from verifiers.math.normalize import answer_key, clean, decimal_points
from verifiers.math.numbers import PlainNumber, plain_number
from verifiers.math.policy import DEFAULT_POLICY, MathPolicy
from verifiers.math.structure import (
    Answer,
    EmptySet,
    Items,
    Matrix,
    Relation,
    Scalar,
    StructureError,
    Text,
    Union,
    assigned_value,
    choice_letter,
    is_variable,
    parse_answer,
    stated_side,
)
from verifiers.math.verdict import EQUIVALENT, NOT_EQUAL, UNPARSEABLE_GOLD, Reason

__all__ = ["ExactJudge", "GoldUnreadable", "NeedsSympy", "SympyJudge", "answers_equal", "compare", "decide_fast"]

#: A predicted decimal needs this many places to be accepted for a value it only approximates.
PRED_DECIMAL_PLACES = 6
#: A gold decimal needs this many places to accept an irrational value that rounds to it.
GOLD_DECIMAL_PLACES = 2
#: Relative tolerance between two evaluations of equal expressions (30-digit arithmetic).
REL_TOL = 1e-15
_INFINITIES = {"\\infty", "+\\infty", "-\\infty", "\\infinity", "infinity", "-infinity", "oo", "-oo", "inf", "-inf"}


class NeedsSympy(Exception):
    """The exact judge cannot decide this pair; a :class:`SympyJudge` must."""


class GoldUnreadable(Exception):
    """The gold answer cannot be interpreted."""


# ==================================================================================================
# Plain numbers (shared by both judges)
# ==================================================================================================


def _readings(value: Fraction, own_percent: bool, other_percent: bool, policy: MathPolicy) -> list[Fraction]:
    if not own_percent or other_percent:
        return [value]
    if policy.percent == "either":
        return [value, value / 100]
    return [value] if policy.percent == "number" else [value / 100]


def _percent_scales(own_percent: bool, other_percent: bool, policy: MathPolicy) -> list[Fraction]:
    """Factors by which a value is read: ``[1]``, ``[1/100]`` or both (see :class:`MathPolicy`)."""
    return _readings(Fraction(1), own_percent, other_percent, policy)


def _rounds_to(exact: Any, decimal: Any, places: int) -> bool:
    """Whether ``exact`` rounds to ``decimal`` at ``places`` decimals (half a unit in the last place)."""
    return abs(exact - decimal) <= Fraction(1, 2 * 10**places) * (1 + Fraction(1, 10**12))


def numbers_equal(gold: PlainNumber, pred: PlainNumber, gold_pct: bool, pred_pct: bool, policy: MathPolicy) -> bool:
    """Exact comparison of two plain numbers under the percent policy and the decimal rule."""
    golds = _readings(gold.value, gold_pct, pred_pct, policy)
    preds = _readings(pred.value, pred_pct, gold_pct, policy)
    if any(g == p for g in golds for p in preds):
        return True
    if gold_pct == pred_pct and pred.places is not None and pred.places >= PRED_DECIMAL_PLACES and gold.places is None:
        return _rounds_to(gold.value, pred.value, pred.places)
    return False


# ==================================================================================================
# Judges
# ==================================================================================================


class ExactJudge:
    """Plain numbers only, no sympy; raises :class:`NeedsSympy` for anything else."""

    def __init__(self, policy: MathPolicy = DEFAULT_POLICY):
        self.policy = policy

    def check_gold(self, gold: Answer) -> None:
        """Only golds made of plain numbers, words and lists of them are decided here."""
        for leaf in _leaves(gold):
            if isinstance(leaf, Relation) or (isinstance(leaf, Scalar) and _plain(leaf) is None):
                raise NeedsSympy

    def scalar_equal(self, gold: Scalar, pred: Scalar) -> bool:
        if answer_key(gold.text) == answer_key(pred.text) and gold.percent == pred.percent:
            return True
        g, p = _plain(gold), _plain(pred)
        if g is None or p is None:
            raise NeedsSympy
        return numbers_equal(g, p, gold.percent, pred.percent, self.policy)

    def relation_equal(self, gold: Relation, pred: Relation) -> bool:
        raise NeedsSympy


def _plain(scalar: Scalar) -> PlainNumber | None:
    return plain_number(scalar.text)


def _leaves(answer: Answer) -> list[Answer]:
    if isinstance(answer, Items):
        return [leaf for item in answer.items for leaf in _leaves(item)]
    if isinstance(answer, Union):
        return [leaf for part in answer.parts for leaf in _leaves(part)]
    if isinstance(answer, Matrix):
        return [leaf for row in answer.rows for cell in row for leaf in _leaves(cell)]
    return [answer]


class SympyJudge:
    """Full comparison with sympy (call it in a worker with a time limit)."""

    def __init__(self, policy: MathPolicy = DEFAULT_POLICY, *, seed: int = 0):
        import sympy

        self.sp = sympy
        self.policy = policy
        self.seed = seed  # for the random test points; derived from the answer texts, so verdicts are repeatable

    def check_gold(self, gold: Answer) -> None:
        """Raise :class:`GoldUnreadable` if a scalar of the gold, the value an equation states
        (``\\angle ABC = 45`` states ``45``) or a side of any other relation cannot be parsed."""
        for leaf in _leaves(gold):
            if isinstance(leaf, Scalar):
                self.value(leaf.text, gold=True)
            elif isinstance(leaf, Relation):
                stated = stated_side(leaf)
                for side in leaf.sides if stated is None else (stated,):
                    if not is_variable(side):
                        self.check_gold(parse_answer(side, 1))

    def value(self, text: str, *, gold: bool) -> Any | None:
        """sympy value of a scalar; ``None`` for an unreadable prediction, :class:`GoldUnreadable` for a gold."""
        plain = plain_number(text)
        if plain is not None:  # "1,000" and "1.5e-3" are plain numbers, not for the LaTeX parser
            return self.sp.Rational(plain.value.numerator, plain.value.denominator)
        try:
            value = parse_latex(text)
        except (LatexError, TooLarge):
            if gold:
                raise GoldUnreadable(text) from None
            return None
        if value.has(self.sp.nan, self.sp.zoo):
            if gold:
                raise GoldUnreadable(text)
            return None
        return value

    # -- scalars ---------------------------------------------------------------------------------------

    def scalar_equal(self, gold: Scalar, pred: Scalar) -> bool:
        if answer_key(gold.text) == answer_key(pred.text) and gold.percent == pred.percent:
            return True
        g_plain, p_plain = _plain(gold), _plain(pred)
        if g_plain is not None and p_plain is not None:
            return numbers_equal(g_plain, p_plain, gold.percent, pred.percent, self.policy)
        g = self.value(gold.text, gold=True)
        p = self.value(pred.text, gold=False)
        if p is None:
            return False
        golds = [g * self.sp.Rational(f.numerator, f.denominator) for f in _percent_scales(gold.percent, pred.percent, self.policy)]
        preds = [p * self.sp.Rational(f.numerator, f.denominator) for f in _percent_scales(pred.percent, gold.percent, self.policy)]
        g_places = g_plain.places if g_plain is not None and gold.percent == pred.percent else None
        p_places = p_plain.places if p_plain is not None and gold.percent == pred.percent else None
        return any(self.expr_equal(a, b, g_places, p_places) for a in golds for b in preds)

    def expr_equal(self, gold: Any, pred: Any, gold_places: int | None = None, pred_places: int | None = None) -> bool:
        """Equality of two sympy values, with the decimal rules of the module docstring."""
        sp = self.sp
        if gold == pred:
            return True
        if gold.is_Rational and pred.is_Rational:
            if pred_places is not None and pred_places >= PRED_DECIMAL_PLACES and gold_places is None:
                return _rounds_to(Fraction(int(gold.p), int(gold.q)), Fraction(int(pred.p), int(pred.q)), pred_places)
            return False
        if gold.has(sp.oo, -sp.oo) or pred.has(sp.oo, -sp.oo):
            return bool(sp.simplify(gold - pred) == 0) if gold.free_symbols or pred.free_symbols else False
        symbols = gold.free_symbols | pred.free_symbols
        if symbols:
            return self.functions_equal(gold, pred, symbols)
        a, b = _numeric(gold), _numeric(pred)
        if a is None or b is None:
            return False
        if _close(a, b):
            return True
        if a.imag == 0 and b.imag == 0:
            if gold_places is not None and gold_places >= GOLD_DECIMAL_PLACES and pred_places is None:
                return not pred.is_Rational and abs(a.real - b.real) <= 0.5 * 10.0**-gold_places * (1 + 1e-9)
            if pred_places is not None and pred_places >= PRED_DECIMAL_PLACES and gold_places is None:
                return abs(a.real - b.real) <= 0.5 * 10.0**-pred_places * (1 + 1e-9)
        return False

    def functions_equal(self, gold: Any, pred: Any, symbols: set[Any]) -> bool:
        """Equal as functions: compared at six random points (three with all variables positive, three
        with random signs) in 30-digit arithmetic.

        A point counts only where both sides are finite and (unless either side mentions ``i``) real, so
        ``\\sqrt{1/n}`` equals ``1/\\sqrt{n}`` (they agree wherever both are real) while ``|x|`` differs from
        ``x``. One counted disagreement means different; three agreements mean equal; with fewer (the
        sides are rarely defined), ``simplify(gold - pred) == 0`` decides.
        """
        sp = self.sp
        ordered = sorted(symbols, key=str)
        rng = random.Random(self.seed)
        allow_complex = gold.has(sp.I) or pred.has(sp.I)
        counted = 0
        for k in range(6):
            point = {}
            for s in ordered:
                sign = 1 if k % 2 == 0 else rng.choice((-1, 1))
                if k % 2 == 1 and len(ordered) == 1:
                    sign = -1
                point[s] = sp.Float(sign * rng.uniform(0.3, 2.7), 30)
            a, b = _numeric(gold, point), _numeric(pred, point)
            if a is None or b is None:
                continue
            if not allow_complex and (abs(a.imag) > 1e-20 * max(1.0, abs(a)) or abs(b.imag) > 1e-20 * max(1.0, abs(b))):
                continue
            if not _close(a, b, 1e-12):
                return False
            counted += 1
        if counted >= 3:
            return True
        try:
            return bool(sp.simplify(gold - pred) == 0)
        except Exception:  # noqa: BLE001 - sympy raises many types on odd input; odd means "not shown equal"
            return False

    # -- relations ---------------------------------------------------------------------------------------

    def relation_equal(self, gold: Relation, pred: Relation) -> bool:
        """Equations equal up to a non-zero factor, inequalities up to a positive one, sides swapped allowed."""
        if len(gold.sides) != 2 or len(pred.sides) != 2:
            if gold.ops != pred.ops or len(gold.sides) != len(pred.sides):
                return False
            return all(self._side_equal(g, p) for g, p in zip(gold.sides, pred.sides, strict=False))
        g_op, g_expr = self._oriented(gold, gold=True)
        p_op, p_expr = self._oriented(pred, gold=False)
        if p_expr is None or g_op != p_op:
            return False
        return self._proportional(g_expr, p_expr, positive=g_op not in ("=", "\\ne"))

    def _side_equal(self, gold: str, pred: str) -> bool:
        g, p = self.value(gold, gold=True), self.value(pred, gold=False)
        return p is not None and self.expr_equal(g, p)

    def _oriented(self, relation: Relation, *, gold: bool) -> tuple[str, Any | None]:
        """``(op, lhs - rhs)`` with ``<``/``\\le`` turned into ``>``/``\\ge`` by swapping the sides."""
        lhs, rhs = (self.value(side, gold=gold) for side in relation.sides)
        if lhs is None or rhs is None:
            return relation.ops[0], None
        op = relation.ops[0]
        if op in ("<", "\\le"):
            return (">" if op == "<" else "\\ge"), rhs - lhs
        return op, lhs - rhs

    def _proportional(self, gold: Any, pred: Any, *, positive: bool) -> bool:
        sp = self.sp
        symbols = sorted(gold.free_symbols | pred.free_symbols, key=str)
        if not symbols:
            return False
        rng = random.Random(self.seed + 1)
        ratios = []
        for _ in range(6):
            point = {s: sp.Float(rng.choice((-1, 1)) * rng.uniform(0.3, 2.7), 30) for s in symbols}
            a, b = _numeric(gold, point), _numeric(pred, point)
            if a is None or b is None or abs(b) < 1e-25 or abs(a) < 1e-25:
                continue
            ratios.append(a / b)
        if len(ratios) < 3:
            return False
        first = ratios[0]
        if positive and (abs(first.imag) > 1e-12 or first.real <= 0):
            return False
        return all(_close(r, first, 1e-10) for r in ratios)


def _numeric(expr: Any, point: dict[Any, Any] | None = None) -> complex | None:
    """``expr`` (with ``point`` substituted) evaluated to a finite complex number at 30 digits, or ``None``."""
    try:
        value = complex((expr.xreplace(point) if point else expr).evalf(30))
    except (Exception, MemoryError):  # noqa: BLE001 - symbols left, undefined values, overflow, huge powers
        return None
    if not cmath.isfinite(value):
        return None
    return value


def _close(a: complex, b: complex, rel: float = REL_TOL) -> bool:
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


# ==================================================================================================
# Structural comparison (shared)
# ==================================================================================================

Judge = Any  # ExactJudge | SympyJudge


def _is_infinite(s: Scalar) -> bool:
    return s.text.replace(" ", "") in _INFINITIES


Interval = tuple[Scalar, bool, Scalar, bool]


def _joined_intervals(parts: list[list[Interval] | None]) -> list[Interval] | None:
    """The intervals of all parts together; ``None`` if one part describes none."""
    joined: list[Interval] = []
    for part in parts:
        if part is None:
            return None
        joined.extend(part)
    return joined


def _to_intervals(answer: Answer) -> list[Interval] | None:
    """The intervals an answer describes (inequalities in one variable, intervals, unions), or ``None``."""
    if isinstance(answer, EmptySet):
        return []
    if isinstance(answer, Union):
        return _joined_intervals([_to_intervals(p) for p in answer.parts])
    if isinstance(answer, Items):
        if answer.kind == "tuple" and len(answer.items) == 2 and answer.open in "([" and answer.close in ")]":
            lo, hi = answer.items
            if isinstance(lo, Scalar) and isinstance(hi, Scalar):
                return [(lo, answer.open == "[", hi, answer.close == "]")]
            return None
        if answer.kind == "list" and answer.joiner in (",", "or", ";"):
            return _joined_intervals([_to_intervals(a) if isinstance(a, Relation) else None for a in answer.items])
        return None
    if isinstance(answer, Relation):
        return _inequality_intervals(answer)
    return None


def _inequality_intervals(rel: Relation) -> list[Interval] | None:
    if "=" in rel.ops:
        return None
    variables = [i for i, side in enumerate(rel.sides) if is_variable(side) and not side.strip().startswith("(")]
    if len(variables) != 1:
        return None
    v = variables[0]
    name = rel.sides[v].strip()
    if any(name in side for i, side in enumerate(rel.sides) if i != v):
        return None
    neg, pos = Scalar("-\\infty"), Scalar("\\infty")
    if rel.ops == ("\\ne",):
        c = Scalar(rel.sides[1 - v])
        return [(neg, False, c, False), (c, False, pos, False)]
    if "\\ne" in rel.ops:
        return None
    lo: tuple[Scalar, bool] = (neg, False)
    hi: tuple[Scalar, bool] = (pos, False)
    for i, op in enumerate(rel.ops):
        left, right = i, i + 1
        if v not in (left, right):
            continue
        other = Scalar(rel.sides[right if left == v else left])
        strict = op in ("<", ">")
        # normalise to "variable OP other"
        var_less = (op in ("<", "\\le")) == (left == v)
        if var_less:
            hi = (other, not strict)
        else:
            lo = (other, not strict)
    return [(lo[0], lo[1], hi[0], hi[1])]


def _intervals_equal(gold: list, pred: list, judge: Judge) -> bool:
    def same(g: tuple, p: tuple) -> bool:
        (glo, glc, ghi, ghc), (plo, plc, phi, phc) = g, p
        if not _is_infinite(glo) and glc != plc:
            return False
        if not _is_infinite(ghi) and ghc != phc:
            return False
        return _scalars(glo, plo, judge) and _scalars(ghi, phi, judge)

    if len(gold) != len(pred):
        return False
    return _matches(gold, pred, same)


def _scalars(gold: Scalar, pred: Scalar, judge: Judge) -> bool:
    if _is_infinite(gold) or _is_infinite(pred):
        def sign(s: Scalar) -> int:
            return -1 if s.text.replace(" ", "").startswith("-") else 1

        return _is_infinite(gold) and _is_infinite(pred) and sign(gold) == sign(pred)
    return judge.scalar_equal(gold, pred)


def _matches(gold: list, pred: list, same: Any) -> bool:
    """Set equality under ``same``: every gold element has an equal prediction element and vice versa."""
    matched = [False] * len(pred)
    for g in gold:
        # prefer a prediction element not matched yet; repeated elements may share one
        hit = next((j for j, p in enumerate(pred) if not matched[j] and same(g, p)), None)
        if hit is None:
            hit = next((j for j, p in enumerate(pred) if matched[j] and same(g, p)), None)
        if hit is None:
            return False
        matched[hit] = True
    return all(m or any(same(g, p) for g in gold) for p, m in zip(pred, matched, strict=False))


def _vector(matrix: Matrix) -> list[Answer] | None:
    if len(matrix.rows) == 1:
        return list(matrix.rows[0])
    if all(len(row) == 1 for row in matrix.rows):
        return [row[0] for row in matrix.rows]
    return None


def _bracket(open_: str) -> str:
    return "(" if open_ == "\\langle" else open_


def equal(gold: Answer, pred: Answer, judge: Judge, policy: MathPolicy) -> bool:
    """Whether ``pred`` states the same answer as ``gold`` (see the module docstring)."""
    if isinstance(gold, Text) or isinstance(pred, Text):
        return isinstance(gold, Text) and isinstance(pred, Text) and gold.text == pred.text

    if isinstance(gold, Relation) or isinstance(pred, Relation):
        return _relations(gold, pred, judge, policy)

    if isinstance(gold, Union) or isinstance(pred, Union):
        g, p = _to_intervals(gold), _to_intervals(pred)
        return g is not None and p is not None and _intervals_equal(g, p, judge)

    if isinstance(gold, EmptySet) or isinstance(pred, EmptySet):
        return isinstance(gold, EmptySet) and isinstance(pred, EmptySet)

    if isinstance(gold, Matrix):
        if isinstance(pred, Matrix):
            if [len(r) for r in gold.rows] != [len(r) for r in pred.rows]:
                return False
            cells = (cell for gr, pr in zip(gold.rows, pred.rows, strict=False) for cell in zip(gr, pr, strict=False))
            return all(equal(g, p, judge, policy) for g, p in cells)
        vector = _vector(gold)
        if vector is not None and isinstance(pred, Items) and pred.kind == "tuple" and _bracket(pred.open) == "(":
            return _sequence(vector, list(pred.items), judge, policy)
        return False

    if isinstance(gold, Items):
        return _items(gold, pred, judge, policy)

    # gold is a Scalar
    if isinstance(pred, Items):
        if pred.kind in ("set", "list") and len(pred.items) == 1:
            return equal(gold, pred.items[0], judge, policy)
        if pred.kind == "list":  # "x = 3, 3": the same value stated twice
            return all(equal(gold, p, judge, policy) for p in pred.items)
        return False
    if isinstance(pred, Scalar):
        return _scalars(gold, pred, judge)
    return False


def _sequence(gold: list[Answer], pred: list[Answer], judge: Judge, policy: MathPolicy) -> bool:
    return len(gold) == len(pred) and all(equal(g, p, judge, policy) for g, p in zip(gold, pred, strict=False))


def _unordered(gold: list[Answer], pred: list[Answer], judge: Judge, policy: MathPolicy) -> bool:
    return _matches(gold, pred, lambda g, p: equal(g, p, judge, policy))


def _named(answer: Answer) -> dict[str, Answer] | None:
    """``{"AB": 4, "CD": 5}`` for a list of assignments to distinct names (``AB = 4, CD = 5``), else ``None``."""
    if not (isinstance(answer, Items) and answer.kind == "list"):
        return None
    names: dict[str, Answer] = {}
    for item in answer.items:
        if not (isinstance(item, Relation) and item.ops == ("=",) and is_variable(item.sides[0])):
            return None
        names[item.sides[0].replace(" ", "")] = assigned_value(item)
    return names if len(names) == len(answer.items) else None


def _items(gold: Items, pred: Answer, judge: Judge, policy: MathPolicy) -> bool:
    gold_named = _named(gold)
    if gold_named is not None:  # values of different quantities: matched by name, or else in order
        pred_named = _named(pred)
        if pred_named is not None:
            return pred_named.keys() == gold_named.keys() and all(
                equal(gold_named[k], pred_named[k], judge, policy) for k in gold_named
            )
        pred = assigned_value(pred)
        return isinstance(pred, Items) and _sequence(list(gold_named.values()), list(pred.items), judge, policy)
    pred = assigned_value(pred)
    if gold.kind == "tuple":
        if isinstance(pred, Items):
            if pred.kind == "tuple":
                same_brackets = (_bracket(gold.open), gold.close) == (_bracket(pred.open), pred.close) or (
                    gold.open == "\\langle" and pred.open == "("
                )
                return same_brackets and _sequence(list(gold.items), list(pred.items), judge, policy)
            if pred.kind == "list" and _bracket(gold.open) == "(" and gold.close in (")", "\\rangle"):
                return _sequence(list(gold.items), list(pred.items), judge, policy)
            return False
        if isinstance(pred, Matrix):
            vector = _vector(pred)
            return vector is not None and _bracket(gold.open) == "(" and _sequence(list(gold.items), vector, judge, policy)
        return False
    # a set or a bare list
    if isinstance(pred, Items) and pred.kind in ("set", "list"):
        if gold.kind == "list" and pred.kind == "list" and policy.lists == "ordered":
            return _sequence(list(gold.items), list(pred.items), judge, policy)
        return _unordered(list(gold.items), list(pred.items), judge, policy)
    if len(gold.items) == 1:
        return equal(gold.items[0], pred, judge, policy)
    return False


def _scalar_sides(relation: Relation) -> bool:
    return all(isinstance(parse_answer(side, 1), Scalar) for side in relation.sides)


def _relations(gold: Answer, pred: Answer, judge: Judge, policy: MathPolicy) -> bool:
    g_int, p_int = _to_intervals(gold), _to_intervals(pred)
    inequality = any(isinstance(a, Relation) and "=" not in a.ops for a in (gold, pred))
    if inequality and g_int is not None and p_int is not None:
        return _intervals_equal(g_int, p_int, judge)
    g_val, p_val = assigned_value(gold), assigned_value(pred)
    if isinstance(gold, Relation) and isinstance(pred, Relation):
        if g_val is not gold and p_val is not pred:
            return equal(g_val, p_val, judge, policy)
        if not (_scalar_sides(gold) and _scalar_sides(pred)):
            return False  # e.g. "x = \pm 2" against "x^2 = 4": a solved and an unsolved equation
        return judge.relation_equal(gold, pred)
    if isinstance(gold, Relation):
        return g_val is not gold and equal(g_val, pred, judge, policy)
    return p_val is not pred and equal(gold, p_val, judge, policy)


# ==================================================================================================
# Entry points
# ==================================================================================================


def judge_texts(pred: str, gold: str, judge: Judge, policy: MathPolicy) -> bool:
    """Compare an extracted answer with a gold answer text using ``judge``."""
    if policy.decimal_comma:
        gold, pred = decimal_points(gold), decimal_points(pred)
    gold_clean, pred_clean = clean(gold), clean(pred)
    if not gold_clean:
        raise GoldUnreadable(gold)
    if answer_key(gold_clean) == answer_key(pred_clean):
        return True
    letter = choice_letter(gold_clean, gold=True)
    if letter is not None:
        return choice_letter(pred_clean, gold=False) == letter
    try:
        gold_answer = parse_answer(gold_clean)
    except StructureError:
        raise GoldUnreadable(gold) from None
    judge.check_gold(gold_answer)
    try:
        pred_answer = parse_answer(pred_clean)
    except StructureError:
        return False
    return equal(gold_answer, pred_answer, judge, policy)


def compare(pred: str, gold: Any, policy: MathPolicy = DEFAULT_POLICY) -> Reason:
    """Judge an extracted answer against a gold answer (see :func:`~verifiers.math.extract_gold`) with sympy,
    in this process, with no time limit: ``"equivalent"``, ``"not equal"`` or ``"unparseable gold"``. Run it in a worker for untrusted
    input (``MemoryError`` and ``RecursionError`` may escape, and the worker reports them as errors)."""
    gold_text = extract_gold(gold)
    if gold_text is None:
        return UNPARSEABLE_GOLD
    judge = SympyJudge(policy, seed=zlib.crc32(f"{pred}\x00{gold_text}".encode()))
    try:
        return EQUIVALENT if judge_texts(pred, gold_text, judge, policy) else NOT_EQUAL
    except GoldUnreadable:
        return UNPARSEABLE_GOLD


def decide_fast(pred: str, gold: str, policy: MathPolicy = DEFAULT_POLICY) -> Reason | None:
    """The verdict when plain-number arithmetic settles it (no sympy, safe in the trainer), else ``None``."""
    try:
        return EQUIVALENT if judge_texts(pred, gold, ExactJudge(policy), policy) else NOT_EQUAL
    except GoldUnreadable:
        return UNPARSEABLE_GOLD
    except NeedsSympy:
        return None
    except Exception:  # noqa: BLE001 - let the worker decide, and report, anything unexpected
        return None


def answers_equal(pred: str, gold: str, policy: MathPolicy = DEFAULT_POLICY) -> bool:
    """Whether two answer texts are equivalent; in this process, no time limit, never raises."""
    try:
        return compare(pred, gold, policy) == EQUIVALENT
    except Exception:  # noqa: BLE001 - including RecursionError on hostile input
        return False

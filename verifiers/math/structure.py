"""Structure: what kind of answer a cleaned text is, before any value is computed.

:func:`parse_answer` turns the output of :func:`verifiers.math.normalize.clean` into a small tree:

* :class:`Scalar` - one expression (``3``, ``\\frac{\\sqrt3}{2}``, ``x^2+1``), possibly with a percent sign;
* :class:`Text` - a word answer (``Monday``, ``no solution``), compared without case, spaces or punctuation;
* :class:`Items` - a bare list (``2, 3``, ``2 or 3``), a set (``\\{2, 3\\}``) or a bracketed tuple, point,
  vector or interval (``(1, 2)``, ``[0, 1)``, ``\\langle 1, 2\\rangle``);
* :class:`Relation` - an equation, inequality or chain (``x = 3``, ``y = 2x+1``, ``1 < x \\le 5``);
* :class:`Union` - ``A \\cup B``; :class:`Matrix` - ``\\begin{pmatrix}...\\end{pmatrix}``; :class:`EmptySet`.

``a \\pm b`` becomes the set ``{a+b, a-b}``; ``x \\in S`` becomes ``S``; ``a \\approx b`` becomes ``a``; units
after a number (``5 cm``, ``12 apples``) are dropped; a sum, difference or product of matrices written out
(``A + B``, ``2A``, ``AB``) becomes the matrix of its cells as expressions (``(1) + (5)``), left for the
judges to evaluate. A ``pmatrix``, ``bmatrix``, ``Bmatrix``, ``matrix`` or ``array`` is a matrix; a
``vmatrix`` is a determinant, not one. This is pure string work on text bounded by ``MAX_ANSWER_CHARS``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal
from typing import Union as TypingUnion

__all__ = [
    "Answer",
    "EmptySet",
    "Items",
    "Matrix",
    "Relation",
    "Scalar",
    "Text",
    "Union",
    "assigned_value",
    "choice_letter",
    "is_variable",
    "parse_answer",
    "stated_side",
]

#: Answers longer than this are not interpreted (they are compared only by their exact text).
MAX_ANSWER_CHARS = 1000
#: The most elements a list, set or tuple may have.
MAX_ITEMS = 64
_MAX_NESTING = 6


@dataclass(frozen=True)
class Scalar:
    """One expression, as cleaned text; ``percent`` if it was written with a percent sign."""

    text: str
    percent: bool = False


@dataclass(frozen=True)
class Text:
    """A word answer, casefolded, without spaces or punctuation."""

    text: str


@dataclass(frozen=True)
class Items:
    """A bare list (``kind="list"``), a set, or a bracketed tuple/interval with its brackets."""

    kind: Literal["list", "set", "tuple"]
    items: tuple[Answer, ...]
    open: str = ""
    close: str = ""
    joiner: str = ","


@dataclass(frozen=True)
class Relation:
    """``sides[0] ops[0] sides[1] ops[1] ...``; ops are ``=``, ``<``, ``>``, ``\\le``, ``\\ge``, ``\\ne``."""

    sides: tuple[str, ...]
    ops: tuple[str, ...]


@dataclass(frozen=True)
class Union:
    """``parts[0] \\cup parts[1] ...``."""

    parts: tuple[Answer, ...]


@dataclass(frozen=True)
class Matrix:
    """Rows of cells."""

    rows: tuple[tuple[Answer, ...], ...]


@dataclass(frozen=True)
class EmptySet:
    """``\\emptyset``, ``\\varnothing``, ``\\{\\}``."""


Answer = TypingUnion[Scalar, Text, Items, Relation, Union, Matrix, EmptySet]  # noqa: UP007 - runtime alias


class StructureError(ValueError):
    """The answer is too long or too deeply nested to interpret."""


# --------------------------------------------------------------------------------------------------
# Scanning at nesting depth zero
# --------------------------------------------------------------------------------------------------

_OPENERS = ("\\{", "\\langle", "\\begin", "(", "[", "{")
_CLOSERS = ("\\}", "\\rangle", "\\end", ")", "]", "}")
_RELATION_OPS = (("\\le", "\\le"), ("\\ge", "\\ge"), ("\\ne", "\\ne"), ("=", "="), ("<", "<"), (">", ">"))
_WORD_SEPARATORS = (" or ", " and ")
_MATH_WORDS = {
    "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "arccot", "arcsec", "arccsc", "sinh", "cosh",
    "tanh", "coth",
    "log", "ln", "lg", "exp", "sqrt", "pi", "inf", "infty", "infinity", "abs", "cr", "frac", "cdot", "times",
}  # fmt: skip


_SCAN_TOKEN = re.compile(r"\\(?:[A-Za-z]+|.)|.", re.DOTALL)
_OPEN_SET = frozenset(_OPENERS)
_CLOSE_SET = frozenset(_CLOSERS)


def _scan(s: str) -> Iterator[tuple[int, int, str]]:
    """Yield ``(index, depth, token)`` for every character or command, with the bracket depth outside it.

    Openers are ``( [ { \\{ \\langle \\begin``, closers their counterparts; brackets of different kinds may
    close each other, so the half-open interval ``(0, 1]`` is one group.
    """
    depth = 0
    for m in _SCAN_TOKEN.finditer(s):
        token = m.group(0)
        if token in _CLOSE_SET:
            depth -= 1
        yield m.start(), depth, token
        if token in _OPEN_SET:
            depth += 1


def _word_at(s: str, i: int, word: str) -> bool:
    """``word`` starts at ``i`` (or ``i + 1`` after a space) with no letter or backslash around it."""
    if s[i] == " ":
        i += 1
    end = i + len(word)
    if not s.startswith(word, i) or (end < len(s) and s[end].isalpha()):
        return False
    return i == 0 or not (s[i - 1].isalpha() or s[i - 1] == "\\")


def _split_top(s: str, separators: tuple[str, ...]) -> tuple[list[str], str]:
    """Split ``s`` at depth-zero occurrences of ``separators``; also returns the first separator used."""
    parts: list[str] = []
    start = 0
    used = ""
    for i, depth, token in _scan(s):
        if depth != 0 or i < start:
            continue
        for sep in separators:
            if token == sep:
                end = i + len(sep)
            elif sep.startswith(" ") and _word_at(s, i, sep.strip()):
                end = i + (s[i] == " ") + len(sep.strip())
            else:
                continue
            parts.append(s[start:i])
            start = end
            used = used or sep.strip()
            break
    parts.append(s[start:])
    return [p.strip() for p in parts], used


def _enclosed(s: str) -> tuple[str, str, str] | None:
    """``(open, close, inner)`` when one bracket pair encloses all of ``s``."""
    first_close = None
    for i, depth, token in _scan(s):
        if i == 0 and (token not in _OPEN_SET or token == "\\begin"):
            return None
        if depth == 0 and token in _CLOSERS:
            first_close = (i, token)
            break
    if first_close is None:
        return None
    i, closer = first_close
    if i + len(closer) != len(s):
        return None
    opener = next(o for o in _OPENERS if s.startswith(o))
    return opener, closer, s[len(opener) : i].strip()


# --------------------------------------------------------------------------------------------------
# Pieces
# --------------------------------------------------------------------------------------------------

_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_MATRIX = re.compile(r"\\begin\{(?P<env>[pbB]?matrix|smallmatrix|array)\}(?:\{[^{}]*\})?(?P<body>.*)\\end\{(?P=env)\}", re.DOTALL)
# one matrix of several in a computation ("A + B", "2A", "AB"); arrays are only read as a whole answer
_MATRIX_ENV = re.compile(r"\\begin\{(?P<env>[pbB]?matrix|smallmatrix)\}(?P<body>.*?)\\end\{(?P=env)\}", re.DOTALL)
_PRODUCT_OPS = ("", "\\cdot", "\\times", "*")
#: The longest cell, and the most characters in all cells, a matrix computation may write out (a product
#: of products grows geometrically, an outer product of two long vectors quadratically).
MAX_COMPUTED_CELL_CHARS = 400
MAX_COMPUTED_CHARS = 20_000
_GREEK = (
    "alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|vartheta|iota|kappa|lambda|mu|nu|xi|rho|sigma|tau|"
    "upsilon|phi|varphi|chi|psi|omega|Gamma|Delta|Theta|Lambda|Xi|Sigma|Phi|Psi|Omega"
)
_VARIABLE = re.compile(rf"(?:[A-Za-z]|\\(?:{_GREEK})(?![A-Za-z]))(?:_\{{?[A-Za-z0-9]+\}}?)?'*(?:\^\{{?-1\}}?)?(?:\s*\([^()=]{{1,40}}\))?")
_SEGMENT = re.compile(r"[A-Z]{2,3}")
_NAME_SUBSCRIPT = re.compile(r"(?<![A-Za-z\\])([A-Za-z])_(?:\{[^{}]*\}|[A-Za-z0-9])")
_NAMING = re.compile(r"[A-Z]|/|\\(?:frac|angle|measuredangle|triangle|overline|widehat|sin|cos|tan|cot|sec|csc)(?![A-Za-z])")
_RATIO = re.compile(r"([^:]+):([^:]+)")
_UNITS = re.compile(
    r"(?P<value>.*?(?:\d|\}|\)|\\pi|\\infty))\s+"
    r"(?P<units>(?:[A-Za-z]{2,}(?![A-Za-z])\.?(?:\s*\^\s*\{?[23]\}?)?(?:\s*/\s*[A-Za-z]+(?![A-Za-z]))?\s*)+)"
)
# "C", "(C)", "C)", "C.", optionally followed by the option's text ("(C) 12"); not "C = 5"
_CHOICE_GOLD = re.compile(r"\(([A-J])\)(?:\s.*)?|([A-J])(?:[.)](?:\s.*)?)?", re.DOTALL)
_CHOICE_PRED = re.compile(
    r"(?:(?:option|choice|answer)\s*:?\s*)?(?:\(([A-Ja-j])\)(?:[.:]?\s.*)?|([A-Ja-j])(?:[.:)](?:\s.*)?)?)",
    re.DOTALL | re.IGNORECASE,
)
_EMPTY = {"\\emptyset", "\\{\\}", "\\{ \\}", "{}"}
_REALS = {"\\mathbb{R}", "\\mathbb R", "(-\\infty,\\infty)"}


def is_variable(text: str) -> bool:
    """Whether ``text`` names a quantity: ``x``, ``x_1``, ``\\theta``, ``f(x)``, ``f^{-1}(x)``, a segment
    ``AB`` or its length ``|AB|``, a ratio of such names ``V_1:V_2``, or a tuple of names ``(x, y)``."""
    s = text.strip()
    inner = _enclosed(s)
    if inner is not None and inner[0] == "(":
        parts, _ = _split_top(inner[2], (",",))
        return len(parts) > 1 and all(_VARIABLE.fullmatch(p) for p in parts)
    if len(s) > 2 and s[0] == s[-1] == "|":
        s = s[1:-1].strip()
    names = [n.strip() for n in s.split(":")]
    return all((_VARIABLE.fullmatch(n) is not None or _SEGMENT.fullmatch(n) is not None) and n not in ("e", "i") for n in names)


def _is_numeric(text: str) -> bool:
    """No letters outside commands: a computation such as ``\\frac{6}{2}``."""
    return re.search(r"[A-Za-z]", re.sub(r"\\[A-Za-z]+", "", text)) is None


def choice_letter(text: str, *, gold: bool) -> str | None:
    """The multiple-choice letter of ``text`` (``C``, ``(C)``, ``(C) 12``...), upper-cased, or ``None``.

    Gold letters must be upper-case A-J; predictions may also say ``option C``, ``(c)``.
    """
    s = text.strip()
    m = (_CHOICE_GOLD if gold else _CHOICE_PRED).fullmatch(s)
    if m is None:
        return None
    letter = m.group(1) or m.group(2)
    if not gold and letter.islower() and m.group(1) is None and len(s) != 1:  # "(c)" and "c", not "c. 12"
        return None
    return letter.upper()


def _text_key(s: str) -> str:
    return re.sub(r"[\s.,;:!?'\"`\-_{}()\\]", "", s).casefold()


def _is_text(s: str) -> bool:
    bare = re.sub(r"\\[A-Za-z]+", " ", s)
    words = re.findall(r"[A-Za-z]+", bare)
    if len(words) == 1 and words[0].casefold() in ("no", "ok") and _text_key(s) == words[0].casefold():
        return True
    return any(len(w) >= 3 and w.casefold() not in _MATH_WORDS for w in words)


def _strip_units(s: str) -> str:
    m = _UNITS.fullmatch(s)
    if m is None:
        return s
    words = re.findall(r"[A-Za-z]+", m.group("units"))
    if any(w.casefold() in _MATH_WORDS for w in words):
        return s
    return m.group("value").strip()


def _scalar(s: str) -> Answer:
    s = s.strip()
    if s.endswith("%"):
        return Scalar(s[:-1].strip(), percent=True)
    if re.fullmatch(r"[^%]*\s*(?:percent|per cent)", s, re.IGNORECASE):
        return Scalar(re.sub(r"\s*(?:percent|per cent)$", "", s, flags=re.IGNORECASE), percent=True)
    s = _strip_units(s)
    ratio = _RATIO.fullmatch(s)
    if ratio and _is_numeric(ratio.group(1)) and _is_numeric(ratio.group(2)):  # "7:32" is the fraction 7/32
        return Scalar(f"\\frac{{{ratio.group(1).strip()}}}{{{ratio.group(2).strip()}}}")
    if _is_text(s):
        return Text(_text_key(s))
    return Scalar(s)


Cells = list[list[str]]


def _cells(body: str) -> Cells:
    """The cell texts of a matrix body, row by row."""
    return [[cell.strip() for cell in row.split("&")] for row in re.split(r"\\cr(?![A-Za-z])", body) if row.strip()]


def _matrix(cells: Cells, depth: int) -> Matrix:
    if not cells or len(cells) > MAX_ITEMS or len(cells) * max(len(row) for row in cells) > MAX_ITEMS * MAX_ITEMS:
        raise StructureError("matrix too large")
    return Matrix(tuple(tuple(parse_answer(cell, depth + 1) for cell in row) for row in cells))


def _shape(cells: Cells) -> tuple[int, int] | None:
    """``(rows, columns)``; ``None`` for rows of different lengths."""
    widths = {len(row) for row in cells}
    return (len(cells), widths.pop()) if len(widths) == 1 else None


def _product(left: Cells, right: Cells) -> Cells | None:
    """The matrix product, each cell written out as a sum of products; ``None`` if the shapes do not fit."""
    a, b = _shape(left), _shape(right)
    if a is None or b is None or a[1] != b[0]:
        return None
    longest = max(len(cell) for row in left for cell in row) + max(len(cell) for row in right for cell in row)
    cell_chars = a[1] * (longest + 7)
    if cell_chars > MAX_COMPUTED_CELL_CHARS or a[0] * b[1] * cell_chars > MAX_COMPUTED_CHARS:
        return None  # checked before anything is written out
    return [[" + ".join(f"({left[i][k]})({right[k][j]})" for k in range(a[1])) for j in range(b[1])] for i in range(a[0])]


def _scaled(cells: Cells, factor: str) -> Cells:
    """Every cell multiplied by ``factor`` (``"-"``, ``"(2)"``, ``"-(2)"``), or unchanged for ``""``."""
    return [[f"{factor}({cell})" if factor else cell for cell in row] for row in cells]


def _matrix_sum(left: Cells, right: Cells) -> Cells | None:
    if _shape(left) is None or _shape(left) != _shape(right):
        return None
    return [[f"{a} + {b}" for a, b in zip(row_a, row_b, strict=True)] for row_a, row_b in zip(left, right, strict=True)]


def _signed_terms(skeleton: str) -> list[tuple[str, str]] | None:
    """``skeleton`` split at its top-level ``+`` and ``-``: ``(sign, term)`` pairs; ``None`` for a dangling sign."""
    terms: list[tuple[str, str]] = []
    sign, start = "", 0
    for i, depth, token in _scan(skeleton):
        if depth != 0 or token not in ("+", "-"):
            continue
        text = skeleton[start:i].strip()
        if text:
            terms.append((sign, text))
        elif terms or skeleton[:i].strip():
            return None  # "A + - B", "A -": an operator without an operand
        sign = "-" if token == "-" else ""
        start = i + 1
    last = skeleton[start:].strip()
    if not last:
        return None
    terms.append((sign, last))
    return terms


def _matrix_term(term: str, operands: Iterator[Cells]) -> Cells | None:
    """A term of a matrix computation: an optional numeric coefficient times a product of matrices
    (``\x00`` marks each matrix in ``term``; ``operands`` yields their cells in order)."""
    parts = term.split("\x00")
    if len(parts) < 2 or parts[-1].strip() or any(op.strip() not in _PRODUCT_OPS for op in parts[1:-1]):
        return None
    coefficient = re.sub(r"(?:\\cdot|\\times|\*)\s*$", "", parts[0].strip()).strip()
    if coefficient and not _is_numeric(coefficient):
        return None
    product: Cells | None = next(operands)
    for _ in range(len(parts) - 2):
        product = _product(product, next(operands)) if product is not None else None
    return _scaled(product, f"({coefficient})" if coefficient else "") if product is not None else None


def _matrix_arithmetic(s: str) -> Cells | None:
    """The cells of a sum, difference or product of matrices written out (``A + B``, ``A - B``, ``2A``,
    ``AB``, ``A \\cdot B``), each an expression for the judges to evaluate; ``None`` when ``s`` is one
    matrix, no matrix, or not such a computation (a variable coefficient, a power, shapes that do not fit,
    more text than :data:`MAX_COMPUTED_CELL_CHARS` and :data:`MAX_COMPUTED_CHARS` allow)."""
    matrices = list(_MATRIX_ENV.finditer(s))
    if not matrices or (len(matrices) == 1 and matrices[0].span() == (0, len(s))) or "\x00" in s:
        return None
    operands = iter([_cells(m.group("body")) for m in matrices])
    terms = _signed_terms(_MATRIX_ENV.sub("\x00", s))
    if terms is None:
        return None
    total: Cells | None = None
    for sign, term in terms:
        cells = _matrix_term(term, operands)
        if cells is None:
            return None
        cells = _scaled(cells, sign)
        total = cells if total is None else _matrix_sum(total, cells)
        lengths = [len(cell) for row in total for cell in row] if total is not None else []
        if not lengths or max(lengths) > MAX_COMPUTED_CELL_CHARS or sum(lengths) > MAX_COMPUTED_CHARS:
            return None
    return total


def _exact_part(s: str) -> str:
    """``a \\approx b`` states ``a`` (the approximation only repeats it); ``x \\approx 0.33``, where only an
    approximation is known, states ``x = 0.33``; ``\\approx 0.33`` states ``0.33``."""
    parts, _ = _split_top(s, ("\\approx",))
    if len(parts) == 1:
        return s
    head = parts[0]
    if not head:
        return parts[1]
    return f"{head} = {parts[1]}" if is_variable(head) else head


def _expand_pm(s: str) -> tuple[str, str] | None:
    m = re.search(r"\\(pm|mp)(?![A-Za-z])", s)
    if m is None:
        return None
    first, second = ("+", "-") if m.group(1) == "pm" else ("-", "+")
    before, after = s[: m.start()], s[m.end() :]
    return before + first + after, before + second + after


def parse_answer(s: str, depth: int = 0) -> Answer:
    """The structure of a cleaned answer (see the module docstring).

    Raises:
        StructureError: the answer is longer than :data:`MAX_ANSWER_CHARS`, has more than
            :data:`MAX_ITEMS` elements, or is nested more deeply than a few levels.
    """
    s = s.strip().rstrip(".").strip()
    if len(s) > MAX_ANSWER_CHARS:
        raise StructureError("answer too long")
    if depth > _MAX_NESTING:
        raise StructureError("answer nested too deeply")
    if s in _EMPTY:
        return EmptySet()
    if s.replace(" ", "") in _REALS:
        return Items("tuple", (Scalar("-\\infty"), Scalar("\\infty")), "(", ")")

    # Lists: "1, 2", "2 or 3", "x = 1; x = 2" (but not the number "1,000"); "p=5,q=2;p=7,q=2" is two groups.
    if not _THOUSANDS.fullmatch(s):
        groups, _ = _split_top(s, (";",))
        groups = [g for g in groups if g]
        if len(groups) > 1 and all(len(_split_top(g, (",",))[0]) > 1 for g in groups):
            if len(groups) > MAX_ITEMS:
                raise StructureError("too many elements")
            return Items("list", tuple(parse_answer(g, depth + 1) for g in groups), joiner=";")
        parts, joiner = _split_top(s, (",", ";", *_WORD_SEPARATORS))
        parts = [p for p in parts if p]
        if len(parts) > 1:
            if len(parts) > MAX_ITEMS:
                raise StructureError("too many elements")
            return Items("list", tuple(parse_answer(p, depth + 1) for p in parts), joiner=joiner)

    s = _exact_part(s)

    # "x \in S"
    parts, _ = _split_top(s, ("\\in",))
    if len(parts) == 2 and is_variable(parts[0]):
        return parse_answer(parts[1], depth + 1)

    parts, _ = _split_top(s, ("\\cup",))
    if len(parts) > 1:
        return Union(tuple(parse_answer(p, depth + 1) for p in parts))

    relation = _relation(s)
    if relation is not None:
        return relation

    computed = _matrix_arithmetic(s)
    if computed is not None:
        return _matrix(computed, depth)
    single = len(_MATRIX_ENV.findall(s)) <= 1  # several matrices that are no computation are not one matrix
    matrix = _MATRIX.fullmatch(s) if single else None
    if matrix:
        return _matrix(_cells(matrix.group("body")), depth)

    enclosed = _enclosed(s)
    if enclosed is not None:
        opener, closer, inner = enclosed
        matrix = _MATRIX.fullmatch(inner) if single else None
        if matrix and opener in "([":
            return _matrix(_cells(matrix.group("body")), depth)
        if opener == "{" and "," not in inner:
            opener = ""  # a TeX group, not a set: read as a scalar below
        elif opener in ("\\{", "{"):
            if not inner:
                return EmptySet()
            items, _ = _split_top(inner, (",", ";"))
            if len(items) > MAX_ITEMS:
                raise StructureError("too many elements")
            return Items("set", tuple(parse_answer(p, depth + 1) for p in items), opener, closer)
        items, _ = _split_top(inner, (",",))
        if len(items) == 1 and ";" in inner:  # "(0;-2;6)"
            items, _ = _split_top(inner, (";",))
        if opener and (len(items) > 1 or opener == "\\langle"):
            if len(items) > MAX_ITEMS:
                raise StructureError("too many elements")
            return Items("tuple", tuple(parse_answer(p, depth + 1) for p in items), opener, closer)

    expanded = _expand_pm(s)
    if expanded is not None:
        return Items("set", tuple(parse_answer(p, depth + 1) for p in expanded), "\\{", "\\}")

    return _scalar(s)


def _relation(s: str) -> Relation | None:
    sides: list[str] = []
    ops: list[str] = []
    start = 0
    for i, depth, token in _scan(s):
        if depth != 0 or i < start:
            continue
        for text, op in _RELATION_OPS:
            if token == text:
                sides.append(s[start:i].strip())
                ops.append(op)
                start = i + len(text)
                break
    if not ops:
        return None
    sides.append(s[start:].strip())
    if any(not side for side in sides):
        return None
    return Relation(tuple(sides), tuple(ops))


def _is_label(text: str) -> bool:
    """Whether ``text`` names a quantity other than a lone variable: ``\\frac{NO}{BO}``, ``\\angle ABC``,
    ``\\sin A``, ``AB \\cdot CD``, ``\\frac{x}{y}``.

    A label is one term (no top-level sum or difference) without numbers (outside subscripts of names)
    that has a capital letter, a fraction or a trigonometric or geometric command. ``2x``, ``x^2``,
    ``x + y`` and ``xy`` are not labels: an equation in them is one to solve, or a curve.
    """
    s = text.strip()
    if _is_numeric(s) or any(depth == 0 and token in ("+", "-") for _, depth, token in _scan(s)):
        return False
    if re.search(r"\d", _NAME_SUBSCRIPT.sub(r"\1", s)):
        return False
    return _NAMING.search(s) is not None


def stated_side(relation: Relation) -> str | None:
    """The side of an equation that states its value, or ``None`` for an equation compared as one.

    ``x = 3``, ``f(x) = 2x`` and ``(x, y) = (1, 2)`` state their last side, as do computations
    (``\\frac{6}{2} = 3``) and chains of three or more sides (``m + n = 3 + 4 = 7``); a label equal to a
    pure value (``\\frac{NO}{BO} = \\frac{1}{\\sqrt{6}}``, ``\\frac{1}{\\sqrt6} = \\frac{NO}{BO}``) states the
    value. ``7 = 11a + c``, ``2x = 6`` and ``x + y = 5`` state nothing.
    """
    if set(relation.ops) != {"="}:
        return None
    sides = relation.sides
    if is_variable(sides[0]) or len(sides) > 2 or all(_is_numeric(side) for side in sides):
        return sides[-1]
    lhs, rhs = sides
    if _is_numeric(rhs) and _is_label(lhs):
        return rhs
    if _is_numeric(lhs) and _is_label(rhs):
        return lhs
    return None


def assigned_value(answer: Answer, depth: int = 0) -> Answer:
    """The value an answer states (see :func:`stated_side`): ``x = 3`` gives ``3``, ``x = \\frac{6}{2} = 3`` and
    ``\\frac{6}{2} = 3`` give ``3``, ``f(x) = 2x`` gives ``2x``; anything else (``7 = 11a + c``) is returned
    unchanged (lists element-wise)."""
    if isinstance(answer, Relation):
        side = stated_side(answer)
        return answer if side is None else parse_answer(side, depth + 1)
    if isinstance(answer, Items) and answer.kind == "list":
        return Items("list", tuple(assigned_value(a, depth + 1) for a in answer.items), joiner=answer.joiner)
    return answer

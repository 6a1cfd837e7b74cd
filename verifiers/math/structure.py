"""Structure: what kind of answer a cleaned text is, before any value is computed.

:func:`parse_answer` turns the output of :func:`verifiers.math.normalize.clean` into a small tree:

* :class:`Scalar` - one expression (``3``, ``\\frac{\\sqrt3}{2}``, ``x^2+1``), possibly with a percent sign;
* :class:`Text` - a word answer (``Monday``, ``no solution``), compared without case, spaces or punctuation;
* :class:`Items` - a bare list (``2, 3``, ``2 or 3``), a set (``\\{2, 3\\}``) or a bracketed tuple, point,
  vector or interval (``(1, 2)``, ``[0, 1)``, ``\\langle 1, 2\\rangle``);
* :class:`Relation` - an equation, inequality or chain (``x = 3``, ``y = 2x+1``, ``1 < x \\le 5``);
* :class:`Union` - ``A \\cup B``; :class:`Matrix` - ``\\begin{pmatrix}...\\end{pmatrix}``; :class:`EmptySet`.

``a \\pm b`` becomes the set ``{a+b, a-b}``; ``x \\in S`` becomes ``S``; units after a number (``5 cm``,
``12 apples``) are dropped. This is pure string work on text bounded by ``MAX_ANSWER_CHARS``.
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
_RELATION_OPS = (("\\le", "\\le"), ("\\ge", "\\ge"), ("\\ne", "\\ne"), ("\\approx", "\\approx"), ("=", "="), ("<", "<"),
                 (">", ">"))  # fmt: skip
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
_MATRIX = re.compile(r"\\begin\{(?P<env>[pbBvV]?matrix|smallmatrix|array)\}(?:\{[^{}]*\})?(?P<body>.*)\\end\{(?P=env)\}", re.DOTALL)
_GREEK = (
    "alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|vartheta|iota|kappa|lambda|mu|nu|xi|rho|sigma|tau|"
    "upsilon|phi|varphi|chi|psi|omega|Gamma|Delta|Theta|Lambda|Xi|Sigma|Phi|Psi|Omega"
)
_VARIABLE = re.compile(rf"(?:[A-Za-z]|\\(?:{_GREEK})(?![A-Za-z]))(?:_\{{?[A-Za-z0-9]+\}}?)?'*(?:\^\{{?-1\}}?)?(?:\s*\([^()=]{{1,40}}\))?")
_SEGMENT = re.compile(r"[A-Z]{2,3}")
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


def _matrix(body: str, depth: int) -> Matrix:
    rows = [r for r in re.split(r"\\cr(?![A-Za-z])", body) if r.strip()]
    if not rows or len(rows) > MAX_ITEMS:
        raise StructureError("matrix too large")
    cells = tuple(tuple(parse_answer(c, depth + 1) for c in row.split("&")) for row in rows)
    return Matrix(cells)


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

    # Lists: "1, 2", "2 or 3", "x = 1; x = 2" (but not the number "1,000").
    if not _THOUSANDS.fullmatch(s):
        parts, joiner = _split_top(s, (",", ";", *_WORD_SEPARATORS))
        parts = [p for p in parts if p]
        if len(parts) > 1:
            if len(parts) > MAX_ITEMS:
                raise StructureError("too many elements")
            return Items("list", tuple(parse_answer(p, depth + 1) for p in parts), joiner=joiner)

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

    matrix = _MATRIX.fullmatch(s)
    if matrix:
        return _matrix(matrix.group("body"), depth)

    enclosed = _enclosed(s)
    if enclosed is not None:
        opener, closer, inner = enclosed
        matrix = _MATRIX.fullmatch(inner)
        if matrix and opener in "([":
            return _matrix(matrix.group("body"), depth)
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
    if "\\approx" in ops:  # "x = 1/3 \approx 0.33": the approximation only repeats the answer
        cut = ops.index("\\approx")
        ops = ["=" if op == "\\approx" else op for op in ops] if cut == 0 else ops[:cut]
        sides = sides[: len(ops) + 1]
    if any(not side for side in sides):
        return None
    return Relation(tuple(sides), tuple(ops))


def assigned_value(answer: Answer, depth: int = 0) -> Answer:
    """The value an answer states: ``x = 3`` gives ``3``, ``x = \\frac{6}{2} = 3`` and ``\\frac{6}{2} = 3``
    give ``3``, ``f(x) = 2x`` gives ``2x``; anything else (``7 = 11a + c``) is returned unchanged (lists
    element-wise)."""
    stated = isinstance(answer, Relation) and set(answer.ops) == {"="}
    if stated and (is_variable(answer.sides[0]) or all(_is_numeric(side) for side in answer.sides)):
        return parse_answer(answer.sides[-1], depth + 1)
    if isinstance(answer, Items) and answer.kind == "list":
        return Items("list", tuple(assigned_value(a, depth + 1) for a in answer.items), joiner=answer.joiner)
    return answer

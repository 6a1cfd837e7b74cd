"""Exact values of plain numbers without sympy: the fast path that decides most answers in-process.

``-12``, ``1,000``, ``0.25``, ``3/4``, ``\\frac{3}{4}``, ``-\\frac{3}{4}``, ``2\\frac{1}{2}`` (a mixed
number), ``3\\times 10^{8}`` and ``1.5e-3`` are read as :class:`fractions.Fraction`; anything else gives
``None`` and is left to the sympy comparison in a worker. Lengths and exponents are bounded, so this
is safe on model output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

__all__ = ["MAX_EXPONENT", "PlainNumber", "plain_number"]

#: Largest power of ten read by the fast path (``10^{400}``); larger ones go to sympy, under a timeout.
MAX_EXPONENT = 400
_MAX_CHARS = 120

_SIGNED = r"[+-]?"
_UNSIGNED = r"(?:\d+(?:\.\d*)?|\.\d+)"
_DECIMAL_RE = re.compile(rf"{_SIGNED}{_UNSIGNED}")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_SPACED_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?: \d{3})+(?:\.\d+)?")
_SLASH = re.compile(rf"({_SIGNED}{_UNSIGNED})/({_SIGNED}{_UNSIGNED})")
_FRAC = re.compile(rf"([+-]?)\\frac\{{({_SIGNED}{_UNSIGNED})\}}\{{({_SIGNED}{_UNSIGNED})\}}")
_MIXED = re.compile(r"([+-]?)(\d+)\\frac\{(\d+)\}\{(\d+)\}")
_SCI_TEX = re.compile(rf"({_SIGNED}{_UNSIGNED})?(?:\\times|\\cdot|\*)?10\^(?:\{{([+-]?\d+)\}}|([+-]?\d+))")
# "1.5e-3", "3E8", "3e8"; not "2e-1", which may as well be 2e - 1
_SCI_E = re.compile(rf"({_SIGNED}(?:\d+\.\d*|\.\d+))[eE]([+-]?\d+)|({_SIGNED}\d+)(?:E([+-]?\d+)|e(\d+))")


@dataclass(frozen=True)
class PlainNumber:
    """An exactly known number; ``places`` is the number of decimals when it was written as a decimal."""

    value: Fraction
    places: int | None = None


def _decimal(text: str) -> Fraction:
    return Fraction(Decimal(text))


def _places(text: str) -> int | None:
    if "." not in text:
        return None
    return len(text.split(".", 1)[1])


def plain_number(text: str) -> PlainNumber | None:
    """The exact value of ``text`` (cleaned answer text) if it is a plain number, else ``None``."""
    s = text.strip()
    if not s or len(s) > _MAX_CHARS:
        return None
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    elif _SPACED_THOUSANDS.fullmatch(s):
        s = s.replace(" ", "")
    s = s.replace(" ", "")
    try:
        if _DECIMAL_RE.fullmatch(s):
            return PlainNumber(_decimal(s), _places(s))
        m = _SLASH.fullmatch(s)
        if m:
            den = _decimal(m.group(2))
            return PlainNumber(_decimal(m.group(1)) / den) if den else None
        m = _FRAC.fullmatch(s)
        if m:
            den = _decimal(m.group(3))
            if not den:
                return None
            value = _decimal(m.group(2)) / den
            return PlainNumber(-value if m.group(1) == "-" else value)
        m = _MIXED.fullmatch(s)
        if m:
            whole, numerator, denominator = int(m.group(2)), int(m.group(3)), int(m.group(4))
            if not 0 < numerator < denominator:
                return None  # "2\frac{3}{2}" is a product, not a mixed number; sympy reads it
            value = whole + Fraction(numerator, denominator)
            return PlainNumber(-value if m.group(1) == "-" else value)
        m = _SCI_TEX.fullmatch(s)
        e = None if m else _SCI_E.fullmatch(s)
        if m or e:
            if m:
                mantissa, exponent = m.group(1), int(m.group(2) if m.group(2) is not None else m.group(3))
            else:
                assert e is not None  # m or e
                groups = e.groups()
                mantissa = groups[0] if groups[0] is not None else groups[2]
                exponent = int(next(g for g in (groups[1], groups[3], groups[4]) if g is not None))
            if abs(exponent) > MAX_EXPONENT:
                return None
            base = _decimal(mantissa) if mantissa not in (None, "", "+", "-") else Fraction(-1 if mantissa == "-" else 1)
            return PlainNumber(base * Fraction(10) ** exponent)
    except (InvalidOperation, ValueError, ZeroDivisionError, OverflowError):
        return None
    return None

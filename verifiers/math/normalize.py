"""Normalisation: one canonical spelling for answers that differ only in notation.

:func:`clean` maps an answer to a canonical text with single spaces (the spaces separate words such as
``or`` and units, and are what :mod:`verifiers.math.structure` splits on); :func:`answer_key` drops
the spaces for exact comparison; :func:`normalize_answer` is both. Everything here is plain string
work, linear in the input, and safe to run in the trainer process on model output.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["answer_key", "braces_balanced", "clean", "decimal_points", "group_end", "normalize_answer"]

_UNICODE = {
    "\u2212": "-", "\u2013": "-", "\u00d7": "\\times ", "\u22c5": "\\cdot ", "\u00b7": "\\cdot ", "\u03c0": "\\pi ",
    "\u221e": "\\infty ", "\u2264": "\\le ", "\u2265": "\\ge ", "\u2260": "\\ne ", "\u221a": "\\sqrt ",
    "\u222a": "\\cup ", "\u2229": "\\cap ", "\u2208": "\\in ", "\u00b1": "\\pm ", "\u2213": "\\mp ",
    "\u2205": "\\emptyset ", "\u00f7": "\\div ", "\u2102": "\\mathbb{C}", "\u211d": "\\mathbb{R}",
    "\uff0c": ",", "\uff1a": ":", "\u3002": ".", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
}  # fmt: skip
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))
_SIZING = re.compile(r"\\(?:left|right|[bB]igg?[lrm]?|middle)(?![A-Za-z])")
_DELIMITERS = re.compile(r"\\[()\[\]]")
_STYLE = re.compile(r"\\(?:displaystyle|textstyle|scriptstyle|limits|nolimits)(?![A-Za-z])")
_NO_SPACE = re.compile(r"\\!\s*")  # a negative thin space: "11,\! 111" is 11,111
# "\quadx_2" (no space after the command) is spacing, then x_2
_SPACING = re.compile(r"\\[,;:> ]|\\q?quad(?![a-z]{2})|\\hspace\*?\{[^{}]*\}|~")
_GROUPED_COMMA = re.compile(r"(?<=\d)\s*\{\s*,\s*\}\s*(?=\d)")  # "14{,}916", "14 {, }916"
_DECIMAL_COMMA = re.compile(r"(?<=\d)(?:\{\s*,\s*\}|,)(?=\d)")
_DEGREES = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![A-Za-z])|\\circ(?![A-Za-z])|\\degree(?![A-Za-z])|\u00b0")
_PERCENT = re.compile(r"\\?%")
_FRAC_ALIASES = re.compile(r"\\[dtc]frac(?![A-Za-z])")
_BINOM_ALIASES = re.compile(r"\\[dt]binom(?![A-Za-z])")
_RELATIONS = (
    (re.compile(r"\\(?:leqslant|leq|le)(?![A-Za-z])"), r"\\le "),
    (re.compile(r"\\(?:geqslant|geq|ge)(?![A-Za-z])"), r"\\ge "),
    (re.compile(r"\\(?:neq|ne)(?![A-Za-z])"), r"\\ne "),
    (re.compile(r"\\lt(?![A-Za-z])"), "<"),
    (re.compile(r"\\gt(?![A-Za-z])"), ">"),
    (re.compile(r"<="), r"\\le "),
    (re.compile(r">="), r"\\ge "),
    (re.compile(r"!="), r"\\ne "),
    (re.compile(r"\\varnothing(?![A-Za-z])"), r"\\emptyset "),
    (re.compile(r"\\(?:rm|bf|it)(?![A-Za-z])"), " "),
)
_TEXT_CMD = re.compile(
    r"\\(?:text|textrm|textnormal|textit|textbf|textsf|texttt|mbox|mathrm|mathbf|mathit|mathsf|mathtt|"
    r"boldsymbol|bm|operatorname\*?)\s*\{"
)
_UNIT_POWER = re.compile(r"\^\s*(?:\{\s*[23]\s*\}|[23])")
_FRAC_SHORT = re.compile(r"\\frac\s*([0-9A-Za-z])\s*([0-9A-Za-z])")
_SQRT_SHORT = re.compile(r"\\sqrt\s*([0-9A-Za-z])")
_LEADING_POINT = re.compile(r"(?<![0-9A-Za-z}])\.(\d)")
_WHITESPACE = re.compile(r"\s+")
_DOUBLE_ESCAPED = re.compile(r"\\\\(?=[A-Za-z])")
_REPEATING = re.compile(r"(?<![\d.])(\d{0,40})\.(\d{0,40})\s*\\(?:overline|bar|dot)\s*\{?\s*(\d{1,12})\s*\}?")
_KEY_SPACE = re.compile(r"(?<=[A-Za-z]) (?=[A-Za-z0-9])")


def group_end(text: str, start: int) -> int | None:
    """Index just past the ``}`` closing the ``{`` at ``start``; ``None`` if it is never closed.

    Escaped characters (``\\{``, ``\\}``, ``\\\\``) do not count as braces.
    """
    depth = 0
    i = start
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def braces_balanced(s: str) -> bool:
    """Whether every unescaped ``{`` in ``s`` is closed and no ``}`` comes first."""
    depth = 0
    i = 0
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        if s[i] == "{":
            depth += 1
        elif s[i] == "}":
            depth -= 1
            if depth < 0:
                return False
        i += 1
    return depth == 0


def _unwrap_text_commands(s: str) -> str:
    """Unwrap ``\\text{...}``-like groups (padded with spaces); a unit after a number is dropped."""
    out: list[str] = []
    pos = 0
    previous = ""  # the last few characters of the output, to recognise "number, then unit"
    for m in _TEXT_CMD.finditer(s):
        if m.start() < pos:
            continue
        open_brace = m.end() - 1
        end = group_end(s, open_brace)
        if end is None:
            break
        inner = s[open_brace + 1 : end - 1]
        before = s[pos : m.start()]
        previous = (previous + before)[-8:]
        rest = s[end:].lstrip()
        power = _UNIT_POWER.match(rest)
        is_unit = (
            m.group(0).startswith(("\\text", "\\mbox", "\\mathrm"))
            and re.search(r"[0-9}]\s*$", previous) is not None
            and len(inner) <= 40
            and re.fullmatch(r"\s*[A-Za-z][A-Za-z\s./]*", inner) is not None
            and not re.fullmatch(r"\s*(?:or|and|i|e)\s*", inner)
            and (not rest or (power is not None and not rest[power.end() :].strip()))
        )
        out.append(before)
        if is_unit:
            pos = len(s)
            break
        out.extend((" ", inner, " "))
        previous = (previous + " " + inner + " ")[-8:]
        pos = end
    out.append(s[pos:])
    return "".join(out)


def _repeating(m: re.Match[str]) -> str:
    """``0.1\\overline{6}`` as the exact fraction ``\\frac{1}{6}``."""
    whole, fixed, period = m.group(1) or "0", m.group(2), m.group(3)
    denominator = 10 ** len(fixed) * (10 ** len(period) - 1)
    numerator = int(whole) * denominator + int(fixed + period) - int(fixed or "0")
    return f"\\frac{{{numerator}}}{{{denominator}}}"


def clean(s: Any) -> str:
    """Canonical spaced text of an answer (see the module docstring).

    Removes ``$``, math delimiters, ``\\left``/``\\right``, ``\\displaystyle``, TeX spacing, degrees
    (``^\\circ``) and trailing periods; unwraps ``\\text{...}`` and similar (dropped when it is a unit after a
    number); ``\\dfrac``/``\\tfrac`` become ``\\frac``, ``\\leq``/``\\leqslant``/``<=`` become ``\\le``
    (likewise ``\\ge``, ``\\ne``), ``\\%`` becomes ``%``, ``\\frac12`` becomes ``\\frac{1}{2}``, ``.5`` becomes
    ``0.5``, a repeating decimal ``0.\\overline{3}`` the fraction ``\\frac{3}{9}``, common Unicode symbols
    (``π``, ``∞``, ``≤``, ``−``) their LaTeX commands, and JSON-escaped ``\\\\frac`` (outside matrices) ``\\frac``.
    """
    s = "" if s is None else str(s)
    if "\\begin" not in s:  # outside matrices, "\\\\frac" is an escaped "\\frac"
        s = _DOUBLE_ESCAPED.sub(r"\\", s)
    s = s.replace("\\\\", " \\cr ")  # row separators first, so that "\\ " is not read as a spacing command
    s = _UNICODE_RE.sub(lambda m: _UNICODE[m.group(0)], s)
    s = s.replace("\\$", " ").replace("$", " ")
    s = _SIZING.sub("", s)
    s = _DELIMITERS.sub(" ", s)
    s = _STYLE.sub("", s)
    s = _NO_SPACE.sub("", s)
    s = _SPACING.sub(" ", s)
    s = _DEGREES.sub("", s)
    s = _PERCENT.sub("%", s)
    s = _FRAC_ALIASES.sub(r"\\frac", s)
    s = _BINOM_ALIASES.sub(r"\\binom", s)
    for pattern, replacement in _RELATIONS:
        s = pattern.sub(replacement, s)
    s = _GROUPED_COMMA.sub(",", s).replace("{,}", ",")
    if "\\overline" in s or "\\bar" in s or "\\dot" in s:
        s = _REPEATING.sub(_repeating, s)
    s = _unwrap_text_commands(s)
    s = _FRAC_SHORT.sub(r"\\frac{\1}{\2}", s)
    s = _SQRT_SHORT.sub(r"\\sqrt{\1}", s)
    s = _WHITESPACE.sub(" ", s).strip()
    s = _LEADING_POINT.sub(r"0.\1", s)
    s = s.rstrip(" .")
    if s.endswith("\\") and not s.endswith("\\\\"):  # a stray backslash at the end: "185\"
        s = s[:-1].rstrip(" .")
    return s


def decimal_points(s: str) -> str:
    """``1,5`` and ``1{,}5`` written ``1.5``: a comma between digits read as a decimal comma (the
    ``decimal_comma`` convention of :class:`~verifiers.math.MathPolicy`)."""
    return _DECIMAL_COMMA.sub(".", s)


def answer_key(cleaned: str) -> str:
    """``cleaned`` without spaces, except one after a command followed by a letter (``\\pi r``)."""
    protected = _KEY_SPACE.sub("\x00", cleaned)
    return protected.replace(" ", "").replace("\x00", " ")


def normalize_answer(s: Any) -> str:
    """Canonical text of an answer for exact comparison: :func:`clean`, then :func:`answer_key`."""
    return answer_key(clean(s))

"""LaTeX (or plain-text math) to sympy: a small recursive-descent parser with resource guards.

It reads one scalar expression of cleaned answer text (see :mod:`verifiers.math.normalize`): numbers
(decimals are exact rationals), letters and Greek letters as symbols (``x_1`` and ``a_{n}`` are single
symbols), ``e`` as Euler's number and ``i`` as the imaginary unit, ``\\pi``, ``\\infty``, ``+ - * /``,
``\\cdot``, ``\\times``, ``\\div``, implicit multiplication (``2\\pi r``, ``x(x+1)``), powers (``^``,
right-associative; ``2^10`` is read as ``2^{10}``), ``\\frac``, ``\\sqrt``/``\\sqrt[n]``, ``\\binom``,
factorials, ``|x|``, floor and ceiling, mixed numbers (``2\\frac{1}{2}`` is 5/2), scientific notation
(``1.5e-3``, ``3E8``), and functions with or without parentheses (``\\sin 2x``, ``\\sin^2 x``,
``\\sin^{-1} x``, ``\\log_2 8``, ``\\ln(x)``).

Nothing is evaluated by Python's ``eval``. Integer powers and binomial coefficients whose result would exceed
:data:`MAX_INT_BITS` bits, factorials above :data:`MAX_FACTORIAL`, huge exponents in scientific
notation and nesting deeper than :data:`MAX_DEPTH` raise :class:`TooLarge` before sympy computes them,
so ``9^{9^{9^{9}}}`` is refused in microseconds instead of running for hours. Anything the grammar does
not cover raises :class:`LatexError`. sympy is imported on first use.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_FACTORIAL", "MAX_INT_BITS", "LatexError", "TooLarge", "parse_latex"]

#: Largest exact integer (in bits) a power may produce; about 30,000 decimal digits.
MAX_INT_BITS = 100_000
#: Largest integer whose factorial is computed.
MAX_FACTORIAL = 5000
#: Deepest nesting of groups, fractions, roots and parentheses.
MAX_DEPTH = 40
#: Most tokens in one expression.
MAX_TOKENS = 2000


class LatexError(ValueError):
    """The text is not an expression this parser reads."""


class TooLarge(ValueError):
    """The expression denotes a number too large (or is nested too deeply) to compute safely."""


_TOKEN = re.compile(
    r"(?P<num>(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+(?:E[+-]?\d+|e\d+)?)"
    r"|(?P<cmd>\\[A-Za-z]+|\\[{}|])"
    r"|(?P<word>[A-Za-z]+)"
    r"|(?P<op>[-+*/^_!()\[\]{}|,=<>'&])"
    r"|(?P<space>\s+)"
)

_FUNCTIONS = {
    "sin": "sin", "cos": "cos", "tan": "tan", "cot": "cot", "sec": "sec", "csc": "csc",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arccot": "acot", "arcsec": "asec", "arccsc": "acsc",
    "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "coth": "coth",
    "ln": "log", "log": "log", "lg": "log", "exp": "exp",
}  # fmt: skip
_INVERSE = {"sin": "asin", "cos": "acos", "tan": "atan", "cot": "acot", "sec": "asec", "csc": "acsc",
            "sinh": "asinh", "cosh": "acosh", "tanh": "atanh"}  # fmt: skip
#: Words recognised in plain text (``sqrt(2)``, ``2pi``); longest first so ``sinh`` wins over ``sin``.
_PLAIN_WORDS = sorted([*_FUNCTIONS, "sqrt", "pi", "infinity", "infty", "inf", "abs"], key=len, reverse=True)
_GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "rho", "varrho", "sigma", "varsigma", "tau", "upsilon", "phi", "varphi", "chi", "psi",
    "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Upsilon", "Phi", "Psi", "Omega",
}  # fmt: skip
_MULTIPLY = {"cdot", "times", "ast"}
_FRACS = {"frac", "cfrac"}

_sympy: Any = None


def _sp() -> Any:
    global _sympy
    if _sympy is None:
        import sympy

        _sympy = sympy
    return _sympy


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    n = len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        if m is None:
            raise LatexError(f"unexpected character {text[pos]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        value = m.group(0)
        if kind == "space":
            continue
        if kind == "word":
            tokens.extend(_split_word(value))
        else:
            tokens.append((kind, value))
        if len(tokens) > MAX_TOKENS:
            raise TooLarge("expression too long")
    return tokens


def _split_word(word: str) -> list[tuple[str, str]]:
    """A run of letters: known function and constant names, otherwise one symbol per letter."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(word):
        for name in _PLAIN_WORDS:
            if word.startswith(name, i):
                out.append(("cmd", "\\" + name))
                i += len(name)
                break
        else:
            out.append(("letter", word[i]))
            i += 1
    return out


def _bits(value: Any) -> float:
    """log2 of a sympy Rational's numerator or denominator, whichever is larger: the bits one power adds."""
    return math.log2(max(abs(int(value.p)), int(value.q), 2))


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.pos = 0
        self.depth = 0
        self.abs_depth = 0
        self.sp = _sp()

    # -- token helpers -----------------------------------------------------------------------------

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise LatexError("unexpected end of expression")
        self.pos += 1
        return tok

    def is_op(self, value: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok is not None and tok[0] == "op" and tok[1] == value

    def is_cmd(self, *names: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "cmd" and tok[1][1:] in names

    def expect_op(self, value: str) -> None:
        tok = self.take()
        if tok != ("op", value):
            raise LatexError(f"expected {value!r}, found {tok[1]!r}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise TooLarge("expression nested too deeply")

    def leave(self) -> None:
        self.depth -= 1

    # -- grammar -----------------------------------------------------------------------------------

    def parse(self) -> Any:
        if not self.tokens:
            raise LatexError("empty expression")
        expr = self.expression()
        leftover = self.peek()
        if leftover is not None:
            raise LatexError(f"unexpected {leftover[1]!r}")
        return expr

    def expression(self) -> Any:
        self.enter()
        try:
            terms = [self.term()]
            while self.is_op("+") or self.is_op("-"):
                sign = self.take()[1]
                term = self.term()
                terms.append(-term if sign == "-" else term)
            return self.sp.Add(*terms) if len(terms) > 1 else terms[0]
        finally:
            self.leave()

    def term(self) -> Any:
        value = self.signed()
        while True:
            tok = self.peek()
            if tok is None:
                return value
            if (tok[0] == "op" and tok[1] == "*") or (tok[0] == "cmd" and tok[1][1:] in _MULTIPLY):
                self.take()
                value = self._mul(value, self.signed())
            elif (tok[0] == "op" and tok[1] == "/") or (tok[0] == "cmd" and tok[1] == "\\div"):
                self.take()
                value = self._mul(value, self._pow(self.signed(), self.sp.S.NegativeOne))
            elif self.starts_operand():
                value = self._mul(value, self.power())
            else:
                return value

    def signed(self) -> Any:
        if self.is_op("-"):
            self.take()
            return -self.signed()
        if self.is_op("+"):
            self.take()
            return self.signed()
        return self.power()

    def starts_operand(self) -> bool:
        tok = self.peek()
        if tok is None:
            return False
        kind, value = tok
        if kind in ("num", "letter"):
            return True
        if kind == "op":
            if value == "|":
                return self.abs_depth == 0
            return value in "([{"
        name = value[1:]
        return name not in _MULTIPLY and name not in ("div", "right", "rfloor", "rceil", "rvert", "|", "}", "pm", "mp")

    def power(self) -> Any:
        base = self.postfix()
        if self.is_op("^"):
            self.take()
            return self._pow(base, self.exponent())
        return base

    def exponent(self) -> Any:
        """The exponent after ``^``: a group, a signed number or a single operand; right-associative."""
        if self.is_op("-"):
            self.take()
            return -self.exponent()
        if self.is_op("+"):
            self.take()
            return self.exponent()
        value = self.postfix()
        if self.is_op("^"):
            self.take()
            return self._pow(value, self.exponent())
        return value

    def postfix(self) -> Any:
        value = self.primary()
        while self.is_op("!"):
            self.take()
            value = self._factorial(value)
        return value

    def group(self) -> Any:
        """``{ expression }`` or a single-token argument (``\\frac ab``, ``\\sqrt2``)."""
        if self.is_op("{"):
            self.take()
            value = self.expression()
            self.expect_op("}")
            return value
        tok = self.peek()
        if tok is not None and tok[0] == "num" and len(tok[1]) > 1 and tok[1].isdigit():
            # "\frac\pi23": an unbraced argument is one digit; the rest stays for what follows
            self.tokens[self.pos] = ("num", tok[1][1:])
            return self.sp.Integer(int(tok[1][0]))
        return self.primary()

    def primary(self) -> Any:
        tok = self.take()
        kind, value = tok
        sp = self.sp
        if kind == "num":
            return self.number(value)
        if kind == "letter":
            return self.symbol(value)
        if kind == "op":
            if value in "([{":
                closing = {"(": ")", "[": "]", "{": "}"}[value]
                saved_abs, self.abs_depth = self.abs_depth, 0
                inner = self.expression()
                self.abs_depth = saved_abs
                self.expect_op(closing)
                return inner
            if value == "|":
                self.abs_depth += 1
                inner = self.expression()
                self.abs_depth -= 1
                self.expect_op("|")
                return sp.Abs(inner)
            raise LatexError(f"unexpected {value!r}")
        name = value[1:]
        if name in _FRACS:
            self.enter()
            try:
                num = self.group()
                den = self.group()
            finally:
                self.leave()
            return self._mul(num, self._pow(den, self.sp.S.NegativeOne))
        if name == "sqrt":
            return self.root()
        if name == "binom":
            n, k = self.group(), self.group()
            if n.is_Integer and k.is_Integer and min(k, n - k) * int(abs(n)).bit_length() > MAX_INT_BITS:
                raise TooLarge("binomial coefficient too large")
            return sp.binomial(n, k)
        if name == "pi":
            return sp.pi
        if name in ("infty", "infinity", "inf"):
            return sp.oo
        if name in ("imath", "jmath"):
            return sp.I
        if name in _FUNCTIONS or name == "abs":
            return self.function(name)
        if name in ("lfloor", "lceil"):
            inner = self.expression()
            closing = "\\rfloor" if name == "lfloor" else "\\rceil"
            if self.take() != ("cmd", closing):
                raise LatexError(f"missing {closing}")
            return sp.floor(inner) if name == "lfloor" else sp.ceiling(inner)
        if name in ("lvert", "vert", "|"):
            self.abs_depth += 1
            inner = self.expression()
            self.abs_depth -= 1
            closer = self.take()
            if closer not in (("cmd", "\\rvert"), ("cmd", "\\vert"), ("cmd", "\\|"), ("op", "|")):
                raise LatexError("unclosed absolute value")
            return sp.Abs(inner)
        if name in _GREEK:
            return self.symbol(name.replace("var", "") if name.startswith("var") else name)
        raise LatexError(f"unsupported command \\{name}")

    def number(self, text: str) -> Any:
        sp = self.sp
        mantissa, _, exponent = text.replace("E", "e").partition("e")
        if "." in mantissa:
            whole, _, frac = mantissa.partition(".")
            value = sp.Rational(int((whole or "0") + frac), 10 ** len(frac)) if frac else sp.Integer(int(whole))
        else:
            value = sp.Integer(int(mantissa))
        if exponent:
            e = int(exponent)
            if abs(e) > 1000:
                raise TooLarge("exponent of scientific notation too large")
            value = value * sp.Integer(10) ** e
        elif "." not in text and self.is_cmd(*_FRACS):
            value = self._mixed(value)
        return value

    def _mixed(self, whole: Any) -> Any:
        """``2\\frac{1}{2}``: an integer directly followed by a proper numeric fraction is a mixed number."""
        saved, saved_tokens = self.pos, list(self.tokens)
        self.take()
        try:
            num, den = self.group(), self.group()
        except (LatexError, TooLarge):
            num = den = None
        if num is not None and num.is_Integer and den.is_Integer and 0 < num < den:
            return whole + self.sp.Rational(num, den)
        self.pos, self.tokens = saved, saved_tokens
        return whole

    def symbol(self, name: str) -> Any:
        sp = self.sp
        if self.is_op("_"):
            self.take()
            tok = self.take()
            if tok == ("op", "{"):
                parts = []
                while not self.is_op("}"):
                    parts.append(self.take()[1])
                self.take()
                sub = "".join(parts)
            else:
                sub = tok[1]
            return sp.Symbol(f"{name}_{sub}")
        if name == "e":
            return sp.E
        if name == "i":
            return sp.I
        return sp.Symbol(name)

    def root(self) -> Any:
        index = None
        if self.is_op("["):
            self.take()
            index = self.expression()
            self.expect_op("]")
        self.enter()
        try:
            radicand = self.group()
        finally:
            self.leave()
        if index is None:
            return self.sp.sqrt(radicand)
        if index.is_Integer and index % 2 == 1 and radicand.is_number and radicand.is_negative:
            return -self._pow(-radicand, self._pow(index, self.sp.S.NegativeOne))  # the real odd root: \sqrt[3]{-8} = -2
        return self._pow(radicand, self._pow(index, self.sp.S.NegativeOne))

    def function(self, name: str) -> Any:
        sp = self.sp
        exponent = None
        base = None
        if self.is_op("^"):
            self.take()
            exponent = self.exponent()
        if name == "log" and self.is_op("_"):
            self.take()
            base = self.group()
        if self.is_op("("):
            self.take()
            arg = self.expression()
            self.expect_op(")")
        elif self.is_op("{"):
            arg = self.group()
        else:
            factors = [self.power()]
            while self.starts_operand() and not self.is_cmd(*_FUNCTIONS, "abs"):
                factors.append(self.power())
            arg = sp.Mul(*factors) if len(factors) > 1 else factors[0]
        fname = _FUNCTIONS.get(name, name)
        if exponent is not None and exponent == -1 and name in _INVERSE:
            return getattr(sp, _INVERSE[name])(arg)
        if name == "abs":
            value = sp.Abs(arg)
        elif fname == "log" and base is not None:
            value = sp.log(arg, base)
        else:
            value = getattr(sp, fname)(arg)
        return self._pow(value, exponent) if exponent is not None else value

    # -- guarded arithmetic -----------------------------------------------------------------------

    def _mul(self, a: Any, b: Any) -> Any:
        return a * b

    def _pow(self, base: Any, exponent: Any) -> Any:
        sp = self.sp
        if exponent.is_Rational and base.is_Rational:
            if base != 0 and (abs(exponent.p).bit_length() > 40 or abs(exponent.p) * _bits(base) > MAX_INT_BITS):
                raise TooLarge("power too large to compute exactly")
        elif exponent.is_number and exponent.is_Rational is False and base.is_number:
            pass  # irrational exponents stay symbolic or become floats: bounded
        elif exponent.is_Integer and abs(exponent) > 10**6:
            raise TooLarge("exponent too large")
        return sp.Pow(base, exponent)

    def _factorial(self, value: Any) -> Any:
        if value.is_Integer and value > MAX_FACTORIAL:
            raise TooLarge("factorial too large")
        if value.is_number and not value.is_Integer:
            raise LatexError("factorial of a non-integer")
        return self.sp.factorial(value)


def parse_latex(text: str) -> Any:
    """The sympy expression for one cleaned scalar answer.

    Raises:
        LatexError: the text is not an expression this parser reads.
        TooLarge: it denotes a number too large or is nested too deeply to compute safely.
    """
    try:
        return _Parser(text).parse()
    except (LatexError, TooLarge):
        raise
    except RecursionError:
        raise TooLarge("expression nested too deeply") from None
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - sympy refusing an odd combination, in any of its exception types
        raise LatexError(f"cannot build the expression: {type(exc).__name__}") from None

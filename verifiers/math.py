"""Math accuracy: extract the final answer of a completion and compare it with the gold answer.

The pipeline has three stages, each replaceable on its own:

1. **Extraction** (:func:`extract_final_answer`): reasoning before ``</think>`` is dropped, then the last
   ``\\boxed{...}`` (or ``\\fbox{...}``) with balanced braces is taken; an ``Answer: X`` last line is a
   conservative fallback.
2. **Normalisation** (:func:`normalize_answer`): TeX spacing, ``$``, ``\\left``/``\\right``, units in
   ``\\text{}``, degrees, percent signs and trailing periods are removed; ``\\dfrac``/``\\tfrac`` become
   ``\\frac``.
3. **Comparison** (:func:`answers_equal`): exact match after normalisation, then exact rational
   comparison of plain numbers (``0.5 == 1/2 == \\frac{1}{2}``, ``1,000 == 1000``), then sympy on a small
   LaTeX-to-Python rewrite (``\\frac``, ``\\sqrt``, ``^``, ``\\cdot``, ``\\times``, ``\\pi``, functions,
   Greek letters) with ``simplify(a - b) == 0`` or, for constants, a relative tolerance of 1e-6. Tuples
   and comma lists compare element-wise in order; ``x = 2`` matches ``2``.

Comparison runs sympy on model output, which can take unbounded time (``9^9^9^9``), so :func:`verify`
and the reward run it in the shared worker pool with a hard per-sample timeout. The text handed to
sympy's ``eval``-based parser is first restricted to numbers, letters, ``+-*/()`` and known function
names, and is evaluated with no builtins.
"""

from __future__ import annotations

import keyword
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, Literal

from verifiers.completions import completion_text
from verifiers.errors import VerifierError
from verifiers.pool import WorkerPool, shared_pool
from verifiers.registry import RewardFn, register_reward

__all__ = [
    "MathVerdict",
    "Reason",
    "answers_equal",
    "extract_final_answer",
    "math_accuracy_reward",
    "normalize_answer",
    "verify",
    "verify_batch",
]

logger = logging.getLogger(__name__)

Reason = Literal["correct", "wrong_answer", "no_answer", "unparseable_gold", "timeout", "error"]

#: Reward per verdict reason; reasons absent here (could not judge) give ``None``, i.e. masked.
SCORES: dict[str, float] = {"correct": 1.0, "wrong_answer": 0.0, "no_answer": 0.0}

#: Answers longer than this (after normalisation) are not handed to sympy.
MAX_SYMPY_CHARS = 1000
#: Relative tolerance when comparing non-rational constants (``\\pi`` vs ``3.14159265``).
REL_TOL = 1e-6


@dataclass(frozen=True)
class MathVerdict:
    """Outcome of verifying one completion: ``reason`` says why ``correct`` is what it is."""

    correct: bool
    extracted: str | None
    reason: Reason


# ==================================================================================================
# Extraction
# ==================================================================================================

_BOXED = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_ANSWER_LINE = re.compile(r"^[*_#\s]*(?:final\s+answer|answer)[*_\s]*[:：][*_\s]*(?P<a>.+?)[*_\s]*$", re.I)
_ANSWER_IS = re.compile(r"\bthe\s+(?:final\s+)?answer\s+is[*_\s:：]*(?P<a>.+?)[*_\s]*$", re.I)
_MAX_FALLBACK_CHARS = 64
_MAX_FALLBACK_LINE = 300  # longer last lines are prose, and would make the patterns slow


def _group_end(text: str, start: int) -> int | None:
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


def _last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}``/``\\fbox{...}``; ``None`` if absent, empty or unclosed."""
    last = None
    for last in _BOXED.finditer(text):
        pass
    if last is None:
        return None
    i = last.end()
    while i < len(text) and text[i] in " \t":
        i += 1
    if i < len(text) and text[i] == "{":
        end = _group_end(text, i)
        if end is None:
            return None
        content = text[i + 1 : end - 1].strip()
    else:  # "\boxed 5"
        m = re.match(r"[^\s${}\\]+", text[i:]) if i > last.end() else None
        content = m.group(0) if m else ""
    return content or None


def _answer_line(text: str) -> str | None:
    """``X`` from a last line reading ``Answer: X`` or ``... the answer is X``; short answers only."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    line = lines[-1]
    if len(line) > _MAX_FALLBACK_LINE:
        return None
    m = _ANSWER_LINE.match(line) or _ANSWER_IS.search(line)
    if not m:
        return None
    answer = m.group("a").strip().strip("$").strip().rstrip(".").strip().strip("$").strip()
    if not answer or len(answer) > _MAX_FALLBACK_CHARS:
        return None
    return answer


def extract_final_answer(text: str, *, fallback: bool = True) -> str | None:
    """The final answer of a completion, or ``None`` when it gives none.

    Only the text after the last ``</think>`` is considered; a ``<think>`` that is never closed means the
    model did not finish reasoning, and gives ``None``. The answer is the content of the last
    ``\\boxed{...}``/``\\fbox{...}`` (balanced braces, so ``\\boxed{\\frac{1}{2}}`` works); if that box is
    unclosed (a truncated completion) the result is ``None`` rather than an earlier box. Without any box,
    and if ``fallback`` is true, a last line ``Answer: X`` or ``The answer is X`` gives ``X``.
    """
    if not isinstance(text, str):
        return None
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    elif "<think>" in text:
        return None
    if _BOXED.search(text):
        return _last_boxed(text)
    return _answer_line(text) if fallback else None


# ==================================================================================================
# Normalisation
# ==================================================================================================

_TEXT_CMD = re.compile(r"\\(?:text|textrm|textnormal|mbox|mathrm|textbf|mathbf|mathit|operatorname)\s*\{")
_SPACING = re.compile(r"\\[,!;:> ]|\\q?quad(?![A-Za-z])|~")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ(?![A-Za-z])|\\degree(?![A-Za-z])|°")
_UNIT_POWER = re.compile(r"\^\s*(?:\{\s*[23]\s*\}|[23])")
_CMD_SPACE = re.compile(r"(\\[A-Za-z]+)\s+(?=[A-Za-z0-9])")
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def _strip_text_commands(s: str) -> str:
    """Unwrap ``\\text{...}``-like groups; those after other content are units and are dropped."""
    while True:
        m = _TEXT_CMD.search(s)
        if not m:
            return s
        open_brace = m.end() - 1
        end = _group_end(s, open_brace)
        if end is None:
            return s
        inner = s[open_brace + 1 : end - 1]
        before, after = s[: m.start()], s[end:]
        is_unit = (
            m.group(0).startswith(("\\text", "\\mbox"))
            and before.strip() != ""
            and re.search(r"[0-9}]\s*$", before) is not None
            and inner.strip()[:1].isalpha()
            and (after.strip() == "" or _UNIT_POWER.fullmatch(after.strip()))
        )
        if is_unit:
            s = before
        else:
            s = before + inner + after


def normalize_answer(s: Any) -> str:
    """Canonical text of an answer, for exact comparison and as input to parsing.

    Removes ``$``, ``\\left``/``\\right``, TeX spacing (``\\!``, ``\\,``, ``\\;``, ``\\quad``, ``~``),
    ``\\displaystyle``, degrees (``^\\circ``), ``\\%``, trailing periods and whitespace; unwraps
    ``\\text{...}`` (dropped when it is a unit after a number); ``\\dfrac``/``\\tfrac`` → ``\\frac``;
    ``\\frac12`` → ``\\frac{1}{2}``; ``\\sqrt2`` → ``\\sqrt{2}``; ``.5`` → ``0.5``; ``{,}`` → ``,``.
    A single space is kept after a command followed by a letter (``\\pi r``) so command names survive.
    """
    s = "" if s is None else str(s)
    s = s.replace("\\$", "").replace("$", "")
    s = re.sub(r"\\(?:left|right|big|Big|bigg|Bigg)(?![A-Za-z])", "", s)
    s = s.replace("\\displaystyle", "")
    s = re.sub(r"\\[dt]frac(?![A-Za-z])", r"\\frac", s)
    s = _SPACING.sub(" ", s)
    s = _DEGREES.sub("", s)
    s = s.replace("\\%", "").replace("%", "")
    s = s.replace("{,}", ",")
    s = _strip_text_commands(s)
    s = _CMD_SPACE.sub(lambda m: m.group(1) + "\x00", s)  # protect "\pi r" from becoming "\pir"
    s = re.sub(r"\s+", "", s).replace("\x00", " ")
    s = re.sub(r"\\frac([0-9A-Za-z])([0-9A-Za-z])", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\sqrt([0-9A-Za-z])", r"\\sqrt{\1}", s)
    s = re.sub(r"(?<![0-9A-Za-z}])\.(\d)", r"0.\1", s)
    s = s.rstrip(".").strip()
    return s


def _braces_balanced(s: str) -> bool:
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


def gold_text(gold: Any) -> str | None:
    """The normalised gold answer, or ``None`` if there is nothing usable.

    Accepts numbers, a bare answer, a solution containing ``\\boxed{...}`` (the last box is used) or a
    GSM8K-style ``... #### 42``. Empty text and unbalanced braces give ``None``.
    """
    if gold is None or isinstance(gold, bool):
        return None
    text = str(gold).strip()
    if _BOXED.search(text):
        boxed = _last_boxed(text)
        if boxed is None:
            return None
        text = boxed
    elif "####" in text:
        text = text.rsplit("####", 1)[1]
    text = normalize_answer(text)
    if not text or not _braces_balanced(text):
        return None
    return text


# ==================================================================================================
# Comparison
# ==================================================================================================

_INT = re.compile(r"\d+")
_DECIMAL = re.compile(r"\d+\.\d*|\d*\.\d+")
_SLASH = re.compile(r"(\d+)/(\d+)")
_TEX_FRAC = re.compile(r"\\frac\{(-?\d+(?:\.\d+)?)\}\{(-?\d+(?:\.\d+)?)\}")
_CHOICE = re.compile(r"\(?([A-J])\)?")
_VARIABLE = re.compile(r"[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?|\\[A-Za-z]+")


def _number(s: str) -> Fraction | None:
    """Exact value of a plain number: ``-12``, ``1,000``, ``0.25``, ``3/4``, ``\\frac{3}{4}``."""
    if len(s) > 60:
        return None
    sign = 1
    if s[:1] in "+-" and len(s) > 1:
        sign, s = (-1 if s[0] == "-" else 1), s[1:]
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    try:
        if _INT.fullmatch(s) or _DECIMAL.fullmatch(s):
            return sign * Fraction(Decimal(s))
        m = _SLASH.fullmatch(s) or _TEX_FRAC.fullmatch(s)
        if m:
            num, den = Fraction(Decimal(m.group(1))), Fraction(Decimal(m.group(2)))
            return sign * num / den if den != 0 else None
    except (InvalidOperation, ValueError, ZeroDivisionError):
        return None
    return None


def _split_list(s: str) -> tuple[str, str, list[str]] | None:
    """``(open, close, elements)`` of ``(a, b)``, ``[a, b)``, ``\\{a, b\\}`` or ``a, b``; else ``None``."""
    if _THOUSANDS.fullmatch(s.lstrip("+-")):
        return None
    open_, close, inner = "", "", s
    if s.startswith("\\{") and s.endswith("\\}"):
        open_, close, inner = "\\{", "\\}", s[2:-2]
    elif len(s) >= 2 and s[0] in "([" and s[-1] in ")]":
        open_, close, inner = s[0], s[-1], s[1:-1]
    parts: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(inner):
        c = inner[i]
        if c == "\\":
            if inner[i + 1 : i + 2] == "{":
                depth += 1
            elif inner[i + 1 : i + 2] == "}":
                depth -= 1
            i += 2
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:  # the outer brackets did not enclose everything: "(1)+(2)"
                return None
        elif c == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
        i += 1
    if depth != 0:
        return None
    parts.append(inner[start:])
    if len(parts) < 2:
        return None
    return open_, close, parts


def _combine(results: list[bool | None]) -> bool | None:
    """All-equal over elements: ``False`` wins over ``None`` (could not judge), which wins over ``True``."""
    if any(r is False for r in results):
        return False
    if any(r is None for r in results):
        return None
    return True


def _equal(pred: str, gold: str) -> bool | None:
    """Compare two normalised answers: ``True``/``False``, or ``None`` if the gold cannot be interpreted."""
    if pred == gold:
        return True
    if not pred:
        return False

    gold_choice = _CHOICE.fullmatch(gold)
    if gold_choice:
        pred_choice = _CHOICE.fullmatch(pred)
        return bool(pred_choice) and pred_choice.group(1) == gold_choice.group(1)

    gold_list, pred_list = _split_list(gold), _split_list(pred)
    if gold_list is not None or pred_list is not None:
        if gold_list is None or pred_list is None:
            return False if gold_list is not None or _interpretable(gold) else None
        (g_open, g_close, g_items), (p_open, p_close, p_items) = gold_list, pred_list
        if g_open and p_open and (g_open, g_close) != (p_open, p_close):
            return False
        if len(g_items) != len(p_items):
            return False
        return _combine([_equal(p, g) for p, g in zip(p_items, g_items)])

    if "=" in pred or "=" in gold:
        p_sides, g_sides = pred.split("="), gold.split("=")
        if len(p_sides) == 2 and len(g_sides) == 1 and _VARIABLE.fullmatch(p_sides[0]):
            return _equal(p_sides[1], gold)
        if len(g_sides) == 2 and len(p_sides) == 1 and _VARIABLE.fullmatch(g_sides[0]):
            return _equal(pred, g_sides[1])
        if len(p_sides) == len(g_sides) == 2:
            return _combine([_equal(p_sides[0], g_sides[0]), _equal(p_sides[1], g_sides[1])])
        return False if len(g_sides) <= 2 else None

    if _is_text(gold):  # a word answer ("Monday", "even"): sympy would read it as a product of letters
        return pred.casefold() == gold.casefold()

    gold_number, pred_number = _number(gold), _number(pred)
    if gold_number is not None and pred_number is not None:
        return gold_number == pred_number

    gold_expr = to_sympy(gold)
    if gold_expr is None:
        return None
    pred_expr = to_sympy(pred)
    if pred_expr is None:
        return False
    return _sympy_equal(pred_expr, gold_expr)


def _is_text(answer: str) -> bool:
    """Whether the answer contains a word (three or more letters that are not a function name)."""
    bare = re.sub(r"\\[A-Za-z]+", " ", answer)
    return any(word not in _FUNCTIONS and word not in _COMMANDS for word in re.findall(r"[A-Za-z]{3,}", bare))


def _interpretable(answer: str) -> bool:
    return _number(answer) is not None or to_sympy(answer) is not None


def _sympy_equal(a: Any, b: Any) -> bool:
    import sympy

    try:
        if a.is_Rational and b.is_Rational:
            return bool(a == b)
        diff = a - b
        if diff == 0:
            return True
        if not diff.free_symbols:
            va, vb = complex(sympy.N(a, 30)), complex(sympy.N(b, 30))
            return abs(va - vb) <= REL_TOL * max(abs(va), abs(vb)) + 1e-12
        return bool(sympy.simplify(diff) == 0 or sympy.expand(diff) == 0)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - sympy raises many types on odd input; odd means "not equal"
        return False


def compare(pred: str, gold: Any) -> Reason:
    """Judge one extracted answer against the gold: ``correct``, ``wrong_answer`` or ``unparseable_gold``.

    Runs sympy without a time limit: use :func:`verify` for untrusted predictions. ``MemoryError`` and
    ``RecursionError`` propagate (the worker reports them as ``error``).
    """
    gold_norm = gold_text(gold)
    if gold_norm is None:
        return "unparseable_gold"
    result = _equal(normalize_answer(pred), gold_norm)
    if result is None:
        return "unparseable_gold"
    return "correct" if result else "wrong_answer"


def answers_equal(pred: str, gold: str) -> bool:
    """Whether ``pred`` and ``gold`` are the same answer. Never raises; runs in this process, no timeout."""
    try:
        return compare(pred, gold) == "correct"
    except Exception:  # noqa: BLE001 - including MemoryError/RecursionError on hostile input
        return False


# ==================================================================================================
# LaTeX -> sympy
# ==================================================================================================

_GREEK = (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa mu nu xi rho sigma tau "
    "upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Sigma Upsilon Phi Psi Omega"
).split()
_COMMANDS: dict[str, str] = {
    "cdot": "*", "times": "*", "ast": "*", "div": "/",
    "pi": "pi", "infty": "oo",
    "sin": "sin", "cos": "cos", "tan": "tan", "cot": "cot", "sec": "sec", "csc": "csc",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
    "ln": "log", "log": "log", "exp": "exp",
    "lambda": "lamda",
    **{name: name.replace("var", "") for name in _GREEK},
}  # fmt: skip
_FUNCTIONS = ("sqrt", "sin", "cos", "tan", "cot", "sec", "csc", "asin", "acos", "atan", "sinh", "cosh", "tanh",
              "log", "exp")  # fmt: skip
_SAFE_CODE = re.compile(r"[0-9A-Za-z+\-*/()\s.]*")


class _Unsupported(ValueError):
    """The LaTeX uses something the rewrite does not handle."""


def _latex_argument(s: str, i: int) -> tuple[str, int]:
    """Python text of the macro argument at ``s[i]`` (a ``{group}``, a ``\\command`` or one character)."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i >= len(s):
        raise _Unsupported("missing argument")
    if s[i] == "{":
        end = _group_end(s, i)
        if end is None:
            raise _Unsupported("unclosed brace")
        return _latex_to_python(s[i + 1 : end - 1]), end
    if s[i] == "\\":
        m = re.match(r"\\[A-Za-z]+", s[i:])
        if not m:
            raise _Unsupported("bad argument")
        return _latex_to_python(m.group(0)), i + len(m.group(0))
    return s[i], i + 1


def _latex_to_python(s: str) -> str:
    """Rewrite a normalised LaTeX answer into Python expression text for ``parse_expr``."""
    out: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            m = re.match(r"\\([A-Za-z]+)", s[i:])
            if not m:
                nxt = s[i + 1 : i + 2]
                if nxt in ("{", "}"):
                    out.append("(" if nxt == "{" else ")")
                    i += 2
                    continue
                raise _Unsupported(f"\\{nxt}")
            name = m.group(1)
            i += len(m.group(0))
            if name == "frac":
                num, i = _latex_argument(s, i)
                den, i = _latex_argument(s, i)
                out.append(f"(({num})/({den}))")
            elif name == "sqrt":
                if s[i : i + 1] == "[":
                    close = s.find("]", i)
                    if close < 0:
                        raise _Unsupported("unclosed root index")
                    index = _latex_to_python(s[i + 1 : close])
                    radicand, i = _latex_argument(s, close + 1)
                    out.append(f"(({radicand})**(1/({index})))")
                else:
                    radicand, i = _latex_argument(s, i)
                    out.append(f"sqrt({radicand})")
            elif name in _COMMANDS:
                out.append(f" {_COMMANDS[name]} ")
            else:
                raise _Unsupported(f"\\{name}")
        elif c == "{":
            end = _group_end(s, i)
            if end is None:
                raise _Unsupported("unclosed brace")
            out.append(f"({_latex_to_python(s[i + 1 : end - 1])})")
            i = end
        elif c == "}":
            raise _Unsupported("unbalanced brace")
        elif c == "^":
            out.append("**")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _is_safe(code: str) -> bool:
    """Only numbers, names, ``+-*/()`` and spaces; no attribute access, no Python keywords."""
    if not _SAFE_CODE.fullmatch(code):
        return False
    if re.search(r"(?<![0-9])\.|\.(?![0-9])", code):
        return False
    return not any(keyword.iskeyword(word) or keyword.issoftkeyword(word) for word in re.findall(r"[A-Za-z]+", code))


_parser_state: dict[str, Any] = {}


def _parser() -> tuple[Callable[..., Any], dict[str, Any], tuple[Any, ...]]:
    """``parse_expr``, a builtins-free global namespace and the transformations (sympy imported lazily)."""
    if not _parser_state:
        import sympy
        from sympy.parsing.sympy_parser import (
            implicit_multiplication_application,
            parse_expr,
            standard_transformations,
        )

        names = {
            "Symbol": sympy.Symbol, "Function": sympy.Function, "Integer": sympy.Integer,
            "Float": sympy.Float, "Rational": sympy.Rational, "factorial": sympy.factorial,
            "pi": sympy.pi, "oo": sympy.oo,
        }  # fmt: skip
        names.update({name: getattr(sympy, name) for name in _FUNCTIONS})
        _parser_state.update(
            parse=parse_expr,
            names={"__builtins__": {}, **names},
            transformations=standard_transformations + (implicit_multiplication_application,),
        )
    return _parser_state["parse"], _parser_state["names"], _parser_state["transformations"]


def to_sympy(answer: str) -> Any | None:
    """A sympy expression for a normalised answer, or ``None`` if it cannot be parsed safely.

    Evaluation is eager (``2^{10}`` becomes 1024), so a hostile answer can run for a long time: call this
    inside a worker with a time limit. ``MemoryError`` propagates.
    """
    if not answer or len(answer) > MAX_SYMPY_CHARS:
        return None
    try:
        code = _latex_to_python(answer)
    except (_Unsupported, RecursionError):
        return None
    if not code.strip() or not _is_safe(code):
        return None
    parse, names, transformations = _parser()
    import sympy

    try:
        expr = parse(code, local_dict={}, global_dict=dict(names), transformations=transformations)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - SyntaxError, TokenError, TypeError, ... all mean "not parseable"
        return None
    return expr if isinstance(expr, sympy.Basic) else None


# ==================================================================================================
# Verification
# ==================================================================================================


def _verdict_for(outcome_status: str, value: Any) -> Reason:
    if outcome_status == "ok":
        return value
    return "timeout" if outcome_status == "timed_out" else "error"


def verify_batch(
    completions: Sequence[Any],
    golds: Sequence[Any],
    *,
    timeout: float = 5.0,
    pool: WorkerPool | None = None,
) -> list[MathVerdict]:
    """Verify completions against their gold answers; comparisons run in ``pool`` in one ``map``.

    Completions may be strings or TRL conversational message lists. Exact matches after normalisation,
    missing answers and unusable golds are decided here; everything else goes to the worker pool
    (default :func:`~verifiers.pool.shared_pool`) with ``timeout`` seconds per sample.
    """
    if len(completions) != len(golds):
        raise VerifierError(
            f"got {len(completions)} completions but {len(golds)} gold answers; pass one gold per completion"
        )
    verdicts: list[MathVerdict | None] = [None] * len(completions)
    jobs: list[int] = []
    args: list[tuple[str, str]] = []
    for i, (completion, gold) in enumerate(zip(completions, golds)):
        extracted = extract_final_answer(completion_text(completion))
        gold_norm = gold_text(gold)
        if gold_norm is None:
            verdicts[i] = MathVerdict(False, extracted, "unparseable_gold")
        elif extracted is None:
            verdicts[i] = MathVerdict(False, None, "no_answer")
        elif normalize_answer(extracted) == gold_norm:
            verdicts[i] = MathVerdict(True, extracted, "correct")
        else:
            jobs.append(i)
            args.append((extracted, str(gold)))
    if jobs:
        try:
            outcomes = (pool or shared_pool()).map(compare, args, timeout=timeout)
            reasons = [_verdict_for(o.status, o.value) for o in outcomes]
            for o in outcomes:
                if o.status == "errored":
                    logger.debug("math comparison failed: %s", o.error)
        except Exception as exc:  # noqa: BLE001 - never fail a training step over the judge's plumbing
            logger.warning("math verifier could not run its worker pool: %s: %s", type(exc).__name__, exc)
            reasons = ["error"] * len(jobs)
        for i, (extracted, _), reason in zip(jobs, args, reasons):
            verdicts[i] = MathVerdict(reason == "correct", extracted, reason)
    return [v for v in verdicts if v is not None]


def verify(completion: Any, gold: Any, *, timeout: float = 5.0) -> MathVerdict:
    """Verify one completion against its gold answer with a hard ``timeout`` (see :func:`verify_batch`)."""
    return verify_batch([completion], [gold], timeout=timeout)[0]


def math_accuracy_reward(
    prompts: Sequence[Any],
    completions: Sequence[Any],
    *,
    answer: Sequence[Any],
    timeout: float = 5.0,
    **kwargs: Any,
) -> list[float | None]:
    """TRL reward: 1.0 correct, 0.0 wrong or no answer, ``None`` when it could not be judged.

    ``None`` (masked, never scored as wrong) covers an unusable gold, a comparison past ``timeout`` and a
    failed comparison. Other keyword arguments (dataset columns, TRL's ``trainer_state``,
    ``completion_ids``, ...) are ignored, except ``log_metric``, which receives the fraction of
    ``verifiers/math/<reason>`` for the reasons that are not a plain right or wrong.
    """
    verdicts = verify_batch(completions, answer, timeout=timeout)
    log_metric = kwargs.get("log_metric")
    if callable(log_metric) and verdicts:
        for reason in ("no_answer", "unparseable_gold", "timeout", "error"):
            log_metric(f"verifiers/math/{reason}", sum(v.reason == reason for v in verdicts) / len(verdicts))
    return [SCORES.get(v.reason) for v in verdicts]


#: Keyword arguments TRL adds to every reward call; not dataset columns.
TRL_EXTRAS = frozenset({"trainer_state", "log_metric", "log_extra", "completion_ids"})


@register_reward(
    "math_accuracy",
    description="1.0 if the last \\boxed{} answer after </think> equals the gold answer, else 0.0; "
    "None when the gold is unusable or judging timed out",
)
def build_math_accuracy(*, timeout: float = 5.0, answer_column: str = "answer") -> RewardFn:
    """Factory for the ``math_accuracy`` reward.

    Args:
        timeout: seconds allowed per sample for the comparison (killed and masked after that).
        answer_column: dataset column holding the gold answers.
    """
    if not timeout > 0:
        raise VerifierError(f"math_accuracy: parameter 'timeout' must be a positive number of seconds, got {timeout!r}")
    if not answer_column:
        raise VerifierError("math_accuracy: parameter 'answer_column' must name a dataset column, got an empty string")

    def math_accuracy(prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
        if answer_column not in kwargs:
            columns = sorted(k for k in kwargs if k not in TRL_EXTRAS)
            raise VerifierError(
                f"math_accuracy: the dataset has no column {answer_column!r} with gold answers (columns: "
                f"{columns}); set params.answer_column to the right one"
            )
        answers = kwargs.pop(answer_column)
        kwargs.pop("answer", None)
        return math_accuracy_reward(prompts, completions, answer=answers, timeout=timeout, **kwargs)

    return math_accuracy

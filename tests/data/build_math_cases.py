"""Build tests/data/math_verifier_cases.jsonl: labelled cases for the math accuracy verifier.

Every label is written here by hand from mathematical facts (``\\sqrt{8} = 2\\sqrt{2}``, ``(0, 1]`` is not
``[0, 1)``), never computed by ``verifiers.math``; where answer keys follow different conventions the
label follows the verifier's documented default policy (``MathPolicy()``: a percent sign allows both
readings, a bare list is unordered) and the case carries a ``note`` saying so. Positives and hard
negatives (near misses: a sign, a bracket, an exponent, an anagram) are paired in every category.

Answers are placed in whole responses: reasoning (with distracting numbers and formulas, sometimes in
``<think>``) followed by a final answer in one of several common formats; the ``extraction`` category
spells its responses out. Run ``python tests/data/build_math_cases.py`` to rewrite the file; the test
and the benchmark read only the JSONL.

Each line: ``category``, ``gold``, ``completion``, ``expected`` (bool), optionally ``note``.
"""

from __future__ import annotations

import json
import random
from fractions import Fraction
from pathlib import Path

CASES: list[dict] = []
_rng = random.Random(20240611)

_SENTENCES = [
    "Let me set up the problem carefully before computing anything.",
    "We have $x + {a} = {b}$, so a first guess would be $x = {c}$.",
    "Checking the case $n = {a}$ gives ${d}$, which is too large.",
    "By the Pythagorean theorem, $3^2 + 4^2 = 5^2$, so the hypotenuse is 5.",
    "Wait, that is not right; let me recompute the sum.",
    "The partial sum so far is ${b}$, and there are {a} terms left.",
    "Note that $\\frac{{{a}}}{{{b}}}$ is not necessarily in lowest terms.",
    "Multiplying both sides by {a} gives $ {a}y = {d} $.",
    "If we substitute $t = {c}$ we get a contradiction, so that case is impossible.",
    "Since the discriminant $b^2 - 4ac$ is positive, there are two real roots.",
    "So the area of the small triangle is $\\frac{{1}}{{2}} \\cdot {a} \\cdot {b} = {e}$.",
    "Let me double-check with a different method.",
    "Using the identity $\\sin^2\\theta + \\cos^2\\theta = 1$ simplifies the expression.",
    "The probability of the complementary event is $1 - \\frac{{1}}{{{a}}}$.",
    "Therefore the remaining {a} cases contribute nothing new.",
    "Hmm, {b} is divisible by {a}? No, it leaves a remainder.",
    "Factoring, we get $(x - {a})(x + {c}) = 0$.",
    "Plugging back in, both sides equal ${d}$, as expected.",
]


def _reasoning() -> str:
    parts = []
    for _ in range(_rng.randint(6, 16)):
        a, b, c = _rng.randint(2, 30), _rng.randint(31, 400), _rng.randint(1, 60)
        parts.append(_rng.choice(_SENTENCES).format(a=a, b=b, c=c, d=a * c, e=a * b // 2))
    return " ".join(parts)


def _wrap(answer: str) -> str:
    """A whole response ending in ``answer``, in one of several common formats."""
    r = _reasoning()
    box = "\\boxed{" + answer + "}"
    style = _rng.randrange(5)
    if style == 0:
        return f"<think>\n{r}\n</think>\n\nThe answer is ${box}$."
    if style == 1:
        return f"{r}\n\nTherefore, the final answer is ${box}$."
    if style == 2:
        return f"<think>\n{r}\n</think>\n\n**Final Answer**\n\\[\n{box}\n\\]"
    if style == 3:
        return f"{r}\nSo the answer is \\({box}\\)."
    return f"<think>{r}</think>\nPutting everything together: ${box}$"


def case(category: str, gold: str, answer: str, expected: bool, note: str = "") -> None:
    """A case whose response ends with ``answer`` in a box."""
    raw(category, gold, _wrap(answer), expected, note)


def raw(category: str, gold: str, completion: str, expected: bool, note: str = "") -> None:
    """A case with a response written out in full."""
    entry = {"category": category, "gold": gold, "completion": completion, "expected": expected}
    if note:
        entry["note"] = note
    CASES.append(entry)


def pairs(category: str, positives: list[tuple[str, str]], negatives: list[tuple[str, str]]) -> None:
    for gold, answer in positives:
        case(category, gold, answer, True)
    for gold, answer in negatives:
        case(category, gold, answer, False)


# --- integers: separators and signs ------------------------------------------------------------------
pairs(
    "integers",
    [("1000", "1,000"), ("1000", "1{,}000"), ("1000", "1\\,000"), ("1000000", "1,000,000"), ("-5", "-5"),
     ("-5", "\u22125"), ("5", "+5"), ("12", "12.0"), ("7", "7.00"), ("-3", "- 3"), ("1234", "1 234"),
     ("100", "10^2"), ("0", "-0"), ("42", "42"), ("2024", "2\\,024"), ("-17", "-17."), ("365", "365"),
     ("1000", "10^3"), ("81", "9^2"), ("6", "3!"), ("-8", "(-2)^3"), ("30", "\\text{30}")],
    [("1000", "100"), ("1000", "1,001"), ("-5", "5"), ("5", "-5"), ("1000000", "1,000,001"), ("12", "21"),
     ("7", "7.01"), ("2023", "2022"), ("-12", "12"), ("1001", "1000"), ("3", "33"), ("100", "10^3"),
     ("0", "1"), ("42", "24"), ("365", "366"), ("-17", "17"), ("6", "4!"), ("-8", "8"), ("1000", "10000"),
     ("81", "3^3")],
)  # fmt: skip

pairs(
    "integers",
    [("11111111100", "11,\\! 111,\\! 111,\\! 100"), ("32349", "32,\\! 349"), ("7425000", "7,425,000")],
    [("32349", "32,\\! 348"), ("7425000", "742,500")],
)  # fmt: skip

# --- decimals and fractions --------------------------------------------------------------------------
_FRACTION_FACTS = [(1, 2), (3, 4), (1, 8), (5, 2), (7, 4), (2, 5), (9, 20), (3, 8), (11, 4), (1, 16), (13, 5), (7, 8)]
for num, den in _FRACTION_FACTS:
    decimal = str(Fraction(num, den).numerator / Fraction(num, den).denominator)
    case("decimals_fractions", f"\\frac{{{num}}}{{{den}}}", decimal, True)
    case("decimals_fractions", decimal, f"\\dfrac{{{num}}}{{{den}}}", True)
    wrong = str(round(num / den + 0.1, 4))
    case("decimals_fractions", f"\\frac{{{num}}}{{{den}}}", wrong, False)
pairs(
    "decimals_fractions",
    [("0.75", "3/4"), ("\\frac{3}{4}", "\\tfrac34"), ("\\frac{6}{8}", "\\frac{3}{4}"), ("-\\frac{1}{4}", "-0.25"),
     ("\\frac{-1}{4}", "-\\frac{1}{4}"), ("\\frac{10}{4}", "2.5"), (".5", "0.5"), ("\\frac{1}{2}", "1/2"),
     ("1.50", "1.5"), ("\\frac{22}{7}", "\\frac{44}{14}"), ("3", "\\frac{9}{3}"), ("0.2", "\\frac15")],
    [("\\frac{1}{3}", "0.33"), ("\\frac{1}{2}", "\\frac{1}{3}"), ("\\frac{3}{4}", "\\frac{4}{3}"), ("0.5", "0.05"),
     ("\\frac{1}{4}", "0.4"), ("-\\frac{1}{4}", "\\frac{1}{4}"), ("\\frac{2}{3}", "0.67"), ("1.5", "15"),
     ("\\frac{5}{2}", "\\frac{2}{5}"), ("0.125", "0.12"), ("\\frac{1}{8}", "1/9"), ("2.5", "2.50001")],
)  # fmt: skip
pairs(
    "decimals_fractions",
    [("\\frac{2}{3}", "0.\\overline{6}"), ("\\frac{1}{6}", "0.1\\overline{6}"), ("\\frac{1}{3}", "0.\\overline{3}")],
    [("\\frac{1}{3}", "0.\\overline{30}"), ("\\frac{1}{6}", "0.\\overline{16}")],
)  # fmt: skip
case("decimals_fractions", "\\frac{1}{3}", "0.333333", True, "six or more decimal places approximate an exact gold")
case("decimals_fractions", "\\frac{2}{3}", "0.666667", True, "six or more decimal places approximate an exact gold")

# --- mixed numbers -----------------------------------------------------------------------------------
pairs(
    "mixed_numbers",
    [("\\frac{5}{2}", "2\\frac{1}{2}"), ("2\\frac{1}{2}", "2.5"), ("3\\frac{3}{4}", "\\frac{15}{4}"),
     ("-1\\frac{1}{3}", "-\\frac{4}{3}"), ("7\\frac{1}{8}", "7.125"), ("1\\tfrac{2}{3}", "\\frac{5}{3}"),
     ("4\\dfrac{1}{2}", "4.5"), ("10\\frac{1}{4}", "\\frac{41}{4}"), ("\\frac{7}{4}", "1\\frac34"),
     ("5\\frac{2}{3}", "\\frac{17}{3}"), ("2\\frac{3}{5}", "2.6"), ("\\frac{9}{2}", "4 \\frac{1}{2}")],
    [("\\frac{5}{2}", "2\\frac{1}{3}"), ("2\\frac{1}{2}", "1"), ("3\\frac{1}{4}", "\\frac{3}{4}"),
     ("-1\\frac{1}{3}", "-\\frac{2}{3}"), ("1\\frac{1}{2}", "\\frac{1}{2}"), ("2\\frac{1}{2}", "2.25"),
     ("5\\frac{2}{3}", "5.6"), ("7\\frac{1}{8}", "7.8"), ("\\frac{7}{4}", "1\\frac{3}{7}"), ("10\\frac{1}{4}", "10.4"),
     ("4\\frac{1}{2}", "2")],
)  # fmt: skip

# --- percentages (default policy: a percent sign allows both readings) -----------------------------
_PCT = "MathPolicy(percent='either'): 50\\% equals 50 and 0.5"
for gold, answer, expected, note in [
    ("50\\%", "50\\%", True, ""), ("50\\%", "50", True, _PCT), ("50\\%", "0.5", True, _PCT),
    ("25\\%", "\\frac{1}{4}", True, _PCT), ("12.5\\%", "12.5", True, _PCT), ("0.5", "50\\%", True, _PCT),
    ("40", "40\\%", True, _PCT), ("33\\frac{1}{3}\\%", "\\frac{100}{3}\\%", True, ""), ("75\\%", "75 \\%", True, ""),
    ("10\\%", "10 percent", True, ""), ("5\\%", "0.05", True, _PCT), ("20\\%", "20\\%.", True, ""),
    ("150\\%", "1.5", True, _PCT), ("8\\%", "8", True, _PCT), ("60\\%", "60 \\%", True, ""),
    ("50\\%", "5\\%", False, ""), ("50\\%", "0.05", False, ""), ("50", "0.5", False, "no percent sign on either side"),
    ("20\\%", "25\\%", False, ""), ("20\\%", "0.25", False, ""), ("20\\%", "2", False, ""), ("12\\%", "0.012", False, ""),
    ("100\\%", "10", False, ""), ("75\\%", "0.075", False, ""), ("5\\%", "0.5", False, ""), ("150\\%", "15", False, ""),
    ("40", "4\\%", False, ""), ("8\\%", "0.8", False, ""),
]:  # fmt: skip
    case("percent", gold, answer, expected, note)

# --- roots --------------------------------------------------------------------------------------------
pairs(
    "roots",
    [("2\\sqrt{2}", "\\sqrt{8}"), ("\\sqrt{8}", "2\\sqrt2"), ("\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}"),
     ("\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt{2}}{2}"), ("\\sqrt[3]{8}", "2"), ("3\\sqrt{3}", "\\sqrt{27}"),
     ("\\sqrt{12}", "2\\sqrt{3}"), ("\\sqrt{2}+\\sqrt{8}", "3\\sqrt{2}"), ("\\frac{\\sqrt{6}}{3}", "\\sqrt{\\frac{2}{3}}"),
     ("\\sqrt[4]{16}", "2"), ("\\sqrt{50}", "5\\sqrt{2}"), ("4\\sqrt{5}", "\\sqrt{80}"), ("\\frac{3}{\\sqrt{3}}", "\\sqrt{3}"),
     ("2^{1/2}", "\\sqrt{2}"), ("\\sqrt{3}-1", "-1+\\sqrt{3}"), ("\\sqrt[3]{-27}", "-3"), ("\\frac{5\\sqrt{2}}{2}", "\\frac{5}{\\sqrt{2}}"),
     ("6\\sqrt{2}", "\\sqrt{72}"), ("\\sqrt{2}\\cdot\\sqrt{3}", "\\sqrt{6}")],
    [("2\\sqrt{2}", "\\sqrt{2}"), ("\\sqrt{8}", "8"), ("4", "4\\sqrt{2}"), ("\\sqrt{3}", "\\sqrt{2}"),
     ("\\frac{\\sqrt{3}}{2}", "\\frac{\\sqrt{2}}{2}"), ("\\sqrt{12}", "3\\sqrt{2}"), ("\\sqrt{2}", "1.41"),
     ("\\sqrt[3]{9}", "3"), ("3\\sqrt{3}", "\\sqrt{9}"), ("\\sqrt{5}", "5"), ("\\sqrt{50}", "25\\sqrt{2}"),
     ("\\sqrt[3]{-27}", "3"), ("\\sqrt{3}-1", "1-\\sqrt{3}"), ("6\\sqrt{2}", "\\sqrt{12}"), ("\\frac{1}{\\sqrt{2}}", "\\sqrt{2}"),
     ("\\sqrt{2}+\\sqrt{3}", "\\sqrt{5}")],
)  # fmt: skip

# --- pi -----------------------------------------------------------------------------------------------
pairs(
    "pi",
    [("2\\pi", "2\\pi"), ("\\frac{\\pi}{2}", "\\frac12\\pi"), ("\\pi/4", "\\frac{\\pi}{4}"), ("4\\pi", "4\u03c0"),
     ("\\pi r^2", "r^2\\pi"), ("6\\pi", "6 \\cdot \\pi"), ("\\frac{3\\pi}{2}", "1.5\\pi"), ("2\\pi", "2pi"),
     ("\\frac{\\pi}{3}", "\\frac{2\\pi}{6}"), ("\\pi^2", "\\pi \\cdot \\pi"), ("100\\pi", "100 \\pi"),
     ("\\frac{4}{3}\\pi", "\\frac{4\\pi}{3}"), ("12\\pi", "12 \\pi \\text{ square units}"), ("2\\pi - 4", "-4 + 2\\pi"),
     ("\\frac{\\pi}{6}", "\\frac{\\pi}{6}")],
    [("2\\pi", "\\pi"), ("\\pi", "3.14"), ("\\frac{\\pi}{2}", "\\frac{\\pi}{3}"), ("\\pi r^2", "2\\pi r"), ("4\\pi", "4"),
     ("\\pi^2", "2\\pi"), ("\\frac{3\\pi}{2}", "\\frac{2\\pi}{3}"), ("6\\pi", "6\\pi^2"), ("\\frac{\\pi}{4}", "45"),
     ("100\\pi", "10\\pi"), ("\\frac{4}{3}\\pi", "\\frac{3}{4}\\pi"), ("2\\pi - 4", "4 - 2\\pi"), ("\\pi", "\\frac{22}{7}")],
)  # fmt: skip

# --- powers -------------------------------------------------------------------------------------------
pairs(
    "powers",
    [("2^{10}", "1024"), ("1024", "2^{10}"), ("x^{2}", "x^2"), ("3^{4}", "81"), ("2^{-1}", "\\frac{1}{2}"),
     ("4^{1/2}", "2"), ("(2^3)^2", "64"), ("2^{2^{3}}", "256"), ("10^{6}", "1000000"), ("a^2 a^3", "a^5"),
     ("\\left(\\frac{1}{2}\\right)^{3}", "\\frac{1}{8}"), ("5^0", "1"), ("1024", "2^10"), ("e^{2}", "e^2"),
     ("x^{-2}", "\\frac{1}{x^{2}}"), ("2^{100}", "2^{100}"), ("8^{2/3}", "4"), ("(-2)^2", "4")],
    [("2^{10}", "1000"), ("2^{10}", "2^{9}"), ("3^4", "4^3"), ("2^{-1}", "-2"), ("x^3", "x^2"), ("10^6", "10^5"),
     ("2^{2^{3}}", "64"), ("a^5", "a^6"), ("(-2)^2", "-4"), ("-2^2", "4"), ("e^{2}", "2e"), ("2^{100}", "2^{99}"),
     ("8^{2/3}", "8"), ("x^{-2}", "-x^2"), ("5^0", "0")],
)  # fmt: skip

# --- scientific notation -----------------------------------------------------------------------------
pairs(
    "scientific",
    [("3\\times10^{8}", "300000000"), ("300000000", "3 \\times 10^8"), ("1.5\\times10^{-3}", "0.0015"),
     ("0.0015", "1.5e-3"), ("6.02\\times 10^{23}", "6.02 \\times 10^{23}"), ("2.5 \\cdot 10^{4}", "25000"),
     ("10^{-2}", "0.01"), ("4.2\\times10^{5}", "420000"), ("1.2\\times 10^{3}", "1200"), ("5\\times10^{-4}", "0.0005"),
     ("3 \\times 10^{8}", "3E8"), ("7.5 \\times 10^{2}", "750"), ("9.1\\times10^{-31}", "9.1 \\times 10^{-31}"),
     ("1.0 \\times 10^{4}", "10{,}000")],
    [("3\\times10^{8}", "3\\times10^{9}"), ("1.5\\times10^{-3}", "0.015"), ("6.02\\times10^{23}", "6.02\\times10^{22}"),
     ("2.5\\cdot10^4", "2500"), ("10^{-2}", "0.1"), ("4.2\\times10^5", "42000"), ("5\\times10^{-4}", "0.005"),
     ("1.2\\times10^{3}", "12000"), ("3\\times10^{8}", "3.8"), ("7.5\\times10^{2}", "7500"), ("9.1\\times10^{-31}", "9.1\\times10^{31}")],
)  # fmt: skip

# --- degrees ------------------------------------------------------------------------------------------
pairs(
    "degrees",
    [("30^\\circ", "30"), ("30", "30^{\\circ}"), ("45^\\circ", "45\u00b0"), ("90", "90\\text{ degrees}"),
     ("120^\\circ", "120^\\circ"), ("60", "60^\\circ"), ("135^{\\circ}", "135"), ("22.5^\\circ", "22.5"),
     ("180^\\circ", "180 \\text{ degrees}"), ("72", "72^{\\circ}"), ("15^\\circ", "15\\degree"), ("108^\\circ", "108 ^\\circ")],
    [("30^\\circ", "60^\\circ"), ("45", "45.5^\\circ"), ("90^\\circ", "180"), ("120", "60^\\circ"), ("30^\\circ", "3^\\circ"),
     ("135^\\circ", "45"), ("72^\\circ", "27"), ("22.5^\\circ", "2.25"), ("15^\\circ", "150^\\circ"), ("108^\\circ", "72^\\circ")],
)  # fmt: skip

# --- units ---------------------------------------------------------------------------------------------
pairs(
    "units",
    [("10", "10\\text{ cm}"), ("10\\text{ cm}", "10"), ("5", "5 \\text{ meters}"), ("12", "12 \\text{ apples}"),
     ("3.5", "3.5\\,\\text{kg}"), ("25", "25\\mbox{ cm}^2"), ("18", "\\$18"), ("18", "18 \\text{ dollars}"),
     ("6", "6\\text{ units}"), ("100", "100\\ \\text{km}"), ("9", "9\\mathrm{~m}"), ("4", "4 \\text{ hours}"),
     ("\\frac{1}{2}", "\\frac{1}{2}\\text{ hour}"), ("20", "20 \\text{ square units}"), ("7", "7 \\text{cm}^3"),
     ("48\\text{ mph}", "48"), ("15", "15 \\textrm{ inches}"), ("2.5", "2.5\\text{ L}")],
    [("10", "12\\text{ cm}"), ("5", "50 \\text{ meters}"), ("12", "13 \\text{ apples}"), ("3.5", "35\\,\\text{kg}"),
     ("18", "\\$1.80"), ("6", "16\\text{ units}"), ("100", "10\\text{ km}"), ("4", "40 \\text{ minutes}"),
     ("\\frac{1}{2}", "2\\text{ hours}"), ("20", "200 \\text{ square units}"), ("48\\text{ mph}", "84"), ("15", "1.5 \\text{ inches}")],
)  # fmt: skip

# --- "x = 3" vs "3", equations --------------------------------------------------------------------
pairs(
    "equations",
    [("3", "x = 3"), ("x=3", "3"), ("y = 2x + 1", "2x+1"), ("5", "n = 5"), ("-2", "x=-2"), ("\\frac{1}{2}", "p = \\frac{1}{2}"),
     ("4", "k=4"), ("x = 5", "5"), ("7", "a_1 = 7"), ("12", "f(3) = 12"), ("6", "x = \\frac{12}{2} = 6"),
     ("y=2x+3", "y = 3 + 2x"), ("2x+3y=6", "3y + 2x = 6"), ("x+y=5", "y = 5 - x"), ("x = 3", "2x = 6"),
     ("y = -x + 4", "x + y = 4"), ("\\theta = \\frac{\\pi}{4}", "\\frac{\\pi}{4}"), ("f(x) = x^2", "x^2"), ("m = 2", "2")],
    [("3", "x = 4"), ("x=3", "4"), ("y = 2x + 1", "2x - 1"), ("5", "n = 6"), ("-2", "x = 2"),
     ("3x - y + 13 = 0", "3x + 4y + 14 = 0"), ("x+y=5", "x - y = 5"), ("y = 2x+3", "y = 3x + 2"), ("7", "a_1 = 8"),
     ("6", "x = \\frac{12}{3}"), ("5", "x + y = 5"), ("x = 3", "x = -3"), ("y = -x + 4", "x - y = 4"),
     ("f(x) = x^2", "x^3"), ("2x+3y=6", "3x + 2y = 6")],
)  # fmt: skip

pairs(
    "equations",
    [("2x+4y-3=0", "y=-\\frac{1}{2}x+\\frac{3}{4}"), ("\\frac{x^2}{4}+\\frac{y^2}{9}=1", "9x^2+4y^2=36"),
     ("(x-1)^2+(y+2)^2=9", "x^2-2x+y^2+4y-4=0"), ("34x+45y-20z+100=0", "-34x-45y+20z-100=0"),
     ("x^2/4 + y^2/3 = 1", "x^2/16 + y^2/12 = 1/4"), ("f^{-1}(x)=\\frac{x-1}{2}", "\\frac{x-1}{2}"), ("AB = 4, CD = 5", "4, 5"),
     ("|AB| = 1", "1"), ("V_1 : V_2 = 11 : 21", "11:21")],
    [("7 = 11a+c", "11a+c"), ("y=-2x+3", "y=2x+3"), ("(x-1)^2+(y+2)^2=9", "(x+1)^2+(y-2)^2=9"),
     ("34x+45y-20z+100=0", "34x+45y+20z-100=0"), ("AB = 4, CD = 5", "5, 4"), ("V_1 : V_2 = 11 : 21", "21:11")],
)  # fmt: skip

# --- plus-minus --------------------------------------------------------------------------------------
pairs(
    "plus_minus",
    [("2 \\pm \\sqrt{3}", "2+\\sqrt{3}, 2-\\sqrt{3}"), ("\\pm 2", "2, -2"), ("x = \\pm 3", "3, -3"), ("-3, 3", "\\pm 3"),
     ("1 \\pm i", "1+i, 1-i"), ("\\frac{-1 \\pm \\sqrt{5}}{2}", "\\frac{-1+\\sqrt{5}}{2}, \\frac{-1-\\sqrt{5}}{2}"),
     ("\\pm\\frac{1}{2}", "x = \\pm 0.5"), ("3 \\pm 2", "1, 5"), ("2 \\pm \\sqrt{3}", "2 - \\sqrt{3} \\text{ or } 2 + \\sqrt{3}"),
     ("x = 1 \\pm \\sqrt{2}", "1 \\pm \\sqrt{2}"), ("\\pm \\sqrt{2}", "\\sqrt{2}, -\\sqrt{2}"), ("5 \\pm 1", "4 \\text{ and } 6")],
    [("2 \\pm \\sqrt{3}", "2+\\sqrt{3}"), ("\\pm 2", "2"), ("\\pm 3", "3, -2"), ("1 \\pm i", "1 + i, -1 - i"),
     ("3 \\pm 2", "1, 6"), ("2 \\pm \\sqrt{3}", "2 \\pm \\sqrt{2}"), ("\\pm 2", "\\pm 4"), ("x = \\pm 3", "3"),
     ("\\pm \\sqrt{2}", "\\sqrt{2}, 2"), ("5 \\pm 1", "5, 1"), ("\\frac{-1 \\pm \\sqrt{5}}{2}", "\\frac{1 \\pm \\sqrt{5}}{2}")],
)  # fmt: skip

# --- tuples and points -------------------------------------------------------------------------------
pairs(
    "tuples",
    [("(1, 2)", "(1,2)"), ("(3, -1)", "\\left(3, -1\\right)"), ("(\\frac{1}{2}, 3)", "(0.5, 3)"), ("(1, 2, 3)", "(1,2,3)"),
     ("(2, \\sqrt{2})", "(2, \\sqrt2)"), ("(0, 0)", "(0,0)"), ("(-1, 4)", "(x, y) = (-1, 4)"), ("(1, 2)", "x = 1, y = 2"),
     ("(2, 3)", "\\left( 2 , 3 \\right)"), ("(\\frac{3}{2}, -\\frac{1}{2})", "(1.5, -0.5)"), ("(4, 5)", "(4,5)."),
     ("\\left(\\frac{\\pi}{2}, 1\\right)", "(\\pi/2, 1)"), ("(6, 8, 10)", "(6, 8, 10)"), ("(2, -3)", "(2,\\ -3)"),
     ("(1, 0, -1)", "(1, 0, -1)"), ("(\\sqrt{8}, 2)", "(2\\sqrt{2}, 2)")],
    [("(1, 2)", "(2, 1)"), ("(1, 2)", "(1, 2, 3)"), ("(3, -1)", "(3, 1)"), ("(0.5, 3)", "(\\frac{1}{3}, 3)"),
     ("(1, 2, 3)", "(1, 3, 2)"), ("(2, \\sqrt{2})", "(\\sqrt{2}, 2)"), ("(-1, 4)", "(-1, -4)"), ("(1, 2)", "1"),
     ("(4, 5)", "(5, 4)"), ("(6, 8, 10)", "(6, 8, 12)"), ("(2, -3)", "(-3, 2)"), ("(1, 2)", "x = 2, y = 1"),
     ("(\\sqrt{8}, 2)", "(\\sqrt{2}, 2)")],
)  # fmt: skip

pairs(
    "tuples",
    [("(0, -2, 6)", "(0;-2;6)")],
    [("(0, -2, 6)", "(0;2;6)")],
)  # fmt: skip

# --- intervals and unions ----------------------------------------------------------------------------
pairs(
    "intervals",
    [("(0, 1]", "(0,1]"), ("[2, 5)", "\\left[2, 5\\right)"), ("(-\\infty, 3)", "(-\\infty,3)"), ("(-\\infty, 3)", "x < 3"),
     ("[0, \\infty)", "x \\geq 0"), ("(1, 4)", "1 < x < 4"), ("(-\\infty, -1) \\cup (2, \\infty)", "(-\\infty,-1)\\cup(2,\\infty)"),
     ("(-\\infty, -1) \\cup (2, \\infty)", "x < -1 \\text{ or } x > 2"), ("[-2, 2]", "-2 \\le x \\le 2"),
     ("(\\frac{1}{2}, 3]", "(0.5, 3]"), ("(-\\infty, \\infty)", "\\mathbb{R}"), ("[1, 3] \\cup [5, 7]", "[5,7] \\cup [1,3]"),
     ("(3, \\infty)", "x > 3"), ("(2, \\infty)", "x \\in (2, \\infty)"), ("[-1, 1]", "[-1,1]"), ("(-\\infty, 0]", "x \\le 0"),
     ("(0, \\infty)", "(0, +\\infty)")],
    [("(0, 1]", "[0, 1)"), ("(0, 1]", "(0, 1)"), ("[2, 5)", "[2, 5]"), ("(-\\infty, 3)", "(-\\infty, 3]"), ("(-\\infty, 3)", "x > 3"),
     ("[0, \\infty)", "x > 0"), ("(1, 4)", "1 \\le x < 4"), ("(-\\infty, -1) \\cup (2, \\infty)", "(-1, 2)"),
     ("(-\\infty, -1) \\cup (2, \\infty)", "(-\\infty, -1) \\cup [2, \\infty)"), ("[-2, 2]", "(-2, 2)"), ("(3, \\infty)", "x \\ge 3"),
     ("[1, 3] \\cup [5, 7]", "[1, 7]"), ("(2, \\infty)", "(-\\infty, 2)"), ("[-1, 1]", "[-1, 2]"), ("(-\\infty, 0]", "x < 0")],
)  # fmt: skip

pairs(
    "intervals",
    [("(-\\infty, -2] \\cup [3, \\infty)", "x \\le -2 \\text{ or } x \\ge 3"), ("0 < f(x) < 1", "(0, 1)")],
    [("(-\\infty, -2] \\cup [3, \\infty)", "x < -2 \\text{ or } x \\ge 3"), ("0 < f(x) < 1", "[0, 1]")],
)  # fmt: skip

# --- sets and lists of answers (default policy: a bare list is unordered) ------------------------------
_UNORDERED = "MathPolicy(lists='unordered'): a bare list of answers is a set"
for gold, answer, expected, note in [
    ("\\{1, 2\\}", "\\{2, 1\\}", True, ""), ("2, 3", "3, 2", True, _UNORDERED), ("2, 3", "2 \\text{ or } 3", True, ""),
    ("2, 3", "\\{2, 3\\}", True, ""), ("x = 2, x = 3", "2, 3", True, ""), ("-1, 1", "x = \\pm 1", True, ""),
    ("1, 2, 3", "3, 1, 2", True, _UNORDERED), ("\\{-1, 0, 1\\}", "\\{0, 1, -1\\}", True, ""),
    ("2, 3", "x=3 \\text{ or } x=2", True, _UNORDERED), ("\\frac{1}{2}, 2", "2, 0.5", True, _UNORDERED),
    ("\\{1, 2\\}", "1, 2", True, ""), ("1, 4", "4 \\text{ and } 1", True, _UNORDERED), ("\\{3\\}", "3", True, ""),
    ("\\emptyset", "\\varnothing", True, ""), ("\\emptyset", "\\{\\}", True, ""), ("1, 2, 3", "1,2,3", True, ""),
    ("-2, 5", "x = -2, x = 5", True, ""), ("\\{a, b\\}", "\\{b, a\\}", True, ""),
    ("\\{1, 2\\}", "\\{1, 3\\}", False, ""), ("2, 3", "2", False, ""), ("2, 3", "2, 3, 4", False, ""),
    ("1, 2, 3", "1, 2", False, ""), ("\\{-1, 0, 1\\}", "\\{-1, 1\\}", False, ""), ("x = 2, x = 3", "2, -3", False, ""),
    ("-1, 1", "1", False, ""), ("\\{1, 2\\}", "\\{1, 2, 3\\}", False, ""), ("\\emptyset", "\\{0\\}", False, ""),
    ("\\frac{1}{2}, 2", "2, 0.25", False, ""), ("1, 4", "1, 5", False, ""), ("-2, 5", "2, -5", False, ""),
    ("\\{3\\}", "\\{3, 4\\}", False, ""), ("\\emptyset", "0", False, ""),
]:  # fmt: skip
    case("sets_lists", gold, answer, expected, note)

pairs(
    "sets_lists",
    [("(11,7) \\text{ or } (7,11)", "(7,11), (11,7)"), ("x = -3 \\text{ and } x = 1", "\\{-3, 1\\}"),
     ("p = -1 \\text{ and } p = \\frac{15}{8}", "p=-1, p=\\frac{15}{8}")],
    [("(1,2), (3,4)", "(2,1), (4,3)"), ("x = -3 \\text{ and } x = 1", "\\{3, -1\\}")],
)  # fmt: skip

# --- inequalities ------------------------------------------------------------------------------------
pairs(
    "inequalities",
    [("x > 3", "3 < x"), ("x \\ge 2", "x \\geq 2"), ("x \\le 5", "x<=5"), ("x < -1", "-1 > x"), ("1 < x < 2", "2 > x > 1"),
     ("x \\geq 0", "0 \\leq x"), ("x > y", "y < x"), ("a \\le b", "b \\ge a"), ("x \\ne 3", "x \\neq 3"),
     ("x > \\frac{1}{2}", "x > 0.5"), ("k \\geq 4", "4 \\le k"), ("-2 < x \\le 3", "(-2, 3]"), ("2x > 6", "x > 3"),
     ("x \\leq -\\frac{3}{2}", "x \\le -1.5"), ("t < 10", "t \\lt 10")],
    [("x > 3", "x \\ge 3"), ("x > 3", "x < 3"), ("x \\le 5", "x \\ge 5"), ("x < -1", "x < 1"), ("1 < x < 2", "1 \\le x \\le 2"),
     ("x > y", "x < y"), ("x \\ne 3", "x = 3"), ("x > \\frac{1}{2}", "x > 2"), ("k \\geq 4", "k > 4"), ("2x > 6", "x > 6"),
     ("x > 3", "3"), ("x \\leq -\\frac{3}{2}", "x \\le \\frac{3}{2}"), ("t < 10", "t > 10"), ("a \\le b", "a \\ge b")],
)  # fmt: skip

# --- matrices and vectors ----------------------------------------------------------------------------
M22 = "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"
pairs(
    "matrices",
    [(M22, "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"), (M22, "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}"),
     ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "(1, 2)"),
     ("\\begin{pmatrix} \\frac{1}{2} & 0 \\\\ 0 & 1 \\end{pmatrix}", "\\begin{pmatrix} 0.5 & 0 \\\\ 0 & 1 \\end{pmatrix}"),
     ("\\begin{pmatrix} 2 \\\\ -1 \\\\ 3 \\end{pmatrix}", "\\begin{pmatrix}2\\\\-1\\\\3\\end{pmatrix}"),
     ("\\begin{pmatrix} \\sqrt{4} & 1 \\end{pmatrix}", "\\begin{pmatrix} 2 & 1 \\end{pmatrix}"),
     ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\langle 1, 2 \\rangle"),
     ("\\begin{pmatrix} -2 & 3 \\\\ 1 & 0 \\end{pmatrix}", "\\left(\\begin{array}{cc} -2 & 3 \\\\ 1 & 0 \\end{array}\\right)"),
     ("\\begin{pmatrix} 3 \\\\ 0 \\\\ -1 \\end{pmatrix}", "(3, 0, -1)"),
     ("\\begin{pmatrix} x & 0 \\\\ 0 & x \\end{pmatrix}", "\\begin{pmatrix} x & 0 \\\\ 0 & x \\end{pmatrix}"),
     ("\\begin{pmatrix} \\frac{3}{5} \\\\ \\frac{4}{5} \\end{pmatrix}", "\\begin{pmatrix} 0.6 \\\\ 0.8 \\end{pmatrix}"),
     ("\\begin{pmatrix} 1 & 1 \\\\ 0 & 1 \\end{pmatrix}", "\\begin{pmatrix}1 & 1\\\\ 0 & 1\\end{pmatrix}")],
    [(M22, "\\begin{pmatrix} 1 & 3 \\\\ 2 & 4 \\end{pmatrix}"), (M22, "\\begin{pmatrix} 1 & 2 & 3 & 4 \\end{pmatrix}"),
     ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "(2, 1)"), (M22, "\\begin{pmatrix} 3 & 4 \\\\ 1 & 2 \\end{pmatrix}"),
     ("\\begin{pmatrix} 2 \\\\ -1 \\\\ 3 \\end{pmatrix}", "\\begin{pmatrix} 2 \\\\ 1 \\\\ 3 \\end{pmatrix}"),
     ("\\begin{pmatrix} \\frac{1}{2} & 0 \\\\ 0 & 1 \\end{pmatrix}", "\\begin{pmatrix} 2 & 0 \\\\ 0 & 1 \\end{pmatrix}"),
     ("\\begin{pmatrix} 3 \\\\ 0 \\\\ -1 \\end{pmatrix}", "(3, 0, 1)"), ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "3"),
     ("\\begin{pmatrix} x & 0 \\\\ 0 & x \\end{pmatrix}", "\\begin{pmatrix} x & 0 \\\\ 0 & -x \\end{pmatrix}"),
     ("\\begin{pmatrix} 1 & 1 \\\\ 0 & 1 \\end{pmatrix}", "\\begin{pmatrix} 1 & 0 \\\\ 1 & 1 \\end{pmatrix}")],
)  # fmt: skip

# --- complex numbers ---------------------------------------------------------------------------------
pairs(
    "complex",
    [("3+4i", "4i+3"), ("3+4i", "3 + 4\\mathrm{i}"), ("2i", "i \\cdot 2"), ("-1", "i^2"), ("1+i", "\\frac{2}{1-i}"),
     ("\\frac{1}{2} + \\frac{\\sqrt{3}}{2}i", "\\frac{1+i\\sqrt{3}}{2}"), ("2i", "(1+i)^2"), ("-i", "\\frac{1}{i}"),
     ("5", "(2+i)(2-i)"), ("1 - 2i", "1-2i"), ("-1", "e^{i\\pi}"), ("3 - 4i", "-4i + 3"), ("i", "i^5"), ("2+2i", "2(1+i)")],
    [("3+4i", "3-4i"), ("3+4i", "4+3i"), ("2i", "2"), ("-1", "i"), ("1+i", "1-i"), ("2i", "-2i"), ("-i", "i"),
     ("5", "(2+i)^2"), ("1-2i", "-1+2i"), ("i", "i^3"), ("2+2i", "2+i"), ("3 - 4i", "3")],
)  # fmt: skip

# --- infinity ----------------------------------------------------------------------------------------
pairs(
    "infinity",
    [("\\infty", "\\infty"), ("\\infty", "\u221e"), ("-\\infty", "-\u221e"), ("\\infty", "+\\infty"), ("\\infty", "infinity"),
     ("-\\infty", "- \\infty"), ("(0, \\infty)", "(0,\u221e)"), ("\\infty", "\\infty.")],
    [("\\infty", "-\\infty"), ("\\infty", "0"), ("\\infty", "1000000"), ("-\\infty", "\\infty"), ("(0, \\infty)", "(0, 100)"),
     ("\\infty", "1")],
)  # fmt: skip

# --- algebraic expressions ---------------------------------------------------------------------------
pairs(
    "expressions",
    [("x^2+2x+1", "(x+1)^2"), ("(r+5)^2", "(r+5)(r+5)"), ("\\frac{x}{2}", "0.5x"), ("2(x+3)", "2x+6"),
     ("\\frac{1}{x} + \\frac{1}{y}", "\\frac{x+y}{xy}"), ("\\sin^2 x + \\cos^2 x", "1"), ("\\frac{n(n+1)}{2}", "\\frac{n^2+n}{2}"),
     ("\\sqrt{1/n}", "\\frac{1}{\\sqrt{n}}"), ("a^2 - b^2", "(a-b)(a+b)"), ("\\log_2 8", "3"), ("\\ln(e^3)", "3"),
     ("2\\sin x \\cos x", "\\sin 2x"), ("\\frac{x^2-1}{x-1}", "x+1"), ("\\binom{5}{2}", "10"), ("5!", "120"),
     ("|-3|", "3"), ("\\frac{a+b}{2}", "\\frac{b+a}{2}"), ("x^3 - 1", "(x-1)(x^2+x+1)"), ("e^{\\ln 2}", "2"),
     ("\\frac{2}{\\sqrt{3}}", "\\frac{2\\sqrt{3}}{3}"), ("3x+2y", "2y+3x"), ("1-\\frac{1}{e}", "\\frac{e-1}{e}"),
     ("\\frac{\\sqrt{2}}{2}", "\\sin\\frac{\\pi}{4}"), ("2^{n+1}", "2 \\cdot 2^n"), ("\\log 100", "2\\log 10"),
     ("\\frac{1}{\\sqrt{x}}", "x^{-1/2}"), ("(a+b)^2", "a^2+2ab+b^2"), ("\\frac{3}{x-2}", "\\frac{-3}{2-x}")],
    [("x^2+1", "(x+1)^2"), ("2(x+3)", "2x+3"), ("x", "|x|"), ("\\frac{n(n+1)}{2}", "\\frac{n(n-1)}{2}"),
     ("a^2-b^2", "(a-b)^2"), ("1-\\frac{1}{e}", "1+\\frac{1}{e}"), ("\\sin 2x", "2\\sin x"), ("x^3 - 1", "(x-1)^3"),
     ("\\log_2 8", "4"), ("5!", "25"), ("\\frac{x}{2}", "2x"), ("3x+2y", "3y+2x"), ("\\frac{1}{x}+\\frac{1}{y}", "\\frac{1}{x+y}"),
     ("\\sqrt{x^2}", "x"), ("(a+b)^2", "a^2+b^2"), ("2^{n+1}", "2^n + 1"), ("\\frac{3}{x-2}", "\\frac{3}{2-x}"),
     ("\\binom{5}{2}", "20"), ("e^{\\ln 2}", "e^2"), ("\\frac{\\sqrt{2}}{2}", "\\cos\\frac{\\pi}{3}")],
)  # fmt: skip
pairs(
    "expressions",
    [("\\cos^2\\theta", "1-\\sin^2\\theta"), ("\\frac{\\sin x}{\\cos x}", "\\tan x"), ("e^{-1}", "\\frac{1}{e}"),
     ("\\log_{10} 1000", "3")],
    [("\\cos^2\\theta", "1+\\sin^2\\theta"), ("\\tan x", "\\cot x"), ("e^{-1}", "-e")],
)  # fmt: skip
for c in CASES:
    if c["category"] == "expressions" and c["gold"] == "1-\\frac{1}{e}" and not c["expected"]:
        c["note"] = "labelled true in a peer's suite; 1 - 1/e and 1 + 1/e differ"

pairs(
    "units",
    [("4\\pi", "4\\pi\\text{ cm}^2"), ("36\\pi", "36\\pi \\text{ cubic inches}"), ("5", "5\\text{ m/s}^2")],
    [("4\\pi", "4\\text{ cm}^2"), ("36\\pi", "36 \\text{ cubic inches}")],
)  # fmt: skip

# --- multiple choice ---------------------------------------------------------------------------------
_MC = [
    ("C", "After checking each option, the answer is (C).", True),
    ("C", "Answer: (C)", True),
    ("B", "Option (A) fails for n = 2, and (C) overcounts.\n\n**Answer: B**", True),
    ("D", "The correct option is $\\boxed{D}$.", True),
    ("A", "So the final answer is $\\boxed{\\text{(A)}}$", True),
    ("(E)", "Therefore the answer is E.", True),
    ("B", "<think>It could be (A)... no, it is (B).</think>\nThe answer is (B) 12.", True),
    ("\\text{(C)}", "The answer is $\\boxed{C}$.", True),
    ("A", "Answer: A) 3/4", True),
    ("D", "Hence the answer is \\boxed{(D)}.", True),
    ("C", "Final answer: C", True),
    ("B", "I pick option B.\nAnswer: (B)", True),
    ("C", "After checking each option, the answer is (B).", False),
    ("C", "Answer: (A)", False),
    ("B", "Option (B) fails for n = 2, while (C) works.\n\n**Answer: C**", False),
    ("D", "The correct option is $\\boxed{A}$.", False),
    ("A", "So the final answer is $\\boxed{\\text{(E)}}$", False),
    ("(E)", "Therefore the answer is D.", False),
    ("B", "<think>It could be (B)... no, it is (A).</think>\nThe answer is (A) 12.", False),
    ("\\text{(C)}", "The answer is $\\boxed{B}$.", False),
    ("A", "Answer: B) 3/4", False),
    ("D", "<think>The answer is (D)", False),
    ("C", "Final answer: D", False),
    ("B", "The answer is 12.", False),
]
for gold, completion, expected in _MC:
    raw("multiple_choice", gold, completion, expected)

# --- short text answers -----------------------------------------------------------------------------
pairs(
    "text",
    [("\\text{Monday}", "monday"), ("\\text{even}", "\\text{Even}"), ("\\text{yes}", "Yes"), ("no", "\\text{No}"),
     ("\\text{no solution}", "\\text{No Solution}"), ("\\text{odd}", "\\text{odd}"), ("East", "\\text{east}"),
     ("\\text{Tuesday}", "\\textbf{Tuesday}"), ("\\text{infinitely many}", "\\text{infinitely many}"),
     ("\\text{circle}", "\\text{Circle}"), ("Alice", "\\text{alice}"), ("\\text{December}", "\\text{december}"),
     ("\\text{non-negative}", "\\text{nonnegative}"), ("\\text{parabola}", "\\mathrm{parabola}")],
    [("\\text{Monday}", "\\text{Tuesday}"), ("\\text{even}", "\\text{odd}"), ("yes", "\\text{no}"), ("\\text{east}", "\\text{seat}"),
     ("Alice", "\\text{Bob}"), ("\\text{circle}", "\\text{ellipse}"), ("\\text{December}", "\\text{November}"),
     ("\\text{no solution}", "0"), ("\\text{infinitely many}", "1"), ("\\text{odd}", "\\text{even}"),
     ("\\text{parabola}", "\\text{hyperbola}"), ("no", "\\text{yes}")],
)  # fmt: skip

# --- extraction from whole responses ---------------------------------------------------------------
R = "First, 2 + 3 = 5, and $x^2 = 9$ gives $x = 3$ or $x = -3$. Then 7 * 6 = 42."
_EXTRACTION = [
    ("42", f"<think>{R}</think>\nThe answer is $\\boxed{{42}}$.", True, "last box after </think>"),
    ("42", f"<think>{R} So \\boxed{{42}}", False, "<think> never closed: nothing is extracted"),
    ("5", f"<think>{R} maybe \\boxed{{5}}</think>\nActually the answer is $\\boxed{{6}}$.", False, "box inside think ignored"),
    ("6", f"<think>{R} maybe \\boxed{{5}}</think>\nActually the answer is $\\boxed{{6}}$.", True, ""),
    ("12", f"{R} First I got \\boxed{{10}}, but correcting the sign error gives \\boxed{{12}}.", True, "last box wins"),
    ("10", f"{R} First I got \\boxed{{10}}, but correcting the sign error gives \\boxed{{12}}.", False, "last box wins"),
    ("\\frac{1}{2}", f"{R} The answer is $\\boxed{{\\frac{{1}}{{2}}}}$.", True, "nested braces"),
    ("\\frac{1}{2}", f"{R} The answer is $\\boxed{{\\frac{{1}}{{2}}", False, "truncated box"),
    ("7", f"{R} Hence \\fbox{{7}}.", True, "\\fbox"),
    ("7", f"{R}\nFinal Answer: The final answer is 7. I hope it is correct.", True, "Minerva format"),
    ("8", f"{R}\nFinal Answer: The final answer is 7. I hope it is correct.", False, "Minerva format"),
    ("7", f"{R}\n\n**Answer:** 7", True, "bold Answer:"),
    ("-7", f"{R}\n\n**Answer:** 7", False, ""),
    ("\\frac{3}{4}", f"{R}\nAnswer: $\\frac{{3}}{{4}}$", True, "Answer: line with a formula"),
    ("\\frac{3}{4}", f"{R}\nSo the final answer is $\\frac{{3}}{{4}}$.", True, "final answer is ..."),
    ("\\frac{4}{3}", f"{R}\nSo the final answer is $\\frac{{3}}{{4}}$.", False, ""),
    ("9", f"{R}\n\nCombining the two cases, the total is $9$.", True, "last formula"),
    ("3", f"{R}\n\nCombining the two cases, the total is $9$.", False, "last formula, not an earlier one"),
    ("18", f"{R}\n\nShe has 18 apples left.", True, "last number"),
    ("42", f"{R}\n\nShe has 18 apples left.", False, "last number of the final paragraph"),
    ("2, 3", f"{R} The roots are $\\boxed{{2}}$ and $\\boxed{{3}}$.", True, "adjacent boxes are one answer"),
    ("3", f"{R} The roots are $\\boxed{{2}}$ and $\\boxed{{3}}$.", False, "adjacent boxes are one answer"),
    ("5", "I am not sure how to solve this problem.", False, "no answer at all"),
    ("24", f"{R}\n**Final Answer**\n\n24", True, "answer on the line after the heading"),
    ("\\sqrt{2}", f"{R} Therefore the length is $\\boxed{{\\sqrt{{2}}}}$ units.", True, ""),
    ("\\sqrt{2}", f"{R} Therefore the length is $\\boxed{{\\sqrt{{3}}}}$ units.", False, ""),
    ("16", "<think>\n" + R * 3 + "\n</think>\n\nThe area is $4^2 = \\boxed{16}$.", True, ""),
    ("100", f"{R}\nThe answer is \\boxed{{100}}\n\nThis matches the estimate of 90.", True, "box before a trailing remark"),
    ("90", f"{R}\nThe answer is \\boxed{{100}}\n\nThis matches the estimate of 90.", False, "box before a trailing remark"),
    ("x^2", f"{R}\nThus $f(x) = \\boxed{{x^2}}$.", True, ""),
    ("11", f"{R}\nThe answer is: 11", True, ""),
    ("\\frac{1}{6}", f"{R}\nThe probability is therefore \\(\\frac{{1}}{{6}}\\).", True, "last \\(...\\) formula"),
]
_BOXES = f"{R} The interest is $\\boxed{{200}}$, then $\\boxed{{255}}$, so $10,200 + $255 = $10,455.\nFinal Answer: The final answer is $10,455$. I hope it is correct."
_EXTRACTION += [
    ("10455", _BOXES, True, "a final statement after intermediate boxes"),
    ("255", _BOXES, False, "a final statement after intermediate boxes"),
    ("120", f"{R}\nFinal Answer: The volume of $ABCD$ is 120. I hope it is correct.", True, "prose statement"),
    ("5", "The final answer is: $\\boxed{5}$", True, ""),
    ("5", f"{R}\n$$\\boxed{{5}}$$", True, ""),
    ("5", f"{R}\nThus, the answer is **5**.", True, ""),
    ("5, 6", f"{R}\nThe answer is 5 or 6.", True, ""),
    ("(2, 2), (6, 2)", f"{R} $$\\boxed{{(2, 2)}} \\quad \\text{{and}} \\quad \\boxed{{(6, 2)}}$$", True, "adjacent boxes"),
    ("\\frac{10}{9}", "\\frac{10}{9}", True, "a response that is only the answer"),
    ("9", "\\frac{10}{9}", False, "a response that is only the answer"),
    ("12", f"{R}\n\nEach one has $d = \\frac{{90}}{{n}}$, so there are 12 such sequences.", True, "the later of formula and number"),
    ("1000", f"{R}\n\nIt costs 1 000 dollars.", True, "spaced thousands"),
    ("0.4", f"{R}\n\nSo the probability is .4", True, ""),
    ("y = -\\frac{1}{2}x + \\frac{3}{4}", f"{R}\n\nSo the line is $y = -\\frac{{1}}{{2}}x + \\frac{{3}}{{4}}$.", True, "an equation stays whole"),
    ("\\frac{3}{4}", f"{R}\n\nSo the line is $y = -\\frac{{1}}{{2}}x + \\frac{{3}}{{4}}$.", False, "an equation stays whole"),
]
for gold, completion, expected, note in _EXTRACTION:
    raw("extraction", gold, completion, expected, note)


# --- conventions other graders' suites label (matrices, approximations, labels, chains, languages) -------
_PM = "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}"
_SWAP = "\\begin{pmatrix} 0 & 1 \\\\ 1 & 0 \\end{pmatrix}"
pairs(
    "peer_conventions",
    [(_PM, "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}"), ("\\begin{bmatrix} 2 & -1 \\\\ 0 & 3 \\end{bmatrix}",
      "\\begin{matrix} 2 & -1 \\\\ 0 & 3 \\end{matrix}"),
     ("\\frac{\\sqrt{3}}{3}", "\\frac{\\sqrt{3}}{3} \\approx 0.577"), ("2\\sqrt{5}", "2\\sqrt{5} \\approx 4.47"),
     ("\\frac{\\pi}{4}", "\\frac{\\pi}{4} \\approx 0.785"),
     ("\\frac{NO}{BO}=\\frac{1}{\\sqrt{6}}", "\\frac{\\sqrt{6}}{6}"), ("\\frac{AE}{EC} = \\frac{2}{3}", "\\frac{4}{6}"),
     ("\\angle ABC = 45^\\circ", "45"), ("\\sin A = \\frac{3}{5}", "0.6"), ("\\frac{1}{\\sqrt{6}}", "\\frac{NO}{BO} = \\frac{\\sqrt{6}}{6}"),
     ("\\begin{pmatrix} 6 & 8 \\\\ 10 & 12 \\end{pmatrix}", _PM + " + \\begin{pmatrix} 5 & 6 \\\\ 7 & 8 \\end{pmatrix}"),
     ("\\begin{pmatrix} -4 & -4 \\\\ -4 & -4 \\end{pmatrix}", _PM + " - \\begin{pmatrix} 5 & 6 \\\\ 7 & 8 \\end{pmatrix}"),
     ("\\begin{pmatrix} 2 & 1 \\\\ 4 & 3 \\end{pmatrix}", _PM + " " + _SWAP), ("\\begin{pmatrix} 3 & 4 \\\\ 1 & 2 \\end{pmatrix}", _SWAP + _PM),
     ("\\begin{pmatrix} 2 & 4 \\\\ 6 & 8 \\end{pmatrix}", "2" + _PM), (_PM, "\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix} \\cdot " + _PM),
     ("\\frac{1}{2} ab = \\frac{1}{2} \\cdot 4 \\cdot 6 = 12", "12"), ("m + n = 3 + 4 = 7", "7"), ("7", "m + n = 3 + 4 = 7"),
     ("\\boxed{2}, \\boxed{3}", "2, 3"), ("\\boxed{4} \\text{ red and } \\boxed{7} \\text{ blue}", "4, 7"),
     ("\\boxed{(1, 2)} \\text{ and } \\boxed{(3, 4)}", "(3, 4), (1, 2)"),
     ("14{,}916", "2 \\cdot 7458"), ("14916", "14 {, }916")],
    [(_PM, "\\begin{vmatrix} 1 & 2 \\\\ 3 & 4 \\end{vmatrix}"), (_PM, "\\begin{bmatrix} 1 & 2 \\\\ 4 & 3 \\end{bmatrix}"),
     ("\\frac{\\sqrt{3}}{3}", "\\frac{\\sqrt{2}}{3} \\approx 0.471"), ("\\frac{22}{7}", "\\pi \\approx 3.14"),
     ("\\frac{AE}{EC} = \\frac{2}{3}", "\\frac{3}{2}"), ("2x = 6", "6"), ("x + y = 5", "5"), ("\\angle ABC = 45^\\circ", "135"),
     ("\\begin{pmatrix} 6 & 8 \\\\ 10 & 12 \\end{pmatrix}", _PM + " - \\begin{pmatrix} 5 & 6 \\\\ 7 & 8 \\end{pmatrix}"),
     ("\\begin{pmatrix} 2 & 1 \\\\ 4 & 3 \\end{pmatrix}", _SWAP + " " + _PM),
     ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 1 & 0 \\end{pmatrix} + \\begin{pmatrix} 0 \\\\ 2 \\end{pmatrix}"),
     ("m + n = 3 + 4 = 7", "12"), ("\\boxed{4} \\text{ red and } \\boxed{7} \\text{ blue}", "7"),
     ("\\boxed{4} \\text{ red and } \\boxed{7} \\text{ blue}", "4, 8")],
)  # fmt: skip
case("peer_conventions", "10, 4, -2", "4, 10, -2", True, _UNORDERED)
case("peer_conventions", "1,22", "1.22", False, "MathPolicy(decimal_comma=False): 1,22 is the list 1, 22")
case("peer_conventions", "1000.99", "1000,99", False, "MathPolicy(decimal_comma=False): 1000,99 is the list 1000, 99")
_SOLUTION = "Adding gives $\\boxed{12}$ marbles in the first bag.\n\nWith the second bag the total is $\\boxed{20}$."
_PEER_RESPONSES = [
    (_SOLUTION, "So there are 20 marbles.\nThe answer is $\\boxed{20}$.", True, "a gold solution: its last box"),
    (_SOLUTION, "So there are 12 marbles.\nThe answer is $\\boxed{12}$.", False, "a gold solution: its last box"),
    ("\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}", "\\begin{bmatrix} 1 & 0 \\\\ 0 & 1 \\end{bmatrix}", True, "a bare matrix answer"),
    ("\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}", "\\begin{bmatrix} 1 & 0 \\\\ 0 & -1 \\end{bmatrix}", False, "a bare matrix answer"),
    ("5", "答案是 5。\n\n验证：2 + 3 = 5，共检查 2 次。", True, "an answer statement in Chinese"),
    ("2", "答案是 5。\n\n验证：2 + 3 = 5，共检查 2 次。", False, "an answer statement in Chinese"),
    ("12", "最终答案：12（每盒 3 个，共 4 盒）", True, "an answer statement in Chinese"),
    ("7", "La réponse est 7.\n\nVérification : 3 + 4 = 7, en 2 étapes.", True, "an answer statement in French"),
    ("2", "La réponse est 7.\n\nVérification : 3 + 4 = 7, en 2 étapes.", False, "an answer statement in French"),
    ("9", "Die Antwort ist 9.\n\nProbe: 4 + 5 = 9, in 2 Schritten.", True, "an answer statement in German"),
    ("2", "Die Antwort ist 9.\n\nProbe: 4 + 5 = 9, in 2 Schritten.", False, "an answer statement in German"),
    ("15", "La respuesta es 15.\n\nComprobación: 7 + 8 = 15 en 2 pasos.", True, "an answer statement in Spanish"),
    ("2", "La respuesta es 15.\n\nComprobación: 7 + 8 = 15 en 2 pasos.", False, "an answer statement in Spanish"),
    ("\\frac{2}{5}", "把 2 吨平均分成 5 份。答案：每份是 $\\frac{2}{5}$ 吨。", True, "a statement in Chinese prose"),
    ("48", "每箱有 12 个苹果，4 箱一共有 12 × 4 = 48 个苹果。", True, "Chinese prose: its last computation"),
    ("12", "每箱有 12 个苹果，4 箱一共有 12 × 4 = 48 个苹果。", False, "Chinese prose: its last computation"),
    ("300", "每分钟放水 40 升，水池的水将在300分钟内放完。", True, "Chinese prose: its last number"),
    ("40", "每分钟放水 40 升，水池的水将在300分钟内放完。", False, "Chinese prose: its last number"),
]
for gold, completion, expected, note in _PEER_RESPONSES:
    raw("peer_conventions", gold, completion, expected, note)


def main() -> None:
    out = Path(__file__).with_name("math_verifier_cases.jsonl")
    with out.open("w") as f:
        for entry in CASES:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    print(f"wrote {len(CASES)} cases to {out}")


if __name__ == "__main__":
    main()

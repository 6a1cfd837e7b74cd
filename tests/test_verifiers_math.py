"""Math verifier: extraction, normalisation, equivalence, policies, batches and the TRL reward."""

from __future__ import annotations

import pytest

from verifiers import VerifierError
from verifiers.math import (
    MathPolicy,
    MathVerdict,
    answers_equal,
    compare,
    extract_final_answer,
    extract_gold,
    math_accuracy_reward,
    normalize_answer,
    verify,
    verify_batch,
)
from verifiers.math.equivalence import decide_fast

# --- extraction ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"so \boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"first \boxed{1}, finally \boxed{x^{2}+\frac{a}{b}}", r"x^{2}+\frac{a}{b}"),
        (r"\fbox{42}", "42"),
        (r"\boxed{\{1,2\}}", r"\{1,2\}"),
        (r"\boxed 7$", "7"),
        ("<think>maybe \\boxed{1}</think>It is \\boxed{2}.", "2"),
        ("reasoning \\boxed{1}</think>\\boxed{3}", "3"),  # template-prefilled <think>
        ("reasoning</think>\nAnswer: 12", "12"),
        ("So the answer is $\\frac{3}{4}$.", r"\frac{3}{4}"),
        (r"The roots are $\boxed{2}$ and $\boxed{3}$.", "2, 3"),  # adjacent boxes form one answer
        (r"I first wrote \boxed{2}. After fixing the sign the result is \boxed{3}.", "3"),
        ("Final Answer: The final answer is $7$. I hope it is correct.", "7"),
        ("Final Answer: The final answer is 7. I hope it is correct.", "7"),
        ("Some work.\n\n**Answer:** 15", "15"),
        ("Some work.\n\n**Final Answer**\n\n$24$", "24"),
        ("Checking all options.\nAnswer: (C)", "(C)"),
        ("We get $x = 2$ and then the total is $2 + 7 = 9$.", "9"),  # a computation gives its result
        ("So the line is $y = -\\frac{1}{2}x + \\frac{3}{4}$.", r"y = -\frac{1}{2}x + \frac{3}{4}"),  # an equation stays
        ("So there are 12 sequences with $d = \\frac{90}{n}$ each... I count 12 in total.", "12"),  # the later item
        ("Final Answer: The volume of $ABCD$ is 120. I hope it is correct.", "120"),  # prose statement
        (r"We get \boxed{200}, then \boxed{255}. Final Answer: The final answer is $10,455$.", "10,455"),
        ("\\frac{10}{9}", r"\frac{10}{9}"),  # the whole response is an answer
        (".4", ".4"),
        ("It costs 1 000 dollars.", "1 000"),
        (r"$\boxed{(2, 2)} \quad \text{and} \quad \boxed{(6, 2)}$", "(2, 2), (6, 2)"),
        ("Work: 3 + 4 = 7.\n\nShe pays 12 dollars in total.", "12"),  # last number of the last paragraph
        ("The probability is \\(\\frac{1}{6}\\).", r"\frac{1}{6}"),
    ],
)
def test_extracts_the_final_answer(text: str, expected: str) -> None:
    assert extract_final_answer(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "<think>still thinking \\boxed{5}",  # unclosed reasoning: nothing inside it counts
        "<think>r</think>no answer here, just words",
        r"\boxed{3} then truncated \boxed{\frac{1}{",  # last box unclosed: do not fall back to an earlier one
        r"\boxed{}",
        "",
        "Answer: " + "x" * 300,  # fallbacks take short answers only
    ],
)
def test_no_answer_cases(text: str) -> None:
    assert extract_final_answer(text) is None


def test_require_boxed_disables_fallbacks() -> None:
    assert extract_final_answer("Answer: 12", require_boxed=True) is None
    assert extract_final_answer("so 5 apples", require_boxed=True) is None
    assert extract_final_answer(r"Answer: 12, or rather \boxed{13}", require_boxed=True) == "13"


def test_choice_letters_are_found_when_the_gold_is_a_letter() -> None:
    text = "Option (A) fails and (B) overcounts, so it must be (D)."
    assert extract_final_answer(text, choice=True) == "D"
    assert extract_final_answer(text) is None  # no statement, formula or number to fall back to


@pytest.mark.parametrize(
    ("gold", "expected"),
    [
        ("$\\frac{1}{2}$", "$\\frac{1}{2}$"),
        (12, "12"),
        (["7"], "7"),
        ("She sold 48 + 24 = 72 clips. #### 72", "72"),
        (r"... so the area is $\boxed{12\pi}$.", r"12\pi"),
        ("", None),
        ("   ", None),
        (None, None),
        (True, None),
        (r"\frac{1}{", None),
        (r"\boxed{", None),
    ],
)
def test_extract_gold(gold: object, expected: str | None) -> None:
    assert extract_gold(gold) == expected


# --- normalisation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (r"$\left( 1, 2 \right)$.", "(1,2)"),
        (r"\dfrac{1}{2}", r"\frac{1}{2}"),
        (r"\tfrac12", r"\frac{1}{2}"),
        (r"10\text{ cm}", "10"),
        (r"5\,\text{cm}^2", "5"),
        (r"\text{Monday}", "Monday"),
        (r"90^\circ", "90"),
        (r"45^{\circ}", "45"),
        (r"50\%", "50%"),
        (r"1\!000", "1000"),
        (r"\pi r^2", r"\pi r^2"),
        ("  7 . ", "7"),
        (r"x \leqslant 3", r"x\le 3"),
        ("x <= 3", r"x\le 3"),
        ("\u03c0 \u2212 1", r"\pi-1"),
        (r"0.\overline{3}", r"\frac{3}{9}"),
        (r"\$18", "18"),
        (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", r"\begin{pmatrix}1\cr 2\end{pmatrix}"),
    ],
)
def test_normalize_answer(raw: str, expected: str) -> None:
    assert normalize_answer(raw) == expected


# --- equivalence, category by category ---------------------------------------------------------------

EQUAL = [
    # integers: separators and signs
    ("1,000", "1000"), ("1\\,000", "1000"), ("1 000", "1000"), ("+5", "5"), ("\u22125", "-5"), ("12.0", "12"),
    # decimals and fractions
    (r"\frac{1}{2}", "0.5"), ("0.5", "1/2"), ("1/2", r"\frac{1}{2}"), (r"\dfrac12", ".5"), (r"-\frac{3}{4}", "-0.75"),
    (r"\frac{-1}{4}", r"-\frac14"), ("0.333333", r"\frac{1}{3}"), (r"0.1\overline{6}", r"\frac{1}{6}"),
    # mixed numbers
    (r"2\frac{1}{2}", r"\frac{5}{2}"), (r"-1\frac{1}{3}", r"-\frac{4}{3}"),
    # roots, pi, powers
    (r"2\sqrt{2}", r"\sqrt{8}"), (r"\frac{\sqrt{3}}{2}", r"\sqrt{3}/2"), (r"\sqrt[3]{8}", "2"), (r"\sqrt[3]{-27}", "-3"),
    (r"2\pi r", r"2r\pi"), (r"\pi", "3.14159265"), ("2^{10}", "1024"), ("2^10", "1024"), (r"\pi", "3.14"),
    # scientific notation
    (r"3\times 10^{8}", "300000000"), ("1.5e-3", "0.0015"), (r"2.5\cdot10^{4}", "25000"),
    # degrees and units
    (r"30^\circ", "30"), ("45\u00b0", "45"), (r"10\text{ cm}", "10"), ("12 apples", "12"), (r"\$18", "18"),
    # "x = 3" and equations
    ("x = 2", "2"), ("2", "x=2"), ("f(3) = 12", "12"), (r"x = \frac{12}{2} = 6", "6"), ("y = 5 - x", "x+y=5"),
    ("2x - y + 1 = 0", "y = 2x + 1"),
    # plus-minus, tuples, intervals, sets, inequalities
    (r"2+\sqrt{3}, 2-\sqrt{3}", r"2 \pm \sqrt{3}"), (r"x = \pm 3", "3, -3"), ("(1, 2)", "(1,2)"),
    (r"\left(3, \frac{1}{2}\right)", "(3,0.5)"), ("x = 1, y = 2", "(1, 2)"), ("(0,1]", r"\left(0, 1\right]"),
    ("x < 3", r"(-\infty, 3)"), (r"x < -1 \text{ or } x > 2", r"(-\infty,-1)\cup(2,\infty)"), (r"\mathbb{R}", r"(-\infty, \infty)"),
    ("3, 2", "2, 3"), (r"2 \text{ or } 3", r"\{2, 3\}"), (r"\varnothing", r"\emptyset"), ("3 < x", "x > 3"),
    ("2 > x > 1", "1 < x < 2"), ("y < x", "x > y"), ("x > 3", "2x > 6"),
    # matrices and vectors
    (r"\begin{bmatrix}1&2\\3&4\end{bmatrix}", r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}"),
    ("(1, 2)", r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}"),
    # complex numbers and infinity
    ("4i+3", "3+4i"), ("(1+i)^2", "2i"), (r"e^{i\pi}", "-1"), ("+\\infty", "\\infty"), ("\u221e", "\\infty"),
    # expressions
    ("x^2+2x+1", "(x+1)^2"), (r"\sin^2 x+\cos^2 x", "1"), (r"\sin x", r"\sin(x)"), (r"\frac{1}{\sqrt{n}}", r"\sqrt{1/n}"),
    ("(r+5)(r+5)", "(r+5)^2"), (r"\log_2 8", "3"), (r"\binom{5}{2}", "10"), ("5!", "120"), ("|x-1|", "|1-x|"),
    # choice letters and words
    (r"\text{(C)}", "C"), ("(b)", "B"), ("monday", r"\text{Monday}"), ("No Solution", r"\text{no solution}"),
    ("12", r"solution ... \boxed{12}"), ("72", "She sold 48 + 24 = 72 clips. #### 72"),
    # groups of named values, TeX written without a space, a stray backslash
    ("(5,2),(7,2)", "p=5,q=2;p=7,q=2"), (r"\sqrt{2}, -\sqrt{2}", r"x_1 = \sqrt{2},\quadx_2 = -\sqrt{2}"), ("185\\", "185"),
]  # fmt: skip

DIFFERENT = [
    ("3", "4"), ("1000001", "1000000"), ("0.33", "1/3"), ("0.3333", "1/3"), ("3.14", r"\pi"), ("0.5", "50"), ("2", "200"),
    ("1, 000", "1000"), ("x^2+1", "(x+1)^2"), ("(2, 1)", "(1, 2)"), ("[1, 2)", "(1, 2)"), ("[0,1)", "(0,1]"),
    ("(1, 2, 3)", "(1, 2)"), ("1/0", "1"), ("__import__('os').system('true')", "1"), (r"\frac{1}{", "1"), ("", "1"),
    ("seat", "east"), ("x", "|x|"), ("x", r"\sqrt{x^2}"), ("4", r"4\sqrt{2}"), (r"1+\frac1e", r"1-\frac1e"),
    ("3x+4y+14=0", "3x-y+13=0"), ("x + y = 5", "5"), ("x \\ge 3", "x > 3"), ("x < 3", "x > 3"), ("3", "x > 3"),
    ("2", r"\pm 2"), ("2, -3", "2, 3"), ("2, 3, 4", "2, 3"), (r"\{0\}", r"\emptyset"), ("3-4i", "3+4i"), ("i", "-i"),
    ("-\\infty", "\\infty"), (r"\begin{pmatrix} 1 & 3 \\ 2 & 4 \end{pmatrix}", r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}"),
    ("(2, 1)", r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}"), ("B", "C"), ("odd", "even"), ("-2^2", "4"), (r"2\frac{1}{2}", "1"),
    (r"\sin x^2", r"\sin^2 x"), (r"\frac{\pi}{4}", "45"), ("(2,5),(7,2)", "p=5,q=2;p=7,q=2"),
]  # fmt: skip


@pytest.mark.parametrize(("pred", "gold"), EQUAL)
def test_equal_answers(pred: str, gold: str) -> None:
    assert answers_equal(pred, gold)


@pytest.mark.parametrize(("pred", "gold"), DIFFERENT)
def test_different_answers(pred: str, gold: str) -> None:
    assert not answers_equal(pred, gold)


@pytest.mark.parametrize(("pred", "gold"), EQUAL + DIFFERENT)
def test_fast_path_never_contradicts_sympy(pred: str, gold: str) -> None:
    """The in-process plain-number path either defers or gives the verdict the full comparison gives."""
    gold_text = extract_gold(gold)
    fast = decide_fast(pred, gold_text) if gold_text is not None else None
    assert fast is None or fast == compare(pred, gold_text)


def test_fast_path_decides_plain_numbers_without_sympy() -> None:
    assert decide_fast("1,000", "1000") == "equivalent"
    assert decide_fast(r"2\frac{1}{2}", "2.5") == "equivalent"
    assert decide_fast("3, 2", "2, 3") == "equivalent"
    assert decide_fast("7", "8") == "not equal"
    assert decide_fast(r"\sqrt{2}", "2") is None  # needs sympy: decided in a worker


def test_unparseable_gold_is_reported() -> None:
    assert compare("1", r"\frac{1}{") == "unparseable gold"
    assert compare("1", r"\unknowncommand{2}") == "unparseable gold"
    assert compare("1", "9^{9^{9^{9}}}") == "unparseable gold"  # too large to compute: cannot be judged


# --- policies ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "fifty_percent_vs_50", "fifty_percent_vs_half"),
    [("either", True, True), ("number", True, False), ("fraction", False, True)],
)
def test_percent_policy(policy: str, fifty_percent_vs_50: bool, fifty_percent_vs_half: bool) -> None:
    p = MathPolicy(percent=policy)  # type: ignore[arg-type]
    assert (compare("50", r"50\%", p) == "equivalent") is fifty_percent_vs_50
    assert (compare("0.5", r"50\%", p) == "equivalent") is fifty_percent_vs_half
    assert (compare(r"50\%", "0.5", p) == "equivalent") is fifty_percent_vs_half
    assert compare(r"50\%", r"50 \%", p) == "equivalent"  # both with the sign: numbers compare
    assert compare("0.5", "50", p) == "not equal"  # no sign anywhere: never rescaled
    assert compare(r"\frac{100}{3}\%", r"33\frac{1}{3}\%", p) == "equivalent"


def test_list_order_policy() -> None:
    ordered = MathPolicy(lists="ordered")
    assert compare("3, 2", "2, 3") == "equivalent"
    assert compare("3, 2", "2, 3", ordered) == "not equal"
    assert compare("2, 3", "2, 3", ordered) == "equivalent"
    assert compare(r"\{3, 2\}", r"\{2, 3\}", ordered) == "equivalent"  # sets never have an order
    assert compare("(2, 3)", "(3, 2)") == "not equal"  # tuples always do


def test_require_boxed_policy() -> None:
    strict = MathPolicy(require_boxed=True)
    assert verify("Answer: 12", "12").correct
    assert verify("Answer: 12", "12", policy=strict) == MathVerdict(False, None, "no answer found")
    assert verify(r"so \boxed{12}", "12", policy=strict).correct


def test_invalid_policy_is_named() -> None:
    with pytest.raises(VerifierError, match="percent must be one of 'either', 'number', 'fraction'"):
        MathPolicy(percent="half")  # type: ignore[arg-type]
    with pytest.raises(VerifierError, match="lists"):
        MathPolicy(lists="sorted")  # type: ignore[arg-type]



# --- conventions other graders' suites agree on ------------------------------------------------------

_M = r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}"
_SWAP = r"\begin{pmatrix} 0 & 1 \\ 1 & 0 \end{pmatrix}"
_SOLUTION = "First, $\\boxed{12}$ marbles are in the red bag.\n\nWith the blue bag the total is $\\boxed{20}$."

PEER_AGREED = [
    # the same matrix in any bracket environment
    (r"\boxed{\begin{bmatrix} 0 & 0 & 1 \\ 0 & 1 & 0 \\ 1 & 0 & 0 \end{bmatrix}}", r"\begin{pmatrix}0&0&1\\0&1&0\\1&0&0\end{pmatrix}"),
    (r"\begin{bmatrix} 1 & 2 \\ 3 & 4 \end{bmatrix}", _M),  # a response that is only a matrix
    (r"\boxed{\begin{matrix} 1 & 2 \\ 3 & 4 \end{matrix}}", _M),
    # an exact value followed by its approximation
    (r"\boxed{\frac{\sqrt{3}}{3} \approx 0.577}", r"\frac{\sqrt{3}}{3}"),
    (r"\boxed{\frac{9.5}{3.14159} \approx 3.02}", r"\frac{9.5}{3.14159}"),
    # a labelled value: one side names a quantity, the other is a pure value
    (r"\boxed{\frac{\sqrt6}{6}}", r"\frac{NO}{BO}=\frac{1}{\sqrt{6}}"),
    (r"\boxed{\frac{NO}{BO} = \frac{\sqrt6}{6}}", r"\frac{1}{\sqrt{6}}"),
    (r"\boxed{45}", r"\angle ABC = 45^\circ"),
    (r"\boxed{0.6}", r"\sin A = \frac{3}{5}"),
    (r"\boxed{x = 3}", "3"),
    # matrix arithmetic written out in the answer
    (r"The sum is $" + _M + r" + \begin{pmatrix} 5 & 6 \\ 7 & 8 \end{pmatrix}$", r"\begin{pmatrix} 6 & 8 \\ 10 & 12 \end{pmatrix}"),
    (r"\boxed{" + _M + _SWAP + "}", r"\begin{pmatrix} 2 & 1 \\ 4 & 3 \end{pmatrix}"),
    (r"\boxed{2" + _M + "}", r"\begin{pmatrix} 2 & 4 \\ 6 & 8 \end{pmatrix}"),
    # a gold that is a whole solution: its last box
    (r"\boxed{20}", _SOLUTION),
    # a chain of equations: its last part
    (r"\boxed{0}", r"1 = \zeta = x = 0"),
    (r"\boxed{12}", r"\frac{1}{2} ab = \frac{1}{2} \cdot 4 \cdot 6 = 12"),
    (r"\boxed{m + n = 3 + 4 = 7}", "7"),
    # several boxed parts against one box holding them all
    (r"\boxed{2, 3}", r"\boxed{2}, \boxed{3}"),
    (r"\boxed{1, 2}", r"\boxed{1} \text{ papers and } \boxed{2} \text{ bins}"),
    # an unboxed final answer in another language
    ("答案是 5。\n\n验证：2 + 3 = 5，共检查 2 次。", "5"),
    ("最终答案：12（每盒 3 个，共 4 盒）", "12"),
    ("La réponse est 7.\n\nVérification : 3 + 4 = 7, en 2 étapes.", "7"),
    ("Die Antwort ist 9.\n\nProbe: 4 + 5 = 9, in 2 Schritten.", "9"),
    ("La respuesta es 15.\n\nComprobación: 7 + 8 = 15 en 2 pasos.", "15"),
    ("每箱有 12 个苹果，4 箱一共有 12 × 4 = 48 个苹果。", "48"),
    ("每分钟放水 40 升，水池的水将在300分钟内放完。", "300"),
    # a thousands separator in a gold the worker reads
    (r"\boxed{2 \cdot 7458}", "14{,}916"),
]

PEER_DIFFERENT = [
    (r"\boxed{\begin{vmatrix} 1 & 2 \\ 3 & 4 \end{vmatrix}}", _M),  # a determinant, not the matrix
    (r"\boxed{\begin{bmatrix} 1 & 2 \\ 4 & 3 \end{bmatrix}}", _M),
    (r"\boxed{\frac{\sqrt{2}}{3} \approx 0.471}", r"\frac{\sqrt{3}}{3}"),
    (r"\boxed{\pi \approx 3.14}", r"\frac{22}{7}"),
    (r"\boxed{\frac{3}{2}}", r"\frac{AE}{EC} = \frac{2}{3}"),
    (r"\boxed{6}", "2x = 6"),  # an unsolved equation, not a labelled value
    (r"\boxed{5}", "x + y = 5"),
    (r"\boxed{x + y = 5}", "5"),
    (r"\boxed{6}", "x^2 = 6"),
    (r"\boxed{" + _SWAP + _M + "}", r"\begin{pmatrix} 2 & 1 \\ 4 & 3 \end{pmatrix}"),  # the product in the other order
    (r"\boxed{" + _M + r" - \begin{pmatrix} 5 & 6 \\ 7 & 8 \end{pmatrix}}", r"\begin{pmatrix} 6 & 8 \\ 10 & 12 \end{pmatrix}"),
    (r"\boxed{\begin{pmatrix} 1 & 0 \end{pmatrix} + \begin{pmatrix} 0 \\ 2 \end{pmatrix}}", r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}"),
    (r"\boxed{12}", _SOLUTION),
    (r"\boxed{m + n = 3 + 4 = 7}", "12"),
    (r"\boxed{2}", r"\boxed{1} \text{ papers and } \boxed{2} \text{ bins}"),
    ("答案是 5。\n\n验证：2 + 3 = 5，共检查 2 次。", "2"),
    ("La réponse est 7.\n\nVérification : 3 + 4 = 7, en 2 étapes.", "2"),
    ("Die Antwort ist 9.\n\nProbe: 4 + 5 = 9, in 2 Schritten.", "2"),
    ("La respuesta es 15.\n\nComprobación: 7 + 8 = 15 en 2 pasos.", "2"),
    ("每箱有 12 个苹果，4 箱一共有 12 × 4 = 48 个苹果。", "12"),
]


@pytest.mark.parametrize(("completion", "gold"), PEER_AGREED)
def test_conventions_shared_with_other_graders(completion: str, gold: str) -> None:
    verdict = verify(completion, gold, timeout=10.0)
    assert verdict.reason == "equivalent", verdict


@pytest.mark.parametrize(("completion", "gold"), PEER_DIFFERENT)
def test_near_misses_of_the_shared_conventions(completion: str, gold: str) -> None:
    verdict = verify(completion, gold, timeout=10.0)
    assert verdict.reason == "not equal", verdict


@pytest.mark.parametrize(("completion", "gold"), PEER_AGREED + PEER_DIFFERENT)
def test_fast_path_never_contradicts_sympy_on_the_shared_conventions(completion: str, gold: str) -> None:
    pred, gold_text = extract_final_answer(completion), extract_gold(gold)
    assert pred is not None and gold_text is not None
    fast = decide_fast(pred, gold_text)
    assert fast is None or fast == compare(pred, gold_text)


def test_statements_in_other_languages_are_fallbacks_that_require_boxed_disables() -> None:
    assert extract_final_answer("答案是 5") == "5"
    assert extract_final_answer("La réponse est 7.") == "7"
    assert extract_final_answer("答案是 5", require_boxed=True) is None
    assert extract_final_answer("Die Antwort ist 9.", require_boxed=True) is None


def test_decimal_comma_policy() -> None:
    comma = MathPolicy(decimal_comma=True)
    assert verify(r"\boxed{1.22}", "1,22").reason == "not equal"  # by default a list of 1 and 22
    assert verify(r"\boxed{1.22}", "1,22", policy=comma).correct
    assert verify(r"\boxed{1000,99}", "1000.99", policy=comma).correct
    assert verify("Le prix est donc 2,74 euros.", "2.74", policy=comma).correct
    assert verify(r"\boxed{2, 3}", "3, 2", policy=comma).correct  # a comma and a space still separate a list
    assert verify(r"\boxed{1,000}", "1000").correct
    assert not verify(r"\boxed{1,000}", "1000", policy=comma).correct  # one, to three places


# --- verify and verify_batch -------------------------------------------------------------------------


def test_verify_equivalent_not_equal_and_missing() -> None:
    assert verify(r"thinking</think>The result is \boxed{\frac{1}{2}}.", "0.5") == MathVerdict(
        True, r"\frac{1}{2}", "equivalent"
    )
    assert verify(r"</think>\boxed{7}", "8") == MathVerdict(False, "7", "not equal")
    assert verify("I do not know", "8") == MathVerdict(False, None, "no answer found")
    assert verify(r"\boxed{2\sqrt{2}}", r"\sqrt{8}") == MathVerdict(True, r"2\sqrt{2}", "equivalent")  # via a worker


@pytest.mark.parametrize("gold", ["", "   ", None, r"\frac{1}{", r"\boxed{", "x" * 5000])
def test_unparseable_gold(gold: object) -> None:
    assert verify(r"\boxed{1}", gold).reason == "unparseable gold"


def test_verify_batch_keeps_order_and_mixes_paths() -> None:
    pairs = [
        (r"\boxed{(x+1)^2}", "x^2+2x+1"),  # worker
        (r"\boxed{4}", "4"),  # fast path
        ("no answer", "4"),
        (r"\boxed{x^2+1}", "(x+1)^2"),  # worker
        (r"\boxed{3}", ""),
    ]
    verdicts = verify_batch(pairs, workers=2)
    assert [v.reason for v in verdicts] == ["equivalent", "equivalent", "no answer found", "not equal", "unparseable gold"]
    assert verdicts[0].extracted == "(x+1)^2"


def test_verify_batch_reports_misuse() -> None:
    with pytest.raises(VerifierError, match="pairs\\[1\\]"):
        verify_batch([("a", "b"), "not a pair"])  # type: ignore[list-item]
    with pytest.raises(VerifierError, match="timeout"):
        verify_batch([("a", "b")], timeout=0)
    with pytest.raises(VerifierError, match="workers"):
        verify_batch([(r"\boxed{x}", "y")], workers=0)


def test_malformed_completion_gives_an_error_verdict_not_an_exception() -> None:
    verdicts = verify_batch([(object(), "1"), (r"\boxed{1}", "1")])
    assert verdicts[0] == MathVerdict(False, None, "error")
    assert verdicts[1].correct


def test_verdict_as_dict() -> None:
    assert MathVerdict(True, "2", "equivalent").as_dict() == {"correct": True, "extracted": "2", "reason": "equivalent"}
    assert MathVerdict(False, None, "timeout").judged is False


# --- TRL reward -------------------------------------------------------------------------------------


def test_reward_scores_and_masks_in_one_batch() -> None:
    completions = [
        r"\boxed{0.5}",  # equivalent (sympy-free)
        r"\boxed{2\sqrt{2}}",  # equivalent via sympy in a worker
        r"\boxed{3}",  # not equal
        "no box",  # no answer found
        r"\boxed{\sqrt{-x^2-1}(\sin x+\cos x+\tan x)^{30}}",  # sympy runs past the timeout: killed, masked
        r"\boxed{1}",  # unparseable gold -> masked
    ]
    answers = [r"\frac12", r"\sqrt{8}", "4", "1", "x", ""]
    logged: dict[str, float] = {}
    rewards = math_accuracy_reward(
        ["p"] * 6,
        completions,
        answer=answers,
        timeout=1.0,
        trainer_state=object(),
        completion_ids=[[1]] * 6,
        log_metric=logged.__setitem__,
        other_column=[0] * 6,
    )
    assert rewards == [1.0, 1.0, 0.0, 0.0, None, None]
    assert logged["verifiers/math/no_answer_found"] == pytest.approx(1 / 6)
    assert logged["verifiers/math/timeout"] == pytest.approx(1 / 6)
    assert logged["verifiers/math/unparseable_gold"] == pytest.approx(1 / 6)
    assert logged["verifiers/math/error"] == 0


def test_rows_without_gold_are_masked_as_another_tasks_rows() -> None:
    logged: dict[str, float] = {}
    rewards = math_accuracy_reward(
        ["p"] * 4, [r"\boxed{4}", "```py\nprint(1)\n```", r"\boxed{1}", r"\boxed{5}"],
        answer=["4", None, "", "4"], log_metric=logged.__setitem__,
    )
    assert rewards == [1.0, None, None, 0.0]  # a code row (gold None) is not judged; "" is a broken gold
    assert logged["verifiers/math/no_gold"] == pytest.approx(1 / 4)
    assert logged["verifiers/math/unparseable_gold"] == pytest.approx(1 / 4)


def test_reward_accepts_conversational_completions_and_numeric_golds() -> None:
    parts = [{"type": "text", "text": "r</think>"}, {"type": "text", "text": "\\boxed{13}"}]
    completions = [
        [{"role": "assistant", "content": "r</think>\\boxed{12}"}],
        [{"role": "assistant", "content": parts}],
    ]
    assert math_accuracy_reward(None, completions, answer=[12, "12"]) == [1.0, 0.0]


def test_reward_rejects_mismatched_lengths() -> None:
    with pytest.raises(VerifierError, match="2 completions but 1 gold"):
        math_accuracy_reward(None, ["a", "b"], answer=["1"])

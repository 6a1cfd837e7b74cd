"""Math verifier: extraction, normalisation, equivalence, hard timeouts and the TRL reward."""

from __future__ import annotations

import pytest

from verifiers.math import (
    MathVerdict,
    answers_equal,
    extract_final_answer,
    math_accuracy_reward,
    normalize_answer,
    verify,
)

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
    ],
)
def test_extracts_last_boxed_answer(text: str, expected: str) -> None:
    assert extract_final_answer(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "<think>still thinking \\boxed{5}",  # unclosed reasoning
        "<think>r</think>no box here, just words",
        r"\boxed{3} then truncated \boxed{\frac{1}{",  # last box unclosed: do not fall back to an earlier one
        r"\boxed{}",
        "",
        "Answer: " + "x" * 200,  # fallback only for short answers
    ],
)
def test_no_answer_cases(text: str) -> None:
    assert extract_final_answer(text) is None


def test_fallback_can_be_disabled() -> None:
    assert extract_final_answer("Answer: 12", fallback=False) is None


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
        (r"50\%", "50"),
        (r"1\!000", "1000"),
        (r"\pi r^2", r"\pi r^2"),
        ("  7 . ", "7"),
    ],
)
def test_normalize_answer(raw: str, expected: str) -> None:
    assert normalize_answer(raw) == expected


# --- equivalence -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "gold"),
    [
        (r"\frac{1}{2}", "0.5"),
        ("0.5", "1/2"),
        ("1/2", r"\frac{1}{2}"),
        (r"\dfrac12", ".5"),
        (r"-\frac{3}{4}", "-0.75"),
        ("1,000", "1000"),
        ("1000", "1{,}000"),
        (r"2\sqrt{2}", r"\sqrt{8}"),
        ("x^2+2x+1", "(x+1)^2"),
        (r"\frac{\sqrt{3}}{2}", r"\sqrt{3}/2"),
        (r"\sqrt[3]{8}", "2"),
        (r"2\pi r", r"2r\pi"),
        (r"\pi", "3.14159265"),
        (r"\sin^2 x+\cos^2 x", "1"),
        ("2^{10}", "1024"),
        ("(1, 2)", "(1,2)"),
        (r"\left(3, \frac{1}{2}\right)", "(3,0.5)"),
        ("x = 2", "2"),
        ("2", "x=2"),
        (r"10\text{ cm}", "10"),
        (r"\text{(C)}", "C"),
        ("12", r"solution ... \boxed{12}"),
        ("72", "She sold 48 + 24 = 72 clips. #### 72"),
        ("monday", r"\text{Monday}"),
        (r"\sin x", r"\sin(x)"),
    ],
)
def test_equal_answers(pred: str, gold: str) -> None:
    assert answers_equal(pred, gold)


@pytest.mark.parametrize(
    ("pred", "gold"),
    [
        ("3", "4"),
        ("0.33", "1/3"),
        ("1000001", "1000000"),  # exact for integers, no relative tolerance
        ("3.14", r"\pi"),
        ("x^2+1", "(x+1)^2"),
        ("(2, 1)", "(1, 2)"),  # order matters
        ("[1, 2)", "(1, 2)"),
        ("(1, 2, 3)", "(1, 2)"),
        ("1/0", "1"),
        ("__import__('os').system('true')", "1"),
        (r"\frac{1}{", "1"),
        ("", "1"),
        ("seat", "east"),  # words are not products of letters
    ],
)
def test_different_answers(pred: str, gold: str) -> None:
    assert not answers_equal(pred, gold)


# --- verify (worker pool with hard timeout) --------------------------------------------------------


def test_verify_correct_wrong_and_missing() -> None:
    verdict = verify(r"thinking</think>The result is \boxed{\frac{1}{2}}.", "0.5")
    assert verdict == MathVerdict(True, r"\frac{1}{2}", "correct")
    assert verify(r"</think>\boxed{7}", "8") == MathVerdict(False, "7", "wrong_answer")
    assert verify("I do not know", "8") == MathVerdict(False, None, "no_answer")


def test_hostile_prediction_times_out() -> None:
    verdict = verify(r"\boxed{9^9^9^9}", "5", timeout=1.0)
    assert verdict == MathVerdict(False, "9^9^9^9", "timeout")


@pytest.mark.parametrize("gold", ["", "   ", None, r"\frac{1}{", r"\boxed{"])
def test_unparseable_gold(gold: object) -> None:
    assert verify(r"\boxed{1}", gold).reason == "unparseable_gold"  # type: ignore[arg-type]


# --- TRL reward -------------------------------------------------------------------------------------


def test_reward_scores_and_masks_in_one_batch() -> None:
    completions = [
        r"\boxed{0.5}",  # correct (sympy-free)
        r"\boxed{2\sqrt{2}}",  # correct via sympy in a worker
        r"\boxed{3}",  # wrong
        "no box",  # no answer
        r"\boxed{9^9^9^9}",  # timeout -> masked
        r"\boxed{1}",  # unusable gold -> masked
    ]
    answers = [r"\frac12", r"\sqrt{8}", "4", "1", "5", ""]
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
    assert logged["verifiers/math/no_answer"] == pytest.approx(1 / 6)
    assert logged["verifiers/math/timeout"] == pytest.approx(1 / 6)
    assert logged["verifiers/math/unparseable_gold"] == pytest.approx(1 / 6)


def test_reward_accepts_conversational_completions_and_numeric_golds() -> None:
    parts = [{"type": "text", "text": "r</think>"}, {"type": "text", "text": "\\boxed{13}"}]
    completions = [
        [{"role": "assistant", "content": "r</think>\\boxed{12}"}],
        [{"role": "assistant", "content": parts}],
    ]
    assert math_accuracy_reward(None, completions, answer=[12, "12"]) == [1.0, 0.0]

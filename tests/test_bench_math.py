"""Math benchmarks: shipped AIME 2024/2025 and MATH-500 data, QwQ's prompt, and the math verifier's verdicts."""

from __future__ import annotations

import pytest

from rltrain.evaluation.benchmarks.base import DataCache
from rltrain.evaluation.benchmarks.math import BOXED_INSTRUCTION, Aime24, Aime25, Math500, answer_key
from rltrain.evaluation.benchmarks.registry import get_benchmark


@pytest.fixture(scope="module")
def aime24():
    benchmark = Aime24()
    return benchmark, benchmark.load(DataCache("/nonexistent-cache"))


@pytest.mark.parametrize(("cls", "count", "n"), [(Aime24, 30, 64), (Aime25, 30, 64), (Math500, 500, 4)])
def test_shipped_data_loads_with_unique_ids_and_qwq_prompts(cls, count, n):
    benchmark = cls()
    items = benchmark.load(DataCache("/nonexistent-cache"))  # shipped: no cache needed
    assert len(items) == count
    assert len({item.id for item in items}) == count
    assert all(item.prompt_text.endswith("\n" + BOXED_INSTRUCTION) for item in items)
    assert all(item.messages[-1]["role"] == "user" and str(item.reference).strip() for item in items)
    assert benchmark.default_n == n and benchmark.has_answers
    assert get_benchmark(benchmark.name).name == benchmark.name


def test_aime_prompts_are_qwqs_verbatim(aime24):
    _, items = aime24
    assert items[0].prompt_text.startswith("Every morning Aya goes for a $9$-kilometer-long walk")
    assert items[0].reference == "204"


def test_math500_keeps_split_ids_and_levels():
    items = Math500().load(DataCache("/nonexistent-cache"))
    assert items[0].id == "test/precalculus/807.json"
    assert {item.meta["level"] for item in items} == {"1", "2", "3", "4", "5"}
    assert Math500.group_by == "level"


def test_scorer_verdicts_on_hand_made_completions(aime24):
    benchmark, items = aime24
    item = items[0]  # gold 204
    completions = {
        "correct": "<think>\nspeed s = 2.5 ...\n</think>\n\nThe walk takes $\\boxed{204}$ minutes.",
        "wrong_answer": "<think>\nquick guess\n</think>\n\n\\boxed{240}",
        "no_answer": "<think>\nhmm\n</think>\n\nI could not finish this one.",
        "truncated": "<think>\nLet me compute. 9/s + t = 4, so maybe \\boxed{204} ... wait, let me re",
        "misleading": "<think>\nFirst attempt gives \\boxed{204}, but that is wrong.\n</think>\n\nSo the answer is \\boxed{210}.",
        "misleading_right": "<think>\nFirst attempt gives \\boxed{210}? No.\n</think>\n\nFinal: \\boxed{204}",
    }
    verdicts = dict(zip(completions, benchmark.score([item] * len(completions), list(completions.values())), strict=True))
    assert (verdicts["correct"].correct, verdicts["correct"].reason, verdicts["correct"].answer) == (True, "correct", "204")
    assert (verdicts["wrong_answer"].correct, verdicts["wrong_answer"].reason, verdicts["wrong_answer"].answer) == (
        False, "wrong_answer", "240")
    assert (verdicts["no_answer"].reason, verdicts["no_answer"].answer) == ("no_answer", None)
    assert (verdicts["truncated"].correct, verdicts["truncated"].reason) == (False, "no_answer")
    assert (verdicts["misleading"].correct, verdicts["misleading"].answer) == (False, "210")
    assert verdicts["misleading_right"].correct


def test_scorer_never_raises_on_hostile_text(aime24):
    benchmark, items = aime24
    hostile = ["", "\\boxed{" * 5000, "}" * 100000 + "\\boxed{9^{9^{9^{9}}}}", "\x00\ud800 \\boxed{\\frac{1}{0}}",
               "<think></think>" * 1000 + "\\boxed{204}"]
    verdicts = benchmark.score([items[0]] * len(hostile), hostile)
    assert len(verdicts) == len(hostile)
    assert verdicts[-1].correct
    assert not any(v.correct for v in verdicts[:-1])


def test_answer_key_groups_equal_answers_for_majority_voting():
    assert answer_key("025") == answer_key("25") == "25"
    assert answer_key("0.50") == answer_key("\\frac{1}{2}") == answer_key("\\dfrac{1}{2}") == "1/2"
    assert answer_key("-\\frac{3}{6}") == "-1/2"
    assert answer_key("\\left( 3, \\frac{\\pi}{2} \\right)") == answer_key("(3,\\frac{\\pi}{2})")
    assert answer_key(None) is None


def test_math500_follows_maths_percent_convention():
    benchmark = Math500()
    item = next(i for i in benchmark.load(DataCache("/nonexistent-cache")) if i.id == "test/prealgebra/1233.json")
    assert item.reference == "10"  # "by what percent does the area decrease?"
    verdicts = benchmark.score([item] * 3, ["</think>\\boxed{10\\%}", "</think>\\boxed{10}", "</think>\\boxed{0.1}"])
    assert [v.correct for v in verdicts] == [True, True, False]

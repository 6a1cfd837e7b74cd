"""Benchmark metrics against closed forms: pass@k by enumeration, the standard error of a Bernoulli set,
maj@k's votes and ties, lengths and truncation."""

import itertools
import math

import pytest

from rltrain.evaluation.metrics import avg_at_n, benchmark_metrics, majority_correct, pass_at_k, pass_at_k_values
from rltrain.evaluation.samples import SampleRecord


def _sample(item, index, correct, answer=None, *, finish="stop", tokens=None, text="x"):
    return SampleRecord(benchmark="b", id=item, index=index, fingerprint="f", prompt="p", completion=text, finish_reason=finish,
                        completion_tokens=tokens, answer=answer, correct=correct, reason="correct" if correct else "wrong_answer")


@pytest.mark.parametrize("n", range(1, 7))
def test_pass_at_k_equals_the_share_of_k_subsets_with_a_correct_sample(n):
    for c in range(n + 1):
        outcomes = [True] * c + [False] * (n - c)
        for k in range(1, n + 1):
            subsets = list(itertools.combinations(outcomes, k))
            expected = sum(any(s) for s in subsets) / len(subsets)
            assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_closed_form_and_large_n_stability():
    assert pass_at_k(64, 1, 1) == pytest.approx(1 / 64)
    assert pass_at_k(10, 3, 2) == pytest.approx(1 - math.comb(7, 2) / math.comb(10, 2))
    assert pass_at_k(64, 0, 64) == 0.0 and pass_at_k(64, 1, 64) == 1.0
    assert pass_at_k(2000, 7, 100) == pytest.approx(1 - math.comb(1993, 100) / math.comb(2000, 100), rel=1e-9)
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)


def test_avg_at_n_standard_error_of_a_bernoulli_set():
    m, c = 40, 12
    mean, se = avg_at_n([1.0] * c + [0.0] * (m - c))
    p = c / m
    assert mean == pytest.approx(p)
    assert se == pytest.approx(math.sqrt(p * (1 - p) / (m - 1)))
    assert avg_at_n([0.5]) == (0.5, None)
    assert avg_at_n([0.25, 0.75]) == (0.5, pytest.approx(0.25))  # s = sqrt(0.125), / sqrt(2)


def test_majority_vote_ties_and_missing_answers():
    # "5" twice (wrong) beats "7" once (right)
    assert not majority_correct([_sample("a", 0, False, "5"), _sample("a", 1, True, "7"), _sample("a", 2, False, "5")], 3)
    # a tie goes to the answer that appeared first
    assert majority_correct([_sample("a", 0, True, "7"), _sample("a", 1, False, "5")], 2)
    assert not majority_correct([_sample("a", 1, True, "7"), _sample("a", 0, False, "5")], 2)
    # no answer never wins over an answer, and none at all is wrong
    assert majority_correct([_sample("a", 0, False, None), _sample("a", 1, False, None), _sample("a", 2, True, "7")], 3)
    assert not majority_correct([_sample("a", 0, False, None)], 1)
    # only the first k samples vote
    assert majority_correct([_sample("a", 0, True, "7"), _sample("a", 1, False, "5"), _sample("a", 2, False, "5")], 1)


def test_pass_at_k_values_are_powers_of_two_then_n():
    assert pass_at_k_values(64) == [1, 2, 4, 8, 16, 32, 64]
    assert pass_at_k_values(8) == [1, 2, 4, 8]
    assert pass_at_k_values(6) == [1, 2, 4, 6]
    assert pass_at_k_values(1) == [1]


def test_benchmark_metrics_of_a_small_set_with_groups():
    samples = [
        _sample("a", 0, True, "1", tokens=10), _sample("a", 1, False, "2", tokens=20),
        _sample("b", 0, False, None, finish="length", tokens=30), _sample("b", 1, False, "3", tokens=40),
        _sample("c", 0, True, "4", tokens=None, text="abcd"), _sample("c", 1, True, "4", tokens=None, text="ab"),
    ]
    m = benchmark_metrics(samples, has_answers=True, groups={"level": {"a": "easy", "b": "hard", "c": "easy"}})
    assert (m.items, m.samples, m.n) == (3, 6, 2)
    assert m.avg_at_n == pytest.approx((0.5 + 0 + 1) / 3)
    assert m.stderr == pytest.approx(math.sqrt(((0.5 - 0.5) ** 2 + 0.5**2 + 0.5**2) / 2 / 3))
    assert m.pass_at_k == {"1": pytest.approx(0.5), "2": pytest.approx(2 / 3)}
    assert m.maj_at_n == pytest.approx(2 / 3)  # a: tie -> "1" first (right); b: "3" (wrong); c: "4" (right)
    assert m.truncated == pytest.approx(1 / 6)
    assert m.mean_completion_tokens == pytest.approx(25.0)
    assert m.mean_completion_chars == pytest.approx((1 + 1 + 1 + 1 + 4 + 2) / 6)
    assert m.reasons == {"correct": 3, "wrong_answer": 3}
    easy, hard = m.groups["level"]["easy"], m.groups["level"]["hard"]
    assert (easy.items, easy.avg_at_n, hard.items, hard.avg_at_n) == (2, pytest.approx(0.75), 1, 0.0)
    assert hard.stderr is None
    assert benchmark_metrics(samples).maj_at_n is None


def test_items_with_different_sample_counts_use_the_smallest_n():
    samples = [_sample("a", i, i == 0) for i in range(4)] + [_sample("b", i, True) for i in range(2)]
    m = benchmark_metrics(samples)
    assert m.n == 2 and set(m.pass_at_k) == {"1", "2"}
    assert m.avg_at_n == pytest.approx((0.25 + 1) / 2)
    assert m.pass_at_k["2"] == pytest.approx((pass_at_k(4, 1, 2) + 1) / 2)

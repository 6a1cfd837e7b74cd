"""The math verifier against the hand-labelled set tests/data/math_verifier_cases.jsonl (>= 99% agreement)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from verifiers.math import verify_batch

CASES_PATH = Path(__file__).parent / "data" / "math_verifier_cases.jsonl"
#: The answer categories, extraction from whole responses, and conventions other graders' suites label.
CATEGORIES = {
    "integers", "decimals_fractions", "mixed_numbers", "percent", "roots", "pi", "powers", "scientific", "degrees",
    "units", "equations", "plus_minus", "tuples", "intervals", "sets_lists", "inequalities", "matrices", "complex",
    "infinity", "expressions", "multiple_choice", "text", "extraction", "peer_conventions",
}  # fmt: skip
MIN_ACCURACY = 0.99


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    return [json.loads(line) for line in CASES_PATH.read_text().splitlines() if line.strip()]


def test_the_set_covers_every_category_with_positives_and_negatives(cases: list[dict]) -> None:
    assert len(cases) >= 500
    assert {c["category"] for c in cases} == CATEGORIES
    labels = Counter((c["category"], c["expected"]) for c in cases)
    for category in CATEGORIES:
        assert labels[(category, True)] >= 5 and labels[(category, False)] >= 5, category
    assert all(isinstance(c["expected"], bool) and c["gold"] and c["completion"] for c in cases)


def test_accuracy_on_the_labelled_set(cases: list[dict]) -> None:
    verdicts = verify_batch([(c["completion"], c["gold"]) for c in cases], timeout=10.0)
    wrong = [(c, v) for c, v in zip(cases, verdicts, strict=False) if v.correct != c["expected"]]
    accuracy = 1 - len(wrong) / len(cases)
    listing = "\n".join(
        f"  [{c['category']}] gold={c['gold']!r} extracted={v.extracted!r} expected={c['expected']} got {v.reason!r}"
        for c, v in wrong
    )
    assert accuracy >= MIN_ACCURACY, f"accuracy {accuracy:.2%} < {MIN_ACCURACY:.0%}; disagreements:\n{listing}"
    per_category = Counter(c["category"] for c, _ in wrong)
    totals = Counter(c["category"] for c in cases)
    for category, bad in per_category.items():
        assert bad / totals[category] <= 0.1, f"{category}: {bad}/{totals[category]} wrong:\n{listing}"
    assert not any(v.reason in ("timeout", "error") for v in verdicts), listing

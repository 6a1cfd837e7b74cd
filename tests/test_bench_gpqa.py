"""GPQA Diamond: the hub loader against a made-up local CSV, stable shuffling, the JSON-answer scorer, and
the offline error. The fixture's questions are invented; GPQA's own are never stored in this repository."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from rltrain.errors import RecipeError
from rltrain.evaluation.benchmarks import gpqa as gpqa_module
from rltrain.evaluation.benchmarks import sources
from rltrain.evaluation.benchmarks.base import DataCache, DataUnavailable
from rltrain.evaluation.benchmarks.gpqa import CHOICE_INSTRUCTION, GpqaDiamond, choice_order, extract_choice

FIXTURE = Path(__file__).parent / "data" / "benchmarks" / "gpqa_diamond_fixture.csv"


@pytest.fixture
def cache(tmp_path: Path) -> DataCache:
    cache = DataCache(tmp_path)
    target = cache.path("gpqa_diamond", "gpqa_diamond.csv")
    target.parent.mkdir(parents=True)
    shutil.copy(FIXTURE, target)
    return cache


def _no_network(*args, **kwargs):
    raise OSError("network unreachable")


def test_loads_the_cached_csv_with_shuffled_lettered_choices(cache, monkeypatch):
    monkeypatch.setattr(sources, "_download", _no_network)  # the cached file is enough
    items = GpqaDiamond().load(cache)
    assert [item.id for item in items] == ["recFixture0001", "recFixture0002", "recFixture0003"]
    first = items[0]
    assert first.prompt_text.startswith("A toy cart of mass 2 kg moves at 3 m/s. What is its kinetic energy?\n\nA) ")
    assert first.prompt_text.endswith("\n\n" + CHOICE_INSTRUCTION)
    assert f"{first.reference}) 9 J" in first.prompt_text  # the reference letter names the correct answer
    assert [item.meta["domain"] for item in items] == ["Physics", "Chemistry", "Biology"]
    assert items == GpqaDiamond().load(cache)  # same order on every load


def test_choice_order_is_a_fixed_permutation_of_the_record_id():
    orders = {rid: choice_order(rid) for rid in ("recA", "recB", "recC", "recD", "recE", "recF")}
    assert all(sorted(order) == [0, 1, 2, 3] for order in orders.values())
    assert len({tuple(order) for order in orders.values()}) > 1  # the correct answer is not always first
    assert choice_order("recFixture0001") == choice_order("recFixture0001")
    # Pinned: any change to the seeding would silently reshuffle every question.
    assert choice_order("recFixture0001") == [2, 0, 3, 1]


@pytest.mark.parametrize(("text", "letter"), [
    ('<think>\nB looks right\n</think>\n\n{"answer": "C"}', "C"),
    ('</think>\n```json\n{\n  "answer": "d"\n}\n```', "D"),
    ("</think> The final choice: {'answer': 'A'}", "A"),
    ('</think> "answer": "(B)"', "B"),
    ('</think> {"answer": "C) 18 J", "confidence": "high"}', "C"),
    ('</think> {"reasoning": "...", "answer": B}', "B"),
    ('</think> First {"answer": "A"}, on reflection {"answer": "D"}', "D"),
    ("</think> So the answer is \\boxed{C}.", "C"),
    ("</think> \\boxed{\\text{(A)}}", "A"),
    ('<think>{"answer": "A"}</think>\n\nI pick {"answer": "B"}', "B"),
    ('<think>I think {"answer": "A"} but let me', None),
    ('</think> {"answer": "E"}', None),
    ("</think> The answer is C.", None),
    ("", None),
])
def test_extract_choice(text, letter):
    assert extract_choice(text) == letter


def test_scorer_verdicts_and_hostile_input(cache, monkeypatch):
    monkeypatch.setattr(sources, "_download", _no_network)
    benchmark = GpqaDiamond()
    item = benchmark.load(cache)[0]
    wrong = next(letter for letter in "ABCD" if letter != item.reference)
    completions = [f'</think>{{"answer": "{item.reference}"}}', f'</think>{{"answer": "{wrong}"}}', "</think>no idea",
                   '<think>{"answer": "' + item.reference + '"}', '{"answer": ' * 200_000, "\\boxed{" * 100_000]
    started = time.perf_counter()
    verdicts = benchmark.score([item] * len(completions), completions)
    assert time.perf_counter() - started < 5
    assert [(v.correct, v.reason, v.answer) for v in verdicts[:4]] == [
        (True, "correct", item.reference), (False, "wrong_answer", wrong), (False, "no_answer", None),
        (False, "no_answer", None)]
    assert not any(v.correct for v in verdicts[4:])


def test_offline_names_the_file_to_place_and_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_download", _no_network)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(DataUnavailable) as info:
        GpqaDiamond().load(DataCache(tmp_path))
    message = str(info.value)
    assert str(tmp_path / "gpqa_diamond" / "gpqa_diamond.csv") in message
    assert "https://huggingface.co/datasets/Idavidrein/gpqa" in message and "HF_TOKEN" in message
    assert "network unreachable" in message
    assert not list((tmp_path / "gpqa_diamond").iterdir())  # no partial download left behind


def test_hf_hub_offline_is_respected_without_trying(tmp_path, monkeypatch):
    def must_not_download(*args, **kwargs):
        raise AssertionError("downloaded although HF_HUB_OFFLINE=1")

    monkeypatch.setattr(sources, "_download", must_not_download)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataUnavailable, match="HF_HUB_OFFLINE"):
        GpqaDiamond().load(DataCache(tmp_path))


def test_a_download_lands_in_the_cache_once(tmp_path, monkeypatch):
    calls = []

    def fake_download(repo_id, filename, directory):
        calls.append((repo_id, filename))
        path = directory / filename
        shutil.copy(FIXTURE, path)
        return path

    monkeypatch.setattr(sources, "_download", fake_download)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    cache = DataCache(tmp_path)
    assert len(GpqaDiamond().load(cache)) == 3
    assert len(GpqaDiamond().load(cache)) == 3
    assert calls == [(gpqa_module.GPQA_REPO, "gpqa_diamond.csv")]


def test_a_wrong_file_in_the_cache_is_named(cache):
    cache.path("gpqa_diamond", "gpqa_diamond.csv").write_text("question,answer\nx,y\n")
    with pytest.raises(RecipeError, match="lacks the column"):
        GpqaDiamond().load(cache)

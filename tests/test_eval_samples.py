"""The samples file: appended as completions arrive, a killed writer's partial line dropped, the latest
record of a key wins, compaction to one sorted record per key."""

import json
import logging

from rltrain.evaluation.backends.base import Generation, GenerationRequest, SampleKey
from rltrain.evaluation.benchmarks.base import Verdict
from rltrain.evaluation.samples import SampleRecord, SampleStore


def _generated(item="1", index=0, fingerprint="fp", text="answer", finish="stop"):
    request = GenerationRequest(SampleKey("bench", item, index), ({"role": "user", "content": "Q" + item},), seed=1)
    return SampleRecord.generated(request, Generation(text, finish, prompt_tokens=5, completion_tokens=7), fingerprint)


def test_records_round_trip_with_their_verdicts(tmp_path):
    store = SampleStore(tmp_path / "samples.jsonl")
    record = _generated()
    assert not record.scored and record.prompt == "Q1" and record.completion_tokens == 7
    scored = record.with_verdict(Verdict(True, "correct", "42", {"tests": 3}))
    store.append([record, scored])
    store.close()
    loaded = store.load()
    assert list(loaded) == [("bench", "1", 0, "fp")]
    assert loaded[record.key] == scored and loaded[record.key].verdict() == Verdict(True, "correct", "42", {"tests": 3})


def test_each_append_is_on_disk_at_once(tmp_path):
    path = tmp_path / "samples.jsonl"
    store = SampleStore(path)
    store.append([_generated("1")])
    assert len(path.read_text().splitlines()) == 1  # flushed, although the file is still open
    store.append([_generated("2")])
    assert len(SampleStore(path).load()) == 2
    store.close()


def test_a_truncated_last_line_is_dropped_and_appending_goes_on_after_it(tmp_path, caplog):
    path = tmp_path / "samples.jsonl"
    first, second = _generated("1"), _generated("2")
    path.write_text(first.to_json() + "\n" + second.to_json()[:40])  # a job killed while writing
    with caplog.at_level(logging.WARNING):
        loaded = SampleStore(path).load()
    assert list(loaded) == [first.key]
    assert "truncated last line" in caplog.text
    with SampleStore(path) as store:
        store.append([second])
    assert list(SampleStore(path).load()) == [first.key, second.key]


def test_the_latest_record_of_a_key_wins_and_fingerprints_are_kept_apart(tmp_path):
    store = SampleStore(tmp_path / "samples.jsonl")
    unscored = _generated("1")
    store.append([unscored, _generated("1", fingerprint="other", text="else")])
    store.append([unscored.with_verdict(Verdict(False, "wrong_answer", "3"))])
    store.close()
    loaded = store.load()
    assert loaded[unscored.key].reason == "wrong_answer"
    assert loaded[("bench", "1", 0, "other")].completion == "else"


def test_records_missing_key_fields_are_skipped(tmp_path, caplog):
    path = tmp_path / "samples.jsonl"
    path.write_text(json.dumps({"benchmark": "b", "id": "1"}) + "\n" + _generated().to_json() + "\n")
    with caplog.at_level(logging.WARNING):
        assert len(SampleStore(path).load()) == 1
    assert "no 'index' field" in caplog.text


def test_compaction_keeps_one_sorted_record_per_key(tmp_path):
    path = tmp_path / "samples.jsonl"
    store = SampleStore(path)
    records = [_generated(item, index) for item in ("b", "a") for index in (1, 0)]
    store.append(records)
    store.append([r.with_verdict(Verdict(True, "correct")) for r in records])
    path.write_text(path.read_text() + '{"broken')
    assert store.compact() == 4
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["id"], r["index"]) for r in lines] == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert all(r["correct"] is True for r in lines)
    assert [p.name for p in tmp_path.iterdir()] == ["samples.jsonl"]  # no temporary file left

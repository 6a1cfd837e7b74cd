"""Running an evaluation: every sample generated once, resumable after a stop with the same results,
a new fingerprint when a setting changes, truncated completions wrong, and a real run with the hf
backend on the tiny model and a JSONL benchmark."""

import json

import pytest

from rltrain.evaluation.benchmarks.base import DataCache
from rltrain.evaluation.benchmarks.jsonl import JsonlBenchmark
from rltrain.evaluation.results import read_results
from rltrain.evaluation.samples import SampleStore
from rltrain.evaluation.settings import SamplingSettings
from rltrain.evaluation.suite import plan, run_suite
from tests.eval_helpers import FakeBackend, Stop, ToyBenchmark

SETTINGS = SamplingSettings(max_tokens=64)


def _run(out, backend, *, settings=SETTINGS, n=None, score_every=5, benchmark=None):
    plans = plan([benchmark or ToyBenchmark()], DataCache(out / "cache"), n=n)
    return run_suite("toy-model", backend, settings, plans, out, score_every=score_every)


def _metrics(results):
    return {name: m.as_dict() for name, m in results.benchmarks.items()}


def test_a_run_generates_every_sample_once_and_writes_results(tmp_path):
    backend = FakeBackend()
    results = _run(tmp_path, backend)
    assert sorted(backend.generated) == sorted(("toy", f"t{i}", j) for i in range(6) for j in range(4))
    assert results.complete and results.backend == "fake" and results.settings["temperature"] == 0.6
    m = results.benchmarks["toy"]
    assert (m.items, m.n, m.samples) == (6, 4, 24)
    assert set(m.groups["parity"]) == {"even", "odd"} and "zeros" in m.extra
    lines = (tmp_path / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 24, "compacted: one record per sample"
    assert all(json.loads(line)["correct"] is not None for line in lines)
    assert read_results(tmp_path).benchmarks["toy"].avg_at_n == m.avg_at_n
    assert "| toy | 6 | 4 |" in (tmp_path / "results.md").read_text()


def test_truncated_completions_are_wrong_and_not_scored(tmp_path):
    benchmark = ToyBenchmark()
    results = _run(tmp_path, FakeBackend(), benchmark=benchmark)
    records = SampleStore(tmp_path / "samples.jsonl").load().values()
    truncated = [r for r in records if r.truncated]
    assert truncated, "the fake backend truncates some completions"
    assert all(r.correct is False and r.reason == "truncated" and r.answer is None for r in truncated)
    assert len(benchmark.scored_texts) == 24 - len(truncated)
    assert results.benchmarks["toy"].truncated == pytest.approx(len(truncated) / 24)
    assert results.benchmarks["toy"].reasons["truncated"] == len(truncated)


@pytest.mark.parametrize("stop_after", [0, 7, 23])
def test_a_stopped_run_resumes_without_generating_anything_twice(tmp_path, stop_after):
    uninterrupted = _run(tmp_path / "whole", FakeBackend())
    first = FakeBackend(stop_after=stop_after)
    with pytest.raises(Stop):
        _run(tmp_path / "split", first)
    assert len(SampleStore(tmp_path / "split" / "samples.jsonl").load()) == stop_after
    assert not (tmp_path / "split" / "results.json").exists()
    second = FakeBackend()
    resumed = _run(tmp_path / "split", second)
    assert not set(first.generated) & set(second.generated)
    assert len(first.generated) + len(second.generated) == 24
    assert _metrics(resumed) == _metrics(uninterrupted)
    assert resumed.fingerprint == uninterrupted.fingerprint


def test_completions_generated_but_not_scored_are_scored_by_the_next_run(tmp_path):
    first = FakeBackend(stop_after=10)
    with pytest.raises(Stop):
        _run(tmp_path, first, score_every=1000)  # nothing reaches a scoring batch before the stop
    on_disk = SampleStore(tmp_path / "samples.jsonl").load().values()
    assert len(on_disk) == 10 and not any(r.scored for r in on_disk)
    benchmark, second = ToyBenchmark(), FakeBackend()
    results = _run(tmp_path, second, benchmark=benchmark)
    assert len(second.generated) == 14
    assert results.complete and results.benchmarks["toy"].samples == 24
    truncated = sum(r.truncated for r in SampleStore(tmp_path / "samples.jsonl").load().values())
    assert len(benchmark.scored_texts) == 24 - truncated


def test_a_changed_setting_is_a_new_fingerprint_and_nothing_is_reused(tmp_path):
    first = _run(tmp_path, FakeBackend())
    backend = FakeBackend()
    hotter = _run(tmp_path, backend, settings=SamplingSettings(max_tokens=64, temperature=1.0))
    assert hotter.fingerprint != first.fingerprint
    assert len(backend.generated) == 24
    fingerprints = {r.fingerprint for r in SampleStore(tmp_path / "samples.jsonl").load().values()}
    assert fingerprints == {first.fingerprint, hotter.fingerprint}
    other_backend = FakeBackend(identity="fake-2")
    assert _run(tmp_path, other_backend).fingerprint not in fingerprints and len(other_backend.generated) == 24


def test_the_same_run_again_generates_nothing_and_fewer_samples_reuse_the_first(tmp_path):
    first = _run(tmp_path, FakeBackend())
    again = FakeBackend()
    assert _metrics(_run(tmp_path, again)) == _metrics(first)
    assert again.generated == []
    fewer = FakeBackend()
    two = _run(tmp_path, fewer, n=2)
    assert fewer.generated == [] and two.benchmarks["toy"].n == 2 and two.fingerprint == first.fingerprint


def test_plan_settles_sample_counts_and_limits(tmp_path):
    cache = DataCache(tmp_path)
    assert plan([ToyBenchmark()], cache)[0].n == 4
    assert plan([ToyBenchmark()], cache, n=2)[0].n == 2
    assert plan([ToyBenchmark()], cache, n=2, n_per_benchmark={"toy": 8})[0].n == 8
    assert plan([ToyBenchmark()], cache, greedy=True)[0].n == 1
    assert len(plan([ToyBenchmark()], cache, limit=2)[0].items) == 2
    from rltrain.errors import RecipeError

    with pytest.raises(RecipeError, match="aime24 is not among"):
        plan([ToyBenchmark()], cache, n_per_benchmark={"aime24": 8})


def test_a_scorer_that_raises_stops_the_evaluation(tmp_path):
    class Broken(ToyBenchmark):
        def score(self, items, completions):
            raise ValueError("scorer bug")

    with pytest.raises(RuntimeError, match="scoring failed: ValueError: scorer bug"):
        _run(tmp_path, FakeBackend(), benchmark=Broken())


def test_hf_backend_on_the_tiny_model_with_a_jsonl_benchmark(tmp_path):
    from rltrain.evaluation.backends.hf import HfBackend
    from rltrain.models.tiny import write_tiny
    from rltrain.recipe.schema import TinyModelConfig

    model = write_tiny(tmp_path / "m", TinyModelConfig(hidden_size=32, num_hidden_layers=1))
    data = tmp_path / "arith.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"What is {i}+1?", "answer": str(i + 1)}) + "\n" for i in range(3)))
    benchmark = JsonlBenchmark(data)
    backend = HfBackend(str(model), batch_size=4)
    settings = SamplingSettings(max_tokens=8)
    plans = plan([benchmark], DataCache(tmp_path / "cache"), n=2)
    results = run_suite(str(model), backend, settings, plans, tmp_path / "out")
    m = results.benchmarks["arith"]
    assert (m.items, m.n, m.samples) == (3, 2, 6)
    assert m.avg_at_n == 0.0 and m.maj_at_n == 0.0  # a random model
    assert m.mean_completion_tokens is not None and m.mean_completion_tokens <= 8
    assert "reward/math_accuracy" in m.extra or m.truncated == 1.0
    records = list(SampleStore(tmp_path / "out" / "samples.jsonl").load().values())
    assert {r.prompt for r in records} == {f"What is {i}+1?" for i in range(3)}
    assert all(r.prompt_tokens and r.completion_tokens for r in records)
    assert results.backend_identity == "hf/float32"
    backend.close()

"""``rltrain eval`` end to end on the CPU: the tiny model served by a real OpenAI-compatible server
(``transformers serve``) and the same items through the ``hf`` backend, on AIME, IFEval and
LiveCodeBench-format items; both write the same kind of evaluation directory, and the openai command run
again generates nothing."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from rltrain.cli import main
from rltrain.evaluation.backends.openai import OpenAIBackend
from rltrain.evaluation.benchmarks import registry
from rltrain.evaluation.benchmarks.livecodebench import LiveCodeBenchV5
from tests.sandbox_guard import sandbox_available  # noqa: F401 - fixture
from tests.serving import transformers_serve

DATA = Path(__file__).parent / "data" / "benchmarks"
BENCHMARKS = ("aime24", "ifeval", "livecodebench_v5")


class FixtureLiveCodeBench(LiveCodeBenchV5):
    """``livecodebench_v5`` on the two made-up problems of the test fixtures (a stdin and a functional one,
    see ``data/benchmarks/build_livecodebench_fixture.py``), their tests read from the hub-format file
    placed in the cache as on an offline machine; everything else is the real benchmark's."""

    def __init__(self) -> None:
        super().__init__(problems=DATA / "livecodebench_problems_fixture.jsonl", wall_s=2.0)


def _eval(model: str, out: Path, cache: Path, *backend: str) -> int:
    return main(["eval", model, *backend, "--benchmarks", ",".join(BENCHMARKS), "--limit", "2", "--n", "2",
                 "--max-tokens", "16", "--cache-dir", str(cache), "--output", str(out)])


def _samples(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.usefixtures("sandbox_available")
def test_openai_server_and_hf_backend_write_the_same_evaluation(tmp_path, monkeypatch, caplog):
    from rltrain.models.tiny import write_tiny
    from rltrain.recipe.schema import TinyModelConfig

    monkeypatch.setitem(registry.BENCHMARKS, "livecodebench_v5", registry._Entry(__name__, "FixtureLiveCodeBench"))
    cache = tmp_path / "cache"
    (cache / "livecodebench_v5").mkdir(parents=True)
    shutil.copy(DATA / "livecodebench_hub_fixture.jsonl", cache / "livecodebench_v5" / "test5.jsonl")
    # AIME prompts are hundreds of bytes, one token each: the context must hold them
    model = str(write_tiny(tmp_path / "tiny", TinyModelConfig(hidden_size=32, num_hidden_layers=1, max_position_embeddings=4096)))
    requested: list[int] = []
    generate = OpenAIBackend.generate

    def counted(self, requests, settings):
        requested.append(len(requests))
        return generate(self, requests, settings)

    monkeypatch.setattr(OpenAIBackend, "generate", counted)
    served, local = tmp_path / "openai", tmp_path / "hf"
    with transformers_serve(model, tmp_path / "serve.log") as url:
        openai_args = ("--backend", "openai", "--base-url", url, "--concurrency", "4", "--request-timeout", "120")
        assert _eval(model, served, cache, *openai_args) == 0
        assert requested == [12]
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="rltrain.evaluation.suite"):
            assert _eval(model, served, cache, *openai_args) == 0
        assert requested == [12], "the same command again sends no request"
        for name in BENCHMARKS:
            assert f"{name}: 2 items x 2 samples = 4, 4 already generated" in caplog.text
    assert _eval(model, local, cache, "--backend", "hf", "--batch-size", "4") == 0

    by_backend = {out: _samples(out) for out in (served, local)}
    for out, samples in by_backend.items():
        assert len(samples) == 12
        assert {(s["benchmark"], s["index"]) for s in samples} == {(b, i) for b in BENCHMARKS for i in range(2)}
        for sample in samples:
            assert sample["prompt_tokens"] > 0 and 1 <= sample["completion_tokens"] <= 16, (out, sample)
            assert sample["reason"] is not None and sample["finish_reason"] in ("stop", "length")
    key_sets = {frozenset(sample) for samples in by_backend.values() for sample in samples}
    assert len(key_sets) == 1, f"samples.jsonl records differ in their fields: {key_sets}"
    prompts = [{(s["benchmark"], s["id"]): (s["prompt"], s["prompt_tokens"]) for s in samples} for samples in by_backend.values()]
    assert prompts[0] == prompts[1], "both backends render the same prompts with the chat template"

    results = [json.loads((out / "results.json").read_text()) for out in (served, local)]
    assert [r["backend"] for r in results] == ["openai", "hf"] and all(r["complete"] for r in results)
    assert list(results[0]["benchmarks"]) == list(results[1]["benchmarks"]) == list(BENCHMARKS)
    for name in BENCHMARKS:
        served_metrics, local_metrics = (r["benchmarks"][name] for r in results)
        assert set(served_metrics) == set(local_metrics)
        assert set(served_metrics["groups"]) == set(local_metrics["groups"])
        for metrics in (served_metrics, local_metrics):
            assert (metrics["items"], metrics["n"], metrics["samples"]) == (2, 2, 4)
            assert metrics["mean_completion_tokens"] is not None and 1 <= metrics["mean_completion_tokens"] <= 16
    assert set(results[0]["benchmarks"]["ifeval"]["extra"]) == set(results[1]["benchmarks"]["ifeval"]["extra"]) != set()

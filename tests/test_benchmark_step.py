"""benchmarks/step.py: its recipes validate and the baseline comparison flags a regression."""

import argparse
import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_step", REPO / "benchmarks" / "step.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def _args(**overrides) -> argparse.Namespace:
    values = {"shape": "tiny", "steps": 4, "warmup": 1, "batch": 8, "generations": 4, "completion_tokens": 8}
    return argparse.Namespace(**{**values, **overrides})


@pytest.mark.parametrize("mode", ["sync", "overlapped", "pipelined"])
def test_benchmark_recipes_validate(mode, tmp_path):
    from rltrain.recipe import recipe_from_dict

    bench._register_sleep_reward()
    recipe = recipe_from_dict(bench.recipe_dict(_args(), mode, 2.0, tmp_path), source="benchmark")
    assert recipe.rollout.reward_mode == mode
    assert [r.name for r in recipe.rewards][-1] == bench.SLEEP_REWARD and recipe.rewards[-1].weight == 0.0


def _result(tokens_per_s: float, shape: str = "tiny", kind: str = "cpu") -> dict:
    return {"environment": {"shape": shape, "device_kind": kind, "device": "cpu (x86_64)"},
            "run": {"tokens_per_s": tokens_per_s}}


def test_compare_flags_a_drop_beyond_the_tolerance(tmp_path):
    baseline = tmp_path / "cpu-tiny.json"
    baseline.write_text(json.dumps(_result(1000.0)))
    assert bench.compare(_result(900.0), baseline, 0.25) is True
    assert bench.compare(_result(700.0), baseline, 0.25) is False
    with pytest.raises(SystemExit, match="baseline .* is for tiny on cpu"):
        bench.compare(_result(1000.0, shape="0.5b", kind="gpu"), baseline, 0.25)


def test_stored_cpu_baseline_is_complete():
    stored = json.loads((REPO / "benchmarks" / "baselines" / "cpu-tiny.json").read_text())
    assert stored["environment"]["device_kind"] == "cpu" and stored["environment"]["shape"] == "tiny"
    run = stored["run"]
    assert run["tokens_per_s"] > 0 and run["step_s"] > 0 and run["peak_memory_mb"] > 0
    assert {"generation_s", "reward_wait_s", "rest_s"} <= set(run)

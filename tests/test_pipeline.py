"""Pipelines: an interrupted stage resumes on re-run, the next stage starts from its final weights."""

import json
import sys
from pathlib import Path

import pytest
import yaml

from rltrain.errors import RecipeError
from rltrain.run.pipeline import load_pipeline, run_pipeline

sys.path.insert(0, str(Path(__file__).parent))
import recorder_reward  # noqa: F401  (registers test_recorder)

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
        "intermediate_size": 64}


def write_pipeline(tmp_path: Path) -> Path:
    stage = {
        "model": {"name_or_path": "tiny", "tiny": TINY},
        "data": {"source": "synthetic:arithmetic", "synthetic": {"size": 100, "max_a": 19, "max_b": 9},
                 "prompt_template": "{prompt}"},
        "rewards": [{"name": "test_recorder"}],
        "grpo": {"max_steps": 4, "save_steps": 100, "per_device_train_batch_size": 4, "num_generations": 2,
                 "max_completion_length": 6, "learning_rate": 1e-3},
        "logging": {"progress": False},
        "output_dir": "unused",
    }
    (tmp_path / "stage.yaml").write_text(yaml.safe_dump(stage))
    pipeline = {"name": "two", "output_dir": str(tmp_path / "out"),
                "stages": [{"name": "first", "recipe": "stage.yaml"},
                           {"name": "second", "recipe": "stage.yaml", "set": {"grpo.max_steps": 2}}]}
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(pipeline))
    return path


@pytest.mark.slow
def test_interrupted_stage_resumes_and_the_next_starts_from_it(tmp_path, monkeypatch):
    path = write_pipeline(tmp_path)
    monkeypatch.setenv("RLTRAIN_TEST_RECORD", str(tmp_path / "record.jsonl"))
    monkeypatch.setenv("RLTRAIN_TEST_STOP_AT", "1")
    first = run_pipeline(path)
    assert [s["stage"] for s in first] == ["first"] and first[0]["interrupted"]
    assert not (tmp_path / "out" / "second").exists()

    monkeypatch.delenv("RLTRAIN_TEST_STOP_AT")
    second = run_pipeline(path)
    assert [s["stage"] for s in second] == ["first", "second"]
    assert second[0]["completed"] and second[0]["resumed_from"].endswith("checkpoint-2")
    assert second[0]["steps"] == 4 and second[1]["steps"] == 2
    recipe = yaml.safe_load((tmp_path / "out" / "second" / "recipe.yaml").read_text())
    assert recipe["model"]["name_or_path"] == str((tmp_path / "out" / "first" / "final").resolve())
    summary = json.loads((tmp_path / "out" / "pipeline_summary.json").read_text())
    assert [s["stage"] for s in summary] == ["first", "second"]


def test_a_bad_later_stage_fails_before_the_first_runs(tmp_path):
    path = write_pipeline(tmp_path)
    raw = yaml.safe_load(path.read_text())
    raw["stages"][1]["set"] = {"grpo.num_generatons": 2}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(RecipeError, match="(?s)stage second.*num_generatons"):
        load_pipeline(path)
    assert not (tmp_path / "out").exists()


def test_duplicate_stage_names_are_refused(tmp_path):
    path = write_pipeline(tmp_path)
    raw = yaml.safe_load(path.read_text())
    raw["stages"][1]["name"] = "first"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(RecipeError, match="stage names must be unique"):
        load_pipeline(path)

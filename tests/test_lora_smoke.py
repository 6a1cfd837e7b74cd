"""The miniature's stage one with LoRA adapters (recipes/smoke/stage1_lora.yaml) after the full cold-start
SFT: a pipeline that mixes a full fine-tune and a LoRA stage, and must still learn (held-out math accuracy
up by more than two standard errors, as stage1.yaml's full fine-tune must). The cold start is the smoke
pipeline's own (the session's ``smoke_run``), copied in as a finished stage the pipeline skips; only the
LoRA stage trains here."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def two_standard_errors(result):
    """Two standard errors of a difference of proportions at p=0.5, n samples each."""
    n = result["num_prompts"] * result["num_samples"]
    return 2 * (0.5 / n) ** 0.5


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, smoke_run):
    out = tmp_path_factory.mktemp("lora_smoke")
    shutil.copytree(smoke_run[0] / "cold_start", out / "run" / "cold_start")
    pipeline = {"name": "smoke_lora", "output_dir": str(out / "run"), "stages": [
        {"name": "cold_start", "recipe": str(REPO / "recipes/smoke/cold_start.yaml")},
        {"name": "stage1_math_lora", "recipe": str(REPO / "recipes/smoke/stage1_lora.yaml")},
    ]}
    path = out / "pipeline.yaml"
    path.write_text(yaml.safe_dump(pipeline))
    done = subprocess.run([sys.executable, "-m", "rltrain", "pipeline", str(path)],
                          capture_output=True, text=True, timeout=3600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-5000:]
    assert "stage cold_start: finished earlier, skipped" in done.stdout + done.stderr
    return out / "run"


def test_the_lora_stage_starts_from_the_full_cold_start_and_writes_merged_weights(lora_run):
    stage = lora_run / "stage1_math_lora"
    summary = json.loads((stage / "summary.json").read_text())
    assert summary["completed"] and summary["steps"] == 60
    recipe = yaml.safe_load((stage / "recipe.yaml").read_text())
    assert recipe["model"]["name_or_path"] == str((lora_run / "cold_start" / "final").resolve())
    assert summary["eval_before"]["model"] == recipe["model"]["name_or_path"]
    assert (stage / "final" / "model.safetensors").is_file() and (stage / "final" / "adapter" / "adapter_config.json").is_file()
    checkpoint = stage / "checkpoint-60"
    assert (checkpoint / "adapter_model.safetensors").is_file() and not (checkpoint / "model.safetensors").exists()


def test_stage_one_with_adapters_raises_held_out_accuracy(lora_run):
    summary = json.loads((lora_run / "stage1_math_lora" / "summary.json").read_text())
    before, after = summary["eval_before"]["accuracy"], summary["eval_after"]["accuracy"]
    margin = two_standard_errors(summary["eval_after"])
    assert after - before > margin, f"LoRA stage one accuracy {before:.3f} -> {after:.3f} (margin {margin:.3f})"

"""The embedded smoke pipeline end to end: tiny model → cold-start SFT → GRPO stage one → stage two.

This is the README's main job. It must really learn: stage one's held-out sampled accuracy has to
rise clearly (the before/after evaluations share prompts and sampling seed).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
STAGES = ["cold_start", "stage1_math", "stage2_general"]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    cmd = [sys.executable, "-m", "rltrain", "pipeline", str(REPO / "recipes/smoke/pipeline.yaml"),
           "--set", f"output_dir={out}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert done.returncode == 0, done.stderr[-5000:]
    return out, done


def test_every_stage_leaves_metrics_and_a_summary(smoke_run):
    out, _ = smoke_run
    for stage in STAGES:
        summary = json.loads((out / stage / "summary.json").read_text())
        assert summary["completed"], stage
        lines = (out / stage / "metrics.jsonl").read_text().splitlines()
        assert lines, stage
        assert all("step" in json.loads(line) for line in lines)
        assert (out / stage / "final" / "model.safetensors").is_file()
    grpo_log = json.loads((out / "stage1_math" / "metrics.jsonl").read_text().splitlines()[-1])
    assert "rewards/math_accuracy/mean" in grpo_log and "rewards/math_accuracy/masked" in grpo_log


def test_stage_one_raises_held_out_accuracy(smoke_run):
    out, _ = smoke_run
    summary = json.loads((out / "stage1_math" / "summary.json").read_text())
    before, after = summary["eval_before"]["accuracy"], summary["eval_after"]["accuracy"]
    n = summary["eval_after"]["num_prompts"] * summary["eval_after"]["num_samples"]
    # Two standard errors of a difference of proportions at p=0.5 for n samples each.
    margin = 2 * (0.5 / n) ** 0.5
    assert after - before > margin, f"stage one accuracy {before:.3f} -> {after:.3f} (n={n})"


def test_stage_two_starts_from_stage_one(smoke_run):
    out, _ = smoke_run
    recipe = (out / "stage2_general" / "recipe.yaml").read_text()
    assert str(out / "stage1_math" / "final") in recipe


def test_before_after_table_is_printed(smoke_run):
    _, done = smoke_run
    assert "before/after" in done.stderr
    for stage in STAGES:
        assert stage in done.stderr


def test_rerun_skips_finished_stages(smoke_run):
    out, _ = smoke_run
    cmd = [sys.executable, "-m", "rltrain", "pipeline", str(REPO / "recipes/smoke/pipeline.yaml"),
           "--set", f"output_dir={out}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("finished earlier, skipped") == len(STAGES)

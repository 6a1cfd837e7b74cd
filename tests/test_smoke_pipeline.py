"""The embedded smoke pipeline end to end: tiny reward model, then tiny policy → cold-start SFT → GRPO
stage one (math + code in the sandbox) → GRPO stage two (reward model + instruction-following rules).

This is the README's main job. It must really learn: stage one's held-out sampled math accuracy and
held-out code pass rate have to rise clearly, stage two has to raise held-out instruction following and
the reward model's score without losing stage one's math beyond noise (before/after evaluations share
prompts and sampling seed).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
STAGES = ["reward_model", "cold_start", "stage1_math", "stage2_general"]


def two_standard_errors(result):
    """Two standard errors of a difference of proportions at p=0.5, n samples each."""
    n = result["num_prompts"] * result["num_samples"]
    return 2 * (0.5 / n) ** 0.5


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
    margin = two_standard_errors(summary["eval_after"])
    assert after - before > margin, f"stage one accuracy {before:.3f} -> {after:.3f} (margin {margin:.3f})"


def test_stage_one_trains_code_through_the_sandbox(smoke_run):
    out, _ = smoke_run
    logs = [json.loads(line) for line in (out / "stage1_math" / "metrics.jsonl").read_text().splitlines()]
    judged = [log for log in logs if "rewards/code_pass_rate/mean" in log]
    assert judged, "stage one logged no code reward"
    # Every code completion got a sandbox verdict: none masked for an infrastructure failure.
    for key in ("rewards/code_pass_rate/errored", "rewards/code_pass_rate/timed_out", "verifiers/code/sandbox_error"):
        assert all(float(log.get(key, 0)) == 0 for log in judged), key
    assert sum(float(log.get("verifiers/code/accepted", 0)) for log in judged) > 0
    assert sum(float(log.get("verifiers/code/wrong_answer", 0)) for log in judged) > 0  # the cold start's mix-ups
    # Held-out code problems (recipes/smoke/code_eval.yaml), judged in the sandbox before and after.
    code = json.loads((out / "stage1_math" / "summary.json").read_text())["retention"]
    before, after = code["before"], code["after"]
    assert after["metric"] == "code_pass_rate"
    assert after["accuracy"] - before["accuracy"] > two_standard_errors(after), code


def test_the_reward_model_stage_learns_the_preferences(smoke_run):
    out, _ = smoke_run
    summary = json.loads((out / "reward_model" / "summary.json").read_text())
    assert summary["eval_after"]["metric"] == "pairwise_accuracy"
    assert summary["eval_after"]["accuracy"] >= 0.85, summary["eval_after"]


def test_stage_two_raises_rule_and_reward_model_scores_and_keeps_the_math(smoke_run):
    out, _ = smoke_run
    summary = json.loads((out / "stage2_general" / "summary.json").read_text())
    before, after = summary["eval_before"], summary["eval_after"]
    assert after["metric"] == "ifeval"
    assert after["accuracy"] - before["accuracy"] > two_standard_errors(after), (before["rewards"], after["rewards"])
    assert after["rewards"]["reward_model"] - before["rewards"]["reward_model"] > 0.1, (before["rewards"], after["rewards"])
    kept_before, kept_after = summary["retention"]["before"], summary["retention"]["after"]
    assert kept_before["metric"] == "math_accuracy"
    assert kept_after["accuracy"] >= kept_before["accuracy"] - two_standard_errors(kept_after), summary["retention"]
    logs = [json.loads(line) for line in (out / "stage2_general" / "metrics.jsonl").read_text().splitlines()]
    assert all("rewards/reward_model/gated" in log and "rewards/ifeval/mean" in log for log in logs)
    assert any(key.startswith("ifeval/") for key in logs[-1])


def test_stage_two_starts_from_stage_one(smoke_run):
    out, _ = smoke_run
    recipe = (out / "stage2_general" / "recipe.yaml").read_text()
    assert str(out / "stage1_math" / "final") in recipe


def test_before_after_table_is_printed(smoke_run):
    _, done = smoke_run
    assert "before/after" in done.stderr and "retention" in done.stderr
    for stage in STAGES:
        assert stage in done.stderr


def test_rerun_skips_finished_stages(smoke_run):
    out, _ = smoke_run
    cmd = [sys.executable, "-m", "rltrain", "pipeline", str(REPO / "recipes/smoke/pipeline.yaml"),
           "--set", f"output_dir={out}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("finished earlier, skipped") == len(STAGES)


def test_run_report_covers_every_stage(smoke_run):
    from rltrain.reporting.run_report import write_report

    out, _ = smoke_run
    files = write_report(out)
    markdown = files.markdown.read_text()
    assert [line for line in markdown.splitlines() if line.startswith("## Stage ")] == [
        f"## Stage {stage} ({kind})" for stage, kind in zip(STAGES, ["reward", "sft", "grpo", "grpo"], strict=False)]
    assert files.html.is_file() and all(p.read_bytes()[:4] == b"\x89PNG" for p in files.plots)
    assert {"eval_accuracy.png", "stage1_math_rewards.png", "stage2_general_rewards.png"} <= {p.name for p in files.plots}

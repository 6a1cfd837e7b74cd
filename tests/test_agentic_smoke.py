"""The miniature agentic pipeline end to end (recipes/smoke/agentic): a fresh tiny model is cold-started
on tool-call traces (SFT, tool results masked, half the traces answering without the tool), then GRPO
with the python tool in the sandbox and the math verifier as the only (outcome) reward. It must really
learn: held-out accuracy and the share of answers that use the tool (without errors) rise beyond noise."""

from __future__ import annotations

import json

import pytest

from tests.pipeline_runs import run_pipeline_cli
from tests.sandbox_guard import sandbox_available  # noqa: F401 - fixture

pytestmark = pytest.mark.slow



def two_standard_errors(before: dict, after: dict) -> float:
    """Two standard errors of the difference of two sampled accuracies."""
    n = after["num_prompts"] * after["num_samples"]
    p, q = before["accuracy"], after["accuracy"]
    return 2 * ((p * (1 - p) + q * (1 - q)) / n) ** 0.5


@pytest.fixture(scope="module")
def agentic_run(tmp_path_factory, sandbox_available):  # noqa: F811
    return run_pipeline_cli("recipes/smoke/agentic/pipeline.yaml", tmp_path_factory.mktemp("agentic"), timeout=1200)


def test_the_cold_start_calls_the_tool_about_as_often_as_its_traces(agentic_run):
    out, _ = agentic_run
    after = json.loads((out / "cold_start" / "summary.json").read_text())["eval_after"]
    assert 0.3 <= after["tools"]["tools/used_share"] <= 0.7, after["tools"]
    assert after["tools"]["tools/clean_use_share"] == after["tools"]["tools/used_share"]  # calls parse and run
    assert after["accuracy"] > 0.1, after  # the numbers are copied into the call and out of its result


def test_grpo_raises_accuracy_and_tool_use(agentic_run):
    out, done = agentic_run
    summary = json.loads((out / "grpo" / "summary.json").read_text())
    before, after = summary["eval_before"], summary["eval_after"]
    gain = after["accuracy"] - before["accuracy"]
    assert gain > two_standard_errors(before, after), (before["accuracy"], after["accuracy"])
    assert after["tools"]["tools/used_share"] > before["tools"]["tools/used_share"] + 0.2, (before["tools"], after["tools"])
    assert after["tools"]["tools/clean_use_share"] > before["tools"]["tools/clean_use_share"]
    logs = [json.loads(line) for line in (out / "grpo" / "metrics.jsonl").read_text().splitlines()]
    assert all("tools/used_share" in r and "rewards/math_accuracy/with_tool" in r for r in logs)
    assert logs[-1]["tools/used_share"] > logs[0]["tools/used_share"]  # in training too, at T=1
    result = json.loads((out / "grpo" / "train_result.json").read_text())
    assert result["tools"]["calls"] > 0 and result["tools"]["timeout"] == 0
    assert "before/after" in done.stderr and "tool use" in done.stderr

"""benchmarks/gpu_check.py's CPU smoke: the model written from the shipped config, the recipe trained through
rltrain's normal path for one step, and the report beside the plan (the GPU run itself needs a GPU)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_one_step_on_cpu_and_reports_beside_the_plan(tmp_path):
    out = tmp_path / "check"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--out", str(out), "--device", "cpu", "--tiny",
         "--steps", "1", "--batch", "4", "--completion", "8"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["measured"]["global_step"] == 1 and report["measured"]["median_step_s"] > 0
    # On CPU the peak-RSS growth may be 0: loading the model can already have set the high-water mark.
    assert report["measured"]["tokens_per_s"] > 0 and "peak_rss_growth_bytes" in report["measured"]
    assert report["plan"]["verdict"] == "fits" and report["plan"]["peak_bytes"] > 0
    assert {"weights", "gradients", "optimizer", "activations"} <= set(report["plan"]["terms"])
    assert report["settings"]["prompt_tokens"] > 0 and report["model"]["tiny"]
    config = json.loads((out / "model" / "config.json").read_text())
    assert config["model_type"] == "qwen2" and config["num_hidden_layers"] == 1

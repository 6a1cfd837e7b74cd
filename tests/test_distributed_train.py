"""`rltrain train` on 2 CPU processes under DeepSpeed ZeRO-3: sharded save, HF final weights, resume, and an
in-process reward model sharded with the policy (scored in every step, never masked)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
        "intermediate_size": 64}


def write_reward_model(path: Path) -> Path:
    from rltrain.models.tiny import write_tiny_reward_model
    from rltrain.recipe import TinyModelConfig

    return write_tiny_reward_model(path, TinyModelConfig(**TINY))


def recipe(out: Path, max_steps: int, reward_model: Path) -> dict:
    return {
        "name": "zero3-cpu",
        "model": {"name_or_path": "tiny", "tiny": TINY},
        "data": {"source": "synthetic:arithmetic", "synthetic": {"size": 200, "max_a": 19, "max_b": 19},
                 "prompt_template": "{prompt}", "eval_size": 16},
        "rewards": [{"name": "think_format"}, {"name": "math_accuracy", "weight": 0.5},
                    {"name": "reward_model", "weight": 0.1, "params": {"model_path": str(reward_model), "batch_size": 3}}],
        "grpo": {"max_steps": max_steps, "save_steps": 2, "per_device_train_batch_size": 4,
                 "num_generations": 4, "max_completion_length": 8, "learning_rate": 1e-3},
        "distributed": {"mode": "zero3", "num_processes": 2},
        "eval": {"num_prompts": 8, "num_samples": 2, "max_new_tokens": 8, "metric": "think_format"},
        "logging": {"progress": False},
        "output_dir": str(out),
    }


def run(path: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "rltrain", "train", str(path), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_zero3_two_processes_save_and_resume(tmp_path):
    out = tmp_path / "run"
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe(out, max_steps=3, reward_model=write_reward_model(tmp_path / "rm"))))

    first = run(path)
    assert first.returncode == 0, first.stderr[-4000:]
    assert "terminate called" not in first.stderr
    shards = list((out / "checkpoint-2").glob("global_step*/*optim_states.pt"))
    assert len(shards) == 2, "one ZeRO-3 optimizer shard per rank"
    marker = json.loads((out / "checkpoint-2" / "rltrain_complete.json").read_text())
    assert sum(name.endswith("optim_states.pt") for name in marker["files"]) == 2  # listed after every rank saved
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["distributed"]["num_processes"] == 2
    logs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    scored = [r for r in logs if "rewards/reward_model/masked" in r]
    assert len(scored) == 3 and all(r["rewards/reward_model/masked"] == 0 for r in scored)  # sharded, collective
    assert summary["eval_after"]["num_prompts"] == 8

    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(out / "final")  # consolidated, not ZeRO-3 placeholders
    assert model.model.embed_tokens.weight.shape[1] == TINY["hidden_size"]

    second = run(path, "--resume", "--set", "grpo.max_steps=5")
    assert second.returncode == 0, second.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_from"].endswith("checkpoint-2") or summary["resumed_from"].endswith("checkpoint-3")
    assert summary["steps"] == 5
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    # save_total_limit 2 (the GRPO default), applied by rltrain after each marker
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-5"]


# A stop signal reaching every rank of a 2-process ZeRO-3 run and leaving a complete sharded checkpoint
# is tested through the SLURM scripts (tests/test_slurm.py: USR1 to the batch shell, requeue, resume).

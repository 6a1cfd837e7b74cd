"""Checkpoint and resume: a stopped run continues exactly where it stopped.

These train a very small model for a few GRPO steps on CPU (tens of seconds each).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from rltrain.recipe import recipe_from_dict
from rltrain.run.trainer import EXIT_INTERRUPTED, train_process

sys.path.insert(0, str(Path(__file__).parent))
import recorder_reward  # noqa: F401  (registers test_recorder)

pytestmark = pytest.mark.slow

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
        "intermediate_size": 64}


def grpo_recipe(out: Path, rewards: list[dict], max_steps: int, save_steps: int) -> dict:
    return {
        "name": "resume-test",
        "model": {"name_or_path": "tiny", "tiny": TINY},
        "data": {"source": "synthetic:arithmetic", "synthetic": {"size": 200, "max_a": 19, "max_b": 19},
                 "prompt_template": "{prompt}", "eval_size": 0},
        "rewards": rewards,
        "grpo": {"max_steps": max_steps, "save_steps": save_steps, "per_device_train_batch_size": 4,
                 "num_generations": 2, "max_completion_length": 8, "learning_rate": 1e-2, "logging_steps": 1},
        "logging": {"progress": False},
        "output_dir": str(out),
        "seed": 3,
    }


def read_record(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_interrupted_then_resumed_run_matches_an_uninterrupted_one(tmp_path, monkeypatch):
    rewards = [{"name": "test_recorder"}]

    monkeypatch.setenv("RLTRAIN_TEST_RECORD", str(tmp_path / "full.jsonl"))
    full = train_process(recipe_from_dict(grpo_recipe(tmp_path / "full", rewards, 6, 100)))
    assert full.global_step == 6 and not full.interrupted

    monkeypatch.setenv("RLTRAIN_TEST_RECORD", str(tmp_path / "split.jsonl"))
    monkeypatch.setenv("RLTRAIN_TEST_STOP_AT", "3")
    recipe = recipe_from_dict(grpo_recipe(tmp_path / "split", rewards, 6, 100))
    first = train_process(recipe)
    assert first.interrupted and first.global_step == 4  # the step being scored at the signal finishes
    assert (tmp_path / "split" / "checkpoint-4" / "rltrain_complete.json").is_file()

    monkeypatch.delenv("RLTRAIN_TEST_STOP_AT")
    second = train_process(recipe, resume=True)
    assert second.resumed_from.endswith("checkpoint-4") and second.global_step == 6

    # The same prompts in the same order: nothing replayed, nothing skipped.
    full_prompts = [r["prompts"] for r in read_record(tmp_path / "full.jsonl")]
    split_prompts = [r["prompts"] for r in read_record(tmp_path / "split.jsonl")]
    assert split_prompts == full_prompts
    # Optimizer, scheduler and RNG restored: the resumed run lands on the same weights.
    a = load_file(tmp_path / "full" / "final" / "model.safetensors")
    b = load_file(tmp_path / "split" / "final" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
    # metrics.jsonl holds each step once
    steps = [json.loads(line)["step"] for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 6


def test_sigterm_to_the_cli_saves_a_loadable_checkpoint_and_resume_continues(tmp_path):
    out = tmp_path / "run"
    recipe = grpo_recipe(out, [{"name": "think_format"}], max_steps=400, save_steps=1000)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    cmd = [sys.executable, "-m", "rltrain", "train", str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    metrics = out / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 2):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "training never logged two steps"
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == EXIT_INTERRUPTED, proc.stderr.read()

    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] and not summary["completed"]
    stopped = summary["steps"]
    checkpoint = out / f"checkpoint-{stopped}"
    assert (checkpoint / "rltrain_complete.json").is_file()
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(checkpoint).config.hidden_size == TINY["hidden_size"]

    done = subprocess.run(cmd + ["--resume", "--set", f"grpo.max_steps={stopped + 2}"],
                          capture_output=True, text=True, timeout=300, env={**os.environ})
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["completed"] and summary["steps"] == stopped + 2
    assert summary["resumed_from"].endswith(f"checkpoint-{stopped}")
    assert (out / "final" / "model.safetensors").is_file()


# --- Checkpoints that survive a kill, a corrupt file and a full disk (SFT: a few seconds per run) ---

def sft_recipe(out: Path, max_steps: int, save_steps: int, **sft) -> dict:
    """A tiny SFT run; SFT's default ``save_total_limit`` is 1, the setting where rotation can lose
    everything."""
    return {
        "name": "checkpoint-test",
        "stage": "sft",
        "model": {"name_or_path": "tiny", "tiny": TINY},
        "data": {"source": "synthetic:arithmetic", "synthetic": {"size": 64, "max_a": 19, "max_b": 9},
                 "completion_column": "solution", "instruction": "Box it.", "eval_size": 0},
        "sft": {"max_steps": max_steps, "save_steps": save_steps, "per_device_train_batch_size": 4,
                "max_length": 128, "logging_steps": 1, **sft},
        "logging": {"progress": False},
        "output_dir": str(out),
        "seed": 0,
    }


def checkpoint_names(out: Path) -> list[str]:
    return sorted((p.name for p in out.glob("checkpoint-*")), key=lambda name: int(name.split("-")[1]))


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory) -> Path:
    """An output directory holding complete checkpoint-2 and checkpoint-4 (``save_total_limit: 2``)."""
    out = tmp_path_factory.mktemp("two") / "run"
    train_process(recipe_from_dict(sft_recipe(out, 4, 2, save_total_limit=2)))
    assert checkpoint_names(out) == ["checkpoint-2", "checkpoint-4"]
    return out


def test_a_kill_after_the_trainer_saved_but_before_the_marker_keeps_the_previous_checkpoint(tmp_path):
    from rltrain.run.checkpoints import is_complete

    out = tmp_path / "run"
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(sft_recipe(out, 6, 2)))  # save_total_limit 1 (the SFT default)
    killer = Path(__file__).parent / "kill_after_save.py"
    killed = subprocess.run([sys.executable, str(killer), "4", "train", str(path)],
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == 137, killed.stderr[-3000:]
    assert is_complete(out / "checkpoint-2"), checkpoint_names(out)  # not rotated away before 4 was marked

    done = subprocess.run([sys.executable, "-m", "rltrain", "train", str(path), "--resume"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed_from"].endswith("checkpoint-2") and summary["steps"] == 6
    assert checkpoint_names(out) == ["checkpoint-6"]  # the limit still holds, the half-written 4 is gone


def test_a_truncated_file_in_the_newest_checkpoint_resumes_from_the_previous_one(two_checkpoints, tmp_path, caplog):
    out = tmp_path / "run"
    shutil.copytree(two_checkpoints, out)
    weights = out / "checkpoint-4" / "model.safetensors"
    with weights.open("r+b") as f:
        f.truncate(weights.stat().st_size // 2)

    with caplog.at_level("WARNING", logger="rltrain"):
        result = train_process(recipe_from_dict(sft_recipe(out, 6, 2, save_total_limit=2)), resume=True)
    assert result.resumed_from.endswith("checkpoint-2") and result.global_step == 6
    warning = "\n".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "checkpoint-4" in warning and "model.safetensors" in warning and "checkpoint-2" in warning


def test_a_full_disk_while_saving_is_one_clear_error_with_exit_status_1(tmp_path, monkeypatch, capsys):
    from rltrain.cli import main

    def disk_full(*args, **kwargs):  # what torch's C++ writer raises when a write fails
        raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file "
                           "data/0: file write failed")

    out = tmp_path / "run"
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(sft_recipe(out, 2, 2)))
    monkeypatch.setattr(torch, "save", disk_full)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 0))
    assert main(["train", str(path)]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "checkpoint-2" in err and "bytes free" in err
    assert "Traceback" not in err

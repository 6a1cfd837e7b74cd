"""LoRA adapters across processes and interruptions: an interrupted and resumed run ends on the same
adapter and merged weights as an uninterrupted one; 2 CPU processes under DeepSpeed ZeRO-3 (GRPO, from a
base model plus an adapter) and ZeRO-2 (reward model) train, save adapter-only checkpoints, resume, and
leave merged final weights. Tens of seconds to minutes each on CPU."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from rltrain.models.adapters import ADAPTER_DIR
from rltrain.recipe import TinyModelConfig, recipe_from_dict
from rltrain.run.layout import RunLayout
from rltrain.run.trainer import train_process

sys.path.insert(0, str(Path(__file__).parent))
import recorder_reward  # noqa: F401  (registers test_recorder)

pytestmark = pytest.mark.slow

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
        "intermediate_size": 64}


def grpo_recipe(out: Path, max_steps: int, save_steps: int, **extra) -> dict:
    return {
        "name": "lora-resume",
        "model": {"name_or_path": "tiny", "tiny": TINY},
        "data": {"source": "synthetic:arithmetic", "synthetic": {"size": 200, "max_a": 19, "max_b": 19},
                 "prompt_template": "{prompt}", "eval_size": 0},
        "rewards": [{"name": "test_recorder"}],
        "grpo": {"max_steps": max_steps, "save_steps": save_steps, "per_device_train_batch_size": 4,
                 "num_generations": 2, "max_completion_length": 8, "learning_rate": 1e-2, "logging_steps": 1,
                 "beta": 0.05},
        # dropout on: the adapters' random masks must resume exactly too (RNG state in the checkpoint)
        "peft": {"rank": 4, "dropout": 0.1},
        "logging": {"progress": False},
        "output_dir": str(out),
        "seed": 3,
        **extra,
    }


def test_an_interrupted_and_resumed_lora_run_ends_on_the_same_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("RLTRAIN_TEST_RECORD", str(tmp_path / "full.jsonl"))
    full = train_process(recipe_from_dict(grpo_recipe(tmp_path / "full", 6, 100)))
    assert full.global_step == 6 and not full.interrupted

    monkeypatch.setenv("RLTRAIN_TEST_RECORD", str(tmp_path / "split.jsonl"))
    monkeypatch.setenv("RLTRAIN_TEST_STOP_AT", "3")
    recipe = recipe_from_dict(grpo_recipe(tmp_path / "split", 6, 100))
    first = train_process(recipe)
    assert first.interrupted and first.global_step == 4
    checkpoint = tmp_path / "split" / "checkpoint-4"
    assert (checkpoint / "adapter_model.safetensors").is_file() and not (checkpoint / "model.safetensors").exists()

    monkeypatch.delenv("RLTRAIN_TEST_STOP_AT")
    second = train_process(recipe, resume=True)
    assert second.resumed_from.endswith("checkpoint-4") and second.global_step == 6

    for name in (f"{ADAPTER_DIR}/adapter_model.safetensors", "model.safetensors"):
        a, b = load_file(tmp_path / "full" / "final" / name), load_file(tmp_path / "split" / "final" / name)
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
    adapter = load_file(tmp_path / "full" / "final" / ADAPTER_DIR / "adapter_model.safetensors")
    assert any(t.abs().max() > 0 for k, t in adapter.items() if "lora_B" in k)  # the adapters did train


def test_resuming_a_full_checkpoint_with_adapters_is_refused(tmp_path, monkeypatch):
    from rltrain.errors import RecipeError

    monkeypatch.setenv("RLTRAIN_TEST_RECORD", str(tmp_path / "record.jsonl"))
    raw = grpo_recipe(tmp_path / "run", 2, 2)
    del raw["peft"]
    train_process(recipe_from_dict(raw))
    with pytest.raises(RecipeError, match="full fine-tune's checkpoint but the recipe trains adapters"):
        train_process(recipe_from_dict(grpo_recipe(tmp_path / "run", 3, 2)), resume=True)


def write_adapter(base_dir: Path, adapter_dir: Path) -> Path:
    """A LoRA adapter (random, non-zero) for the tiny model: what another run's final/adapter would be."""
    from peft import LoraConfig, get_peft_model

    from rltrain.models.tiny import build_tiny

    model, _ = build_tiny(TinyModelConfig(**TINY))
    peft_model = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.2, generator=torch.Generator().manual_seed(0))
    peft_model.save_pretrained(adapter_dir)
    return adapter_dir


def run(path: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "rltrain", "train", str(path), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


def logits(model) -> torch.Tensor:
    ids = torch.randint(5, 200, (2, 10), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return model.eval()(input_ids=ids).logits


def test_zero3_two_processes_train_lora_from_base_plus_adapter_save_and_resume(tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "run"
    raw = grpo_recipe(out, 3, 2, distributed={"mode": "zero3", "num_processes": 2})
    # a reward with spread on a random model's byte soup, so that the adapters get gradients
    raw["rewards"] = [{"name": "think_format"},
                      {"name": "length_limit", "params": {"max_chars": 4, "margin": 1.0, "answer_only": False}}]
    raw["model"]["adapter"] = str(write_adapter(tmp_path, tmp_path / "earlier_adapter"))
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))

    first = run(path)
    assert first.returncode == 0, first.stderr[-4000:]
    # The ranks loaded base + adapter, merged once on disk, by path (partitioned as they loaded).
    assert yaml.safe_load((out / "recipe.yaml").read_text())["model"]["name_or_path"] == str(RunLayout.of(out).start().resolve())
    checkpoint = out / "checkpoint-2"
    names = {p.name for p in checkpoint.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json"} <= names and "model.safetensors" not in names
    shards = list(checkpoint.glob("global_step*/*optim_states.pt"))
    assert len(shards) == 2, "one ZeRO-3 optimizer shard per rank"
    adapter_numel = sum(t.numel() for t in load_file(checkpoint / "adapter_model.safetensors").values())
    assert adapter_numel < 0.2 * sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(RunLayout.of(out).start()).parameters())

    final = out / "final"
    merged = AutoModelForCausalLM.from_pretrained(final)  # consolidated plain weights, not ZeRO-3 placeholders
    start = AutoModelForCausalLM.from_pretrained(RunLayout.of(out).start())
    with_adapter = PeftModel.from_pretrained(start, final / ADAPTER_DIR)
    torch.testing.assert_close(logits(merged), logits(with_adapter), rtol=0, atol=1e-5)

    adapter = load_file(final / ADAPTER_DIR / "adapter_model.safetensors")
    assert any(t.abs().max() > 0 for k, t in adapter.items() if "lora_B" in k)  # the adapters trained

    merged_at = (final / "config.json").stat().st_mtime_ns
    second = run(path, "--resume", "--set", "grpo.max_steps=4")
    assert second.returncode == 0, second.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["resumed_from"].endswith(("checkpoint-2", "checkpoint-3"))
    assert json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())["global_step"] == 4
    assert (final / "config.json").stat().st_mtime_ns > merged_at  # merged anew, from the newer adapter
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(RunLayout.of(out).start()), final / ADAPTER_DIR)
    torch.testing.assert_close(logits(AutoModelForCausalLM.from_pretrained(final)), logits(with_adapter), rtol=0, atol=1e-5)


def test_zero2_two_processes_train_a_lora_reward_model(tmp_path):
    from transformers import AutoModelForSequenceClassification

    out = tmp_path / "run"
    raw = {
        "name": "lora-rm-zero2",
        "stage": "reward",
        "model": {"name_or_path": "tiny", "tiny": TINY},
        "data": {"source": "synthetic:preferences", "synthetic": {"size": 48}, "eval_size": 8},
        "rm": {"max_steps": 3, "save_steps": 2, "per_device_train_batch_size": 4, "learning_rate": 1e-2,
               "logging_steps": 1},
        "peft": {"rank": 4},
        "distributed": {"mode": "zero2", "num_processes": 2},
        "eval": {"num_prompts": 8},
        "logging": {"progress": False},
        "output_dir": str(out),
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    done = run(path)
    assert done.returncode == 0, done.stderr[-4000:]
    checkpoint = out / "checkpoint-3"  # save_total_limit 1 (the reward stage's default) rotated checkpoint-2 away
    assert (checkpoint / "adapter_model.safetensors").is_file() and not (checkpoint / "model.safetensors").exists()
    states = torch.load(checkpoint / "global_step3" / "mp_rank_00_model_states.pt", weights_only=False)
    assert states["module"] and all("lora_" in k or ".score." in k for k in states["module"])  # no frozen weights
    model = AutoModelForSequenceClassification.from_pretrained(out / "final")
    assert model.score.weight.shape[0] == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["completed"] and summary["eval_after"]["metric"] == "pairwise_accuracy"

"""Tests for rltrain.distributed: accelerate configs, the launch command, the CPU DeepSpeed shim, teardown.

The fast tests launch nothing. The slow test runs a real 2-process DeepSpeed ZeRO-3 GRPO training on CPU
through ``accelerate launch`` (tests/dist_grpo_script.py), resumes it from its sharded checkpoint and
loads the consolidated weights written by ``trainer.save_model``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rltrain import distributed
from rltrain.distributed import (
    MODES,
    accelerate_config_path,
    apply_cpu_deepspeed_shim,
    environment_for_launch,
    launch_command,
    teardown,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).resolve().parent / "dist_grpo_script.py"


# ----------------------------------------------------------------------------- configs


@pytest.mark.parametrize("mode", MODES)
def test_accelerate_config_path_for_every_mode(mode):
    path = accelerate_config_path(mode)
    assert path == REPO_ROOT / "recipes" / "accelerate" / f"{mode}.yaml"
    assert path.is_file()
    config = yaml.safe_load(path.read_text())
    assert config["num_machines"] == 1
    if mode == "single":
        assert config["distributed_type"] == "NO"
        assert config["num_processes"] == 1
        return
    assert config["distributed_type"] == "DEEPSPEED"
    assert config["num_processes"] == 8
    assert config["mixed_precision"] == "bf16"
    ds = config["deepspeed_config"]
    assert ds["zero_stage"] == (2 if mode == "zero2" else 3)
    if mode.startswith("zero3"):
        assert ds["zero3_init_flag"] is True
        assert ds["zero3_save_16bit_model"] is True
    offload = "cpu" if mode == "zero3_offload" else "none"
    assert ds["offload_optimizer_device"] == offload
    assert ds["offload_param_device"] == offload


def test_accelerate_configs_load_with_accelerate():
    from accelerate.commands.config.config_args import load_config_from_file

    for mode in MODES:
        config = load_config_from_file(str(accelerate_config_path(mode)))
        assert str(config.distributed_type).endswith("DEEPSPEED" if mode != "single" else "NO")


def test_unknown_mode_names_the_accepted_modes():
    with pytest.raises(ValueError, match="accepted modes: single, zero2, zero3, zero3_offload"):
        accelerate_config_path("zero4")


# ----------------------------------------------------------------------------- launch command


def _parse_launch(cmd: list[str]):
    """Parse ``cmd`` (after ``python -m accelerate.commands.launch``) with accelerate's own parser."""
    from accelerate.commands.launch import launch_command_parser

    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    return launch_command_parser().parse_args(cmd[3:])


def test_launch_command_on_cpu(monkeypatch):
    monkeypatch.setattr(distributed, "has_gpu", lambda: False)
    cmd = launch_command("zero3", 2, ["train", "recipe.yaml", "--max-steps", "3"], main_process_port=29123)
    assert cmd[cmd.index("--config_file") + 1] == str(accelerate_config_path("zero3"))
    assert cmd[cmd.index("--num_processes") + 1] == "2"
    assert cmd[cmd.index("--mixed_precision") + 1] == "no"
    assert cmd[cmd.index("--main_process_port") + 1] == "29123"
    assert cmd[-6:] == ["-m", "rltrain.cli", "train", "recipe.yaml", "--max-steps", "3"]

    args = _parse_launch(cmd)
    assert args.config_file == str(accelerate_config_path("zero3"))
    assert args.num_processes == 2
    assert args.mixed_precision == "no"
    assert args.main_process_port == 29123
    assert args.module is True
    assert args.training_script == "rltrain.cli"
    assert args.training_script_args == ["train", "recipe.yaml", "--max-steps", "3"]


def test_launch_command_on_gpu_keeps_config_precision(monkeypatch):
    monkeypatch.setattr(distributed, "has_gpu", lambda: True)
    cmd = launch_command("zero2", 8, ["train", "r.yaml"])
    assert "--mixed_precision" not in cmd
    assert "--main_process_port" not in cmd
    assert _parse_launch(cmd).num_processes == 8


def test_launch_command_rejects_bad_arguments():
    with pytest.raises(ValueError, match="exactly one process"):
        launch_command("single", 2, ["train", "r.yaml"])
    with pytest.raises(ValueError, match="positive integer"):
        launch_command("zero3", 0, ["train", "r.yaml"])
    with pytest.raises(ValueError, match="accepted modes"):
        launch_command("ddp", 2, ["train", "r.yaml"])


def test_environment_for_launch(monkeypatch):
    monkeypatch.delenv("DS_ACCELERATOR", raising=False)
    monkeypatch.setattr(distributed, "has_gpu", lambda: False)
    assert environment_for_launch() == {"DS_ACCELERATOR": "cpu"}
    monkeypatch.setenv("DS_ACCELERATOR", "cpu")
    assert environment_for_launch() == {}  # the user's value wins
    monkeypatch.delenv("DS_ACCELERATOR")
    monkeypatch.setattr(distributed, "has_gpu", lambda: True)
    assert environment_for_launch() == {}


# ----------------------------------------------------------------------------- shim


@pytest.fixture
def restore_prepare_backend(monkeypatch):
    """Undo any shim patch and environment changes after the test."""
    from accelerate.state import PartialState

    original = PartialState._prepare_backend
    monkeypatch.setattr(PartialState, "_prepare_backend", original)
    monkeypatch.setenv("DS_ACCELERATOR", os.environ.get("DS_ACCELERATOR", "cpu"))
    return original


def test_shim_is_noop_without_deepspeed_launch(monkeypatch, restore_prepare_backend):
    from accelerate.state import PartialState

    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED", raising=False)
    assert apply_cpu_deepspeed_shim() is False
    assert PartialState._prepare_backend is restore_prepare_backend
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "false")
    assert apply_cpu_deepspeed_shim() is False
    assert PartialState._prepare_backend is restore_prepare_backend


def test_shim_is_noop_with_gpu(monkeypatch, restore_prepare_backend):
    from accelerate.state import PartialState

    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setattr(distributed, "has_gpu", lambda: True)
    assert apply_cpu_deepspeed_shim() is False
    assert PartialState._prepare_backend is restore_prepare_backend


def test_shim_fills_gloo_backend_only_for_cpu_deepspeed(monkeypatch, restore_prepare_backend):
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType

    original = restore_prepare_backend
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setattr(distributed, "has_gpu", lambda: False)
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    # accelerate's own answer on a GPU-less host: no backend, i.e. a one-process world
    assert original(None, cpu=False) == (None, DistributedType.NO)

    assert apply_cpu_deepspeed_shim() is True
    patched = PartialState._prepare_backend
    assert patched is not original and patched.__wrapped__ is original
    assert apply_cpu_deepspeed_shim() is True  # idempotent: not wrapped twice
    assert PartialState._prepare_backend is patched

    assert patched(None, cpu=False) == ("gloo", DistributedType.NO)
    # cpu=True keeps accelerate's MULTI_CPU answer (DeepSpeed is off there anyway)
    assert patched(None, cpu=True) == original(None, cpu=True)
    # not launched, or not a DeepSpeed launch: unchanged
    monkeypatch.delenv("LOCAL_RANK")
    assert patched(None, cpu=False) == (None, DistributedType.NO)
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "false")
    assert patched(None, cpu=False) == (None, DistributedType.NO)


def test_teardown_without_process_group_is_harmless():
    teardown()
    teardown()


# ----------------------------------------------------------------------------- 2-process run


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(script_args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    cmd = launch_command("zero3", 2, [], main_process_port=_free_port())
    module = cmd.index("rltrain.cli")
    cmd = cmd[: module - 1] + [str(SCRIPT), *script_args]  # a script instead of `-m rltrain.cli`
    env = {
        **os.environ,
        **environment_for_launch(),
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "PYTHONWARNINGS": "ignore",
    }
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=400)
    return proc, time.monotonic() - started


def _assert_ok(proc: subprocess.CompletedProcess) -> None:
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"launch failed with {proc.returncode}:\n{output[-6000:]}"
    assert "terminate called" not in output, output[-6000:]


def _global_step(checkpoint: Path) -> int:
    return json.loads((checkpoint / "trainer_state.json").read_text())["global_step"]


def _assert_zero3_checkpoint(checkpoint: Path, step: int) -> None:
    shards = checkpoint / f"global_step{step}"
    assert shards.is_dir(), sorted(p.name for p in checkpoint.iterdir())
    for rank in (0, 1):
        assert (shards / f"zero_pp_rank_{rank}_mp_rank_00_model_states.pt").is_file()
        assert (shards / f"zero_pp_rank_{rank}_mp_rank_00_optim_states.pt").is_file()
    assert (checkpoint / "latest").read_text().strip() == f"global_step{step}"
    assert _global_step(checkpoint) == step


@pytest.mark.slow
@pytest.mark.skipif(distributed.has_gpu(), reason="exercises the GPU-less DeepSpeed path")
def test_two_process_zero3_grpo_train_resume_and_save(tmp_path):
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from dist_grpo_script import build_tiny_model_dir
    finally:
        sys.path.remove(str(SCRIPT.parent))
    model_dir = build_tiny_model_dir(tmp_path / "model")
    out = tmp_path / "out"
    common = ["--model", str(model_dir), "--output", str(out), "--save-steps", "2"]

    first, first_s = _launch([*common, "--max-steps", "3"], cwd=tmp_path)
    _assert_ok(first)
    info = json.loads((out / "run_info.json").read_text())
    assert info["shim_applied"] is True
    assert info["num_processes"] == 2
    assert info["distributed_type"].endswith("DEEPSPEED")
    assert info["zero_stage"] == 3
    assert info["global_step"] == 3
    _assert_zero3_checkpoint(out / "checkpoint-2", 2)
    _assert_zero3_checkpoint(out / "checkpoint-3", 3)

    second, second_s = _launch([*common, "--max-steps", "5", "--resume", str(out / "checkpoint-3")], cwd=tmp_path)
    _assert_ok(second)
    resumed = json.loads((out / "run_info.json").read_text())
    assert resumed["global_step"] == 5 > info["global_step"]
    _assert_zero3_checkpoint(out / "checkpoint-5", 5)
    print(f"2-process ZeRO-3 GRPO on CPU: first launch {first_s:.1f}s, resumed launch {second_s:.1f}s")

    # trainer.save_model under ZeRO-3 wrote consolidated (gathered) HF weights
    from transformers import AutoModelForCausalLM

    initial = AutoModelForCausalLM.from_pretrained(model_dir)
    trained, loading = AutoModelForCausalLM.from_pretrained(out, output_loading_info=True)
    assert not loading["missing_keys"] and not loading["unexpected_keys"] and not loading["mismatched_keys"]
    initial_params = dict(initial.named_parameters())
    trained_params = dict(trained.named_parameters())
    assert trained_params.keys() == initial_params.keys()
    for name, param in trained_params.items():
        assert param.shape == initial_params[name].shape and param.numel() > 0, name
    changed = [n for n, p in trained_params.items() if not p.detach().equal(initial_params[n].detach())]
    assert changed, "saved weights equal the initial weights: training or gathering did not happen"

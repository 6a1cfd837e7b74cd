"""Tests for rltrain.run.distributed: accelerate configs, the launch command, the CPU DeepSpeed shim, teardown.

These tests launch nothing (teardown is checked on a one-process gloo group). Real launches: 2 ranks
through :func:`launch_command`'s ``-m`` form from an unrelated directory, each reporting what accelerate
sees (:func:`rltrain.run.distributed.rank_report`), in tests/test_reward_model_zero3.py; the 2-process ZeRO-3
GRPO training, sharded save and resume through the CLI in tests/test_distributed_train.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from rltrain.run import distributed
from rltrain.run.distributed import (
    MODES,
    accelerate_config_path,
    apply_cpu_deepspeed_shim,
    environment_for_launch,
    launch_command,
    needs_launcher,
    teardown,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


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


def test_needs_launcher(monkeypatch):
    for name in ("WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert needs_launcher("single", 1) is False
    assert needs_launcher("zero2", 1) is True  # DeepSpeed always runs under the launcher
    assert needs_launcher("zero3", 2) is True
    monkeypatch.setenv("LOCAL_RANK", "0")  # already launched: never re-launch
    assert needs_launcher("zero3", 2) is False
    with pytest.raises(ValueError, match="accepted modes"):
        needs_launcher("fsdp", 2)


def test_environment_for_launch(monkeypatch):
    monkeypatch.delenv("DS_ACCELERATOR", raising=False)
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    monkeypatch.setattr(distributed, "has_gpu", lambda: False)
    env = environment_for_launch()
    assert env["DS_ACCELERATOR"] == "cpu"
    assert env["PYTHONPATH"].split(os.pathsep) == [str(REPO_ROOT), "/somewhere"]

    monkeypatch.setenv("DS_ACCELERATOR", "cuda")  # the user's value wins
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))  # already importable: left alone
    assert environment_for_launch() == {}

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


@pytest.fixture
def one_rank_gloo_group(tmp_path, monkeypatch):
    """A real one-process gloo world (default group plus one sub-group); destroyed again if a test fails."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    dist.new_group([0])
    barriers = []
    real_barrier = dist.barrier
    monkeypatch.setattr(dist, "barrier", lambda group=None, **kw: barriers.append(group) or real_barrier(group=group))
    yield barriers
    if dist.is_initialized():
        dist.destroy_process_group()


def test_teardown_barriers_every_group_then_destroys(one_rank_gloo_group):
    import torch.distributed as dist
    from accelerate.state import PartialState

    teardown()
    assert len(one_rank_gloo_group) == 2  # the default group and the sub-group
    assert not dist.is_initialized()
    assert PartialState._shared_state == {}
    teardown()  # twice is fine


def test_teardown_during_an_exception_skips_barriers(one_rank_gloo_group):
    import torch.distributed as dist

    with pytest.raises(RuntimeError, match="rank failed"):
        try:
            raise RuntimeError("rank failed")
        finally:
            teardown()
    assert one_rank_gloo_group == []
    assert not dist.is_initialized()

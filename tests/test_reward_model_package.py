"""The reward model package: one module per job, no import cycle, the reward registered on import."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

import verifiers


@pytest.mark.parametrize("module", ["rendering", "model", "client", "vllm", "server", "reward"])
def test_each_module_imports_first_in_a_fresh_interpreter(module):
    done = subprocess.run([sys.executable, "-c", f"import verifiers.reward_model.{module}"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_every_path_renders_with_the_one_rendering_module():
    from verifiers.reward_model import model, rendering, vllm

    assert model.render is rendering.render and vllm.render is rendering.render


def test_the_old_flat_modules_are_gone_and_the_reward_still_registers():
    for old in ("reward_model_client", "reward_model_server", "reward_model_vllm"):
        assert importlib.util.find_spec(f"verifiers.{old}") is None
    assert "reward_model" in verifiers.available_rewards()
    from verifiers.reward_model import RewardModel, RewardModelClient, VLLMRewardClient, normalize  # noqa: F401

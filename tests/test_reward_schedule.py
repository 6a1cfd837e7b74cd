"""Reward scheduling (rollout.reward_mode): concurrent scoring, overlapped and pipelined GRPO steps."""

import asyncio
import json
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from rltrain.errors import RecipeError
from rltrain.recipe import RolloutConfig, load_recipe, recipe_from_dict
from rltrain.rollout.grpo import grpo_trainer_class
from rltrain.rollout.reward_schedule import RewardSchedule, score_batch

sys.path.insert(0, str(Path(__file__).parent))
import recorder_reward  # noqa: F401  (registers test_recorder)

REPO = Path(__file__).resolve().parents[1]


def test_score_batch_runs_async_and_plain_rewards_at_once():
    threads = set()

    def plain(prompts, completions, **kwargs):
        threads.add(threading.current_thread().name)
        time.sleep(0.4)
        kwargs["log_metric"]("plain/calls", 1.0)
        return [1.0, None]

    async def coroutine(prompts, completions, **kwargs):
        await asyncio.sleep(0.4)
        kwargs["log_extra"]("note", ["a", "b"])
        return [0.5, 0.25]

    started = time.perf_counter()
    scored = score_batch([plain, coroutine], ["p1", "p2"], ["c1", "c2"], [[1], [2]], {"answer": ["1", "2"]})
    assert time.perf_counter() - started < 0.75, "the two 0.4 s rewards ran one after the other"
    assert torch.equal(torch.isnan(scored.rewards), torch.tensor([[False, False], [True, False]]))
    assert scored.rewards[0].tolist() == [1.0, 0.5] and scored.rewards[1, 1].item() == 0.25
    assert scored.metrics == [("plain/calls", 1.0)] and scored.extras == [("note", ["a", "b"])]
    assert threading.main_thread().name not in threads


def test_score_batch_names_a_reward_returning_the_wrong_count():
    def short(prompts, completions, **kwargs):
        return [1.0]

    with pytest.raises(ValueError, match="'short' returned 1 rewards for 2 completions"):
        score_batch([short], ["p1", "p2"], ["c1", "c2"], [[1], [2]], {})


def test_recipe_switch_and_trainer_class():
    recipe = load_recipe(REPO / "recipes/smoke/stage1.yaml", ["model.name_or_path=tiny", "rollout.reward_mode=pipelined"])
    assert recipe.rollout.reward_mode == "pipelined"
    cls = grpo_trainer_class(recipe.rollout)
    assert issubclass(cls, RewardSchedule) and cls.rollout.reward_mode == "pipelined"
    with pytest.raises(RecipeError, match="rollout.reward_mode"):
        load_recipe(REPO / "recipes/smoke/stage1.yaml", ["model.name_or_path=tiny", "rollout.reward_mode=later"])
    with pytest.raises(ValueError, match="use reward_mode 'sync' or 'overlapped'"):
        RolloutConfig(reward_mode="pipelined", dynamic_sampling={"enabled": True})
    with pytest.raises(RecipeError, match="applies to GRPO stages only"):
        load_recipe(REPO / "recipes/smoke/cold_start.yaml", ["rollout.reward_mode=overlapped"])


TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
        "intermediate_size": 64}


def _recipe(out: Path, mode: str, steps: int) -> dict:
    return {
        "name": f"schedule-{mode}",
        "model": {"name_or_path": "tiny", "tiny": TINY},
        "data": {"source": "synthetic:arithmetic", "synthetic": {"size": 400, "max_a": 19, "max_b": 19},
                 "prompt_template": "{prompt}"},
        "rewards": [{"name": "test_recorder"}],
        "grpo": {"max_steps": steps, "save_steps": 1000, "per_device_train_batch_size": 8, "num_generations": 4,
                 "max_completion_length": 16, "learning_rate": 1e-2, "logging_steps": 1, "beta": 0.0},
        "rollout": {"reward_mode": mode},
        "logging": {"progress": False},
        "output_dir": str(out),
        "seed": 3,
    }


@pytest.mark.slow
def test_pipelined_training_is_one_step_behind_and_still_learns(tmp_path, monkeypatch):
    from rltrain.run.trainer import train_process

    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("RLTRAIN_TEST_RECORD", str(record))
    result = train_process(recipe_from_dict(_recipe(tmp_path / "run", "pipelined", 24)))
    assert result.global_step == 24 and not result.interrupted

    calls = [json.loads(line) for line in record.read_text().splitlines()]
    # The first batch is sampled twice to fill the pipeline; then one new batch per step, generated at
    # step t and trained at step t + 1 (the last one stays in flight when training ends).
    assert [c["step"] for c in calls] == [0, 0, *range(1, 24)]
    assert calls[0]["prompts"] == calls[1]["prompts"] and calls[2]["prompts"] != calls[1]["prompts"]

    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all("timing/reward_wait_s" in m and "timing/generation_s" in m for m in metrics)
    rewards = [m["reward"] for m in metrics]
    assert sum(rewards[-6:]) / 6 > sum(rewards[:6]) / 6 + 0.05, rewards  # longer completions score higher


@pytest.mark.slow
def test_overlapped_training_scores_every_batch_on_policy(tmp_path, monkeypatch):
    from rltrain.run.trainer import train_process

    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("RLTRAIN_TEST_RECORD", str(record))
    result = train_process(recipe_from_dict(_recipe(tmp_path / "run", "overlapped", 4)))
    assert result.global_step == 4
    assert [json.loads(line)["step"] for line in record.read_text().splitlines()] == [0, 1, 2, 3]

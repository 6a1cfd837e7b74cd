"""Reward scheduling (rollout.reward_mode): concurrent scoring, overlapped and pipelined GRPO steps."""

import asyncio
import json
import math
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


# --- pipelined: which weights the ratio and the vLLM importance weight are taken against --------------------
#
# A real TRL trainer on the tiny model, three steps at a large learning rate, recording every generation
# (the step it ran at, the completions, their log-probs under the weights of that moment) and every loss
# computation (the step, the batch's old log-probs, importance weights, and log-probs under the weights
# of that moment). vLLM is stood in for by an object with vLLM's generate/sync_weights interface that
# reports as sampling log-probs the trainer's own log-probs shifted by a known amount: the mismatch the
# importance weight must correct, and nothing else.

VLLM_SHIFT = 0.1  # stand-in vLLM's log-prob of each sampled token = the trainer's under the same weights - this


def completion_logps(model, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, completion_ids: torch.Tensor,
                     completion_mask: torch.Tensor) -> torch.Tensor:
    """Per-token log-probs of the completions under the model's present weights (temperature 1), from a
    plain forward pass: the reference the trainer's figures are checked against."""
    with torch.no_grad():
        ids = torch.cat([prompt_ids, completion_ids], dim=1)
        logits = model(input_ids=ids, attention_mask=torch.cat([prompt_mask, completion_mask], dim=1)).logits
        width = completion_ids.size(1)
        logps = torch.log_softmax(logits[:, -width - 1:-1].float(), dim=-1)
        return logps.gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1)


def padded(rows: list[list[int]], side: str, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids and mask padded as TRL pads a batch (prompts left, completions right)."""
    from trl.trainer.utils import pad

    tensors = [torch.tensor(r) for r in rows]
    return (pad(tensors, padding_value=pad_id, padding_side=side),
            pad([torch.ones_like(t) for t in tensors], padding_value=0, padding_side=side))


def logps_of(model, pad_id: int, prompts: list[list[int]], completions: list[list[int]]) -> list[torch.Tensor]:
    """Each completion's per-token log-probs, unpadded, computed in one batch padded as TRL pads it."""
    prompt_ids, prompt_mask = padded(prompts, "left", pad_id)
    completion_ids, completion_mask = padded(completions, "right", pad_id)
    logps = completion_logps(model, prompt_ids, prompt_mask, completion_ids, completion_mask)
    return [row[: len(c)] for row, c in zip(logps, completions, strict=True)]


class StandInVllm:
    """vLLM's ``generate``/``sync_weights`` as ``GRPOTrainer._generate_single_turn`` calls them: distinct
    random completions, and sampling log-probs ``VLLM_SHIFT`` below the trainer's under the weights of
    the moment (the weights vLLM would have been synced to)."""

    def __init__(self, trainer) -> None:
        self.trainer = trainer
        self.calls = 0

    def sync_weights(self) -> None:
        pass

    def generate(self, prompts, images, num_generations, profiler):
        self.calls += 1
        draw = torch.Generator().manual_seed(self.calls)
        first = 5  # the byte tokens: after the three special tokens and <think>, </think>
        completions = []
        for row in range(len(prompts)):
            length = int(torch.randint(2, 7, (1,), generator=draw))
            body = torch.randint(first, 200, (length,), generator=draw).tolist()
            completions.append([first + self.calls, first + row, *body])  # distinct in every call and row
        model, pad_id = self.trainer.model, self.trainer.processing_class.pad_token_id
        logps = logps_of(model, pad_id, prompts, completions)
        sampled = [[[lp - VLLM_SHIFT] for lp in row.tolist()] for row in logps]  # top-1 log-prob per token
        return prompts, completions, sampled, None


def pipelined_trainer(tmp_path: Path, generation: str, steps: int = 3):
    """A pipelined GRPO trainer on the tiny model that records its generations and loss computations;
    ``generation`` is ``in_process``, ``vllm`` (importance-sampling correction on) or ``vllm_uncorrected``."""
    from datasets import Dataset
    from trl import GRPOConfig

    from rltrain.models.tiny import build_tiny
    from rltrain.recipe.schema import TinyModelConfig

    model, tokenizer = build_tiny(TinyModelConfig(**TINY))
    rows = Dataset.from_list([{"prompt": f"{i:02d}+{i % 7}="} for i in range(40)])

    def length_reward(prompts, completions, **kwargs):
        return [len(c) / 8.0 for c in completions]

    args = GRPOConfig(
        output_dir=str(tmp_path), use_cpu=True, max_steps=steps, per_device_train_batch_size=4, num_generations=2,
        max_completion_length=8, learning_rate=1e-2, beta=0.0, temperature=1.0, logging_steps=1, save_strategy="no",
        report_to="none", disable_tqdm=True, seed=0,
    )
    base = grpo_trainer_class(RolloutConfig(reward_mode="pipelined"))

    class Recorded(base):  # type: ignore[misc,valid-type]  # a class built at run time
        def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
            completion_ids, sampled = super()._generate_single_turn(
                prompt_ids, images, multimodal_fields, num_generations, has_tool_images)
            logps = logps_of(self.model, self.processing_class.pad_token_id, prompt_ids, completion_ids)
            self.generations.append({"step": self.state.global_step, "rows": [
                (tuple(p), tuple(c), lp) for p, c, lp in zip(prompt_ids, completion_ids, logps, strict=True)]})
            return completion_ids, sampled

        def _compute_loss(self, model, inputs):
            mask = inputs["completion_mask"].bool()
            now = completion_logps(self.model, inputs["prompt_ids"], inputs["prompt_mask"], inputs["completion_ids"],
                                   inputs["completion_mask"])
            keys = [(tuple(p[m.bool()].tolist()), tuple(c[k].tolist())) for p, m, c, k in
                    zip(inputs["prompt_ids"], inputs["prompt_mask"], inputs["completion_ids"], mask, strict=True)]
            self.trained.append({"step": self.state.global_step, "keys": keys, "mask": mask, "now": now,
                                 **{k: inputs.get(k) for k in ("old_per_token_logps", "importance_sampling_ratio",
                                                                "sampling_per_token_logps")}})
            return super()._compute_loss(model, inputs)

    trainer = Recorded(model=model, reward_funcs=[length_reward], args=args, train_dataset=rows,
                       processing_class=tokenizer)
    trainer.generations, trainer.trained = [], []
    if generation != "in_process":
        trainer.use_vllm = True
        trainer.vllm_importance_sampling_correction = generation == "vllm"
        trainer.vllm_importance_sampling_mode = "token_truncate"
        trainer._last_loaded_step = -1
        trainer.vllm_generation = StandInVllm(trainer)
    return trainer


def where_generated(trainer, key: tuple) -> tuple[int, torch.Tensor]:
    """The generation (its index) that produced a trained row, and the row's log-probs at generation time."""
    found = [(i, lp) for i, g in enumerate(trainer.generations) for p, c, lp in g["rows"] if (p, c) == key]
    assert len(found) == 1, f"a trained row matches {len(found)} generated rows"
    return found[0]


@pytest.fixture(scope="module", params=["in_process", "vllm", "vllm_uncorrected"])
def pipelined_run(request, tmp_path_factory):
    trainer = pipelined_trainer(tmp_path_factory.mktemp(request.param), request.param)
    trainer.train()
    return request.param, trainer


def test_pipelined_trains_the_batch_generated_at_step_t_at_step_t_plus_1_exactly_once(pipelined_run):
    _, trainer = pipelined_run
    # The first batch is sampled twice to fill the pipeline, then one batch per step; the last stays in flight.
    assert [g["step"] for g in trainer.generations] == [0, 0, 1, 2]
    assert [t["step"] for t in trainer.trained] == [0, 1, 2], "one loss computation per step"
    trained_from = [{where_generated(trainer, key)[0] for key in t["keys"]} for t in trainer.trained]
    assert trained_from == [{0}, {1}, {2}], "step 0 trains the fill batch, step t + 1 the batch generated at step t"
    assert len(trainer.trained[1]["keys"]) == len(trainer.generations[1]["rows"]), "the whole batch, once"


def test_pipelined_old_logps_are_the_generating_weights_not_the_current_ones(pipelined_run):
    _, trainer = pipelined_run
    for trained in trainer.trained:
        old, mask, now = trained["old_per_token_logps"], trained["mask"], trained["now"]
        assert old is not None, f"step {trained['step']} trains without old log-probs: its PPO ratio is exactly 1"
        at_generation = torch.zeros_like(now)
        for row, key in enumerate(trained["keys"]):
            _, logps = where_generated(trainer, key)
            at_generation[row, : len(logps)] = logps
        assert torch.allclose(old[mask], at_generation[mask], atol=1e-4), (
            f"step {trained['step']}: old log-probs are not the generating weights' "
            f"(off by {(old - at_generation)[mask].abs().max():.2e})")
        moved = (now - at_generation)[mask].abs().max().item()
        if trained["step"] == 0:
            assert moved < 1e-4, "the fill batch is trained on-policy"
        else:
            assert moved > 1e-3, f"the weights barely moved in a step ({moved:.1e}): the test cannot tell stale from fresh"
            assert (old - now)[mask].abs().max() > 1e-3, "the ratio would start at 1: old log-probs are the current ones"


def test_pipelined_vllm_importance_weight_covers_only_the_vllm_mismatch(pipelined_run):
    generation, trainer = pipelined_run
    if generation == "in_process":
        assert all(t["importance_sampling_ratio"] is None for t in trainer.trained)
        return
    for trained in trainer.trained:
        mask, ratio, sampled = trained["mask"], trained["importance_sampling_ratio"], trained["sampling_per_token_logps"]
        old = trained["old_per_token_logps"]
        assert sampled is not None, "vLLM's sampling log-probs did not reach the batch"
        if generation == "vllm":
            # vLLM sampled with the generating weights; the trainer's log-probs under those weights exceed vLLM's
            # by exactly VLLM_SHIFT, so the weight is exp(VLLM_SHIFT) on every token, whatever the weights did since.
            expected = torch.full_like(ratio[mask], math.exp(VLLM_SHIFT))
            assert torch.allclose(ratio[mask], expected, atol=1e-4), (
                f"step {trained['step']}: the importance weight ranges {ratio[mask].min():.4f}.."
                f"{ratio[mask].max():.4f}, not exp({VLLM_SHIFT}) = {math.exp(VLLM_SHIFT):.4f}: it carries the staleness too")
        else:
            assert ratio is None
        assert old is not None and torch.allclose((old - sampled)[mask], torch.full_like(sampled[mask], VLLM_SHIFT),
                                                  atol=1e-4), "the old log-probs are not the ones vLLM's differ from"


class _ScoresWithoutOldPass:
    """Stands in for TRL's trainer: scoring that may or may not run the old log-prob pass first."""

    runs_old_pass = True

    def __init__(self) -> None:
        self.reward_funcs: list = []
        self.tools = self.rollout_func = self.environment_factories = None
        self.model = object()
        self.use_vllm = self.vllm_importance_sampling_correction = True

    def _generate_and_score_completions(self, inputs):
        ids = torch.zeros(2, 3, dtype=torch.long)
        old = self._get_per_token_logps_and_entropies(self.model, ids, ids, 3)[0] if self.runs_old_pass else None
        return {"completion_ids": ids, "trl_old": old}

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None):
        return torch.full((2, 3), -9.0), None, None


@pytest.mark.parametrize("runs_old_pass", [True, False])
def test_pipelined_vllm_scoring_must_take_the_generation_time_logps(runs_old_pass):
    from rltrain.rollout.reward_schedule import _InFlight

    class Trainer(RewardSchedule, _ScoresWithoutOldPass):
        rollout = RolloutConfig(reward_mode="pipelined")

    trainer = Trainer()
    trainer.runs_old_pass = runs_old_pass
    at_generation = torch.full((2, 3), -1.0)
    flight = _InFlight([{"prompt": "p"}], (), at_generation)
    if not runs_old_pass:  # a TRL that skipped the pass would leave the importance weight uncorrected
        with pytest.raises(RuntimeError, match="without its old log-prob pass"):
            trainer._finish(flight)
        return
    output = trainer._finish(flight)
    assert output["trl_old"] is at_generation and output["old_per_token_logps"] is at_generation
    assert trainer._get_per_token_logps_and_entropies(trainer.model, torch.zeros(2, 3), None, 3)[0][0, 0] == -9.0

"""DAPO dynamic sampling: zero-spread groups dropped, the batch refilled from deterministic prompts.

The pure helpers and the mixin's round loop are tested on plain tensors (a stand-in for TRL's trainer);
one slow test trains the tiny model with a reward that is constant for most prompts.
"""

import json
import math
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from rltrain.recipe import RolloutConfig, load_recipe, recipe_from_dict
from rltrain.rollout.dynamic_sampling import (
    DynamicSampling,
    group_spread,
    local_rows,
    merge_outputs,
    pad_and_cat,
    pick_rows,
    process_share,
    refill_indices,
    select_rows,
    shortfall,
    spread_scores,
)
from verifiers import register_reward

ROOT = Path(__file__).resolve().parents[1]
NAN = math.nan


# --- zero-spread detection ----------------------------------------------------------------------------


def test_group_spread_marks_groups_whose_rewards_differ():
    scores = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.2, 0.2, 0.0, 0.0])
    assert group_spread(scores, 2).tolist() == [False, True, False, False]
    assert group_spread(scores, 4).tolist() == [True, True]


def test_group_spread_ignores_unscorable_rows_and_float_rounding():
    scores = torch.tensor([NAN, 1.0, 1.0, 1.0,    # NaN ignored: the scored rows agree
                           NAN, 0.0, 1.0, NAN,    # two scored rows that differ
                           NAN, NAN, NAN, 0.5,    # one scored row: no spread
                           NAN, NAN, NAN, NAN,    # nothing scored
                           0.3, 0.3, 0.3, 0.3])
    scores[17] = torch.nextafter(scores[16], torch.tensor(1.0))  # equal but for float rounding
    assert scores[17] != scores[16]
    assert group_spread(scores, 4).tolist() == [False, True, False, False, False]


def test_group_spread_over_several_columns_needs_any_column_to_vary():
    scores = torch.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 0.5], [1.0, 0.5]])
    assert group_spread(scores, 2).tolist() == [True, False]


def test_group_spread_rejects_partial_groups():
    with pytest.raises(ValueError, match="groups of 4"):
        group_spread(torch.zeros(6), 4)


def test_spread_scores_follow_trls_aggregation():
    rewards = torch.tensor([[1.0, 0.0], [0.0, 1.0], [NAN, NAN], [1.0, NAN]])
    weights = torch.tensor([1.0, 1.0])
    summed = spread_scores(rewards, weights, "sum_then_normalize")
    assert summed.shape == (4, 1)
    assert summed[[0, 1, 3], 0].tolist() == [1.0, 1.0, 1.0] and math.isnan(summed[2, 0])
    # the weighted sums agree, so TRL's advantages are zero: no spread
    assert group_spread(summed, 2).tolist() == [False, False]
    # each reward is normalised on its own first: both vary in group 0
    per_reward = spread_scores(rewards, weights, "normalize_then_sum")
    assert group_spread(per_reward, 2).tolist() == [True, False]
    # a reward with weight 0 carries no signal
    assert group_spread(spread_scores(rewards, torch.tensor([1.0, 0.0]), "normalize_then_sum"), 2).tolist() == [
        True, False]
    with pytest.raises(ValueError, match="aggregation"):
        spread_scores(rewards, weights, "mean")


def test_local_rows_map_groups_to_each_process_slice():
    groups = torch.tensor([True, False])
    # groups of 4, 2 processes x 4 rows: one group each
    assert local_rows(groups, 4, 0, 4).tolist() == [True] * 4
    assert local_rows(groups, 4, 1, 4).tolist() == [False] * 4
    # groups straddling processes: 3 processes x 2 rows, groups of 3
    assert local_rows(groups, 3, 0, 2).tolist() == [True, True]
    assert local_rows(groups, 3, 1, 2).tolist() == [True, False]
    assert local_rows(groups, 3, 2, 2).tolist() == [False, False]


# --- selection and fill ---------------------------------------------------------------------------------


def test_pick_rows_takes_kept_rows_in_round_order_until_full():
    keeps = [torch.tensor([False, False, True, True]), torch.tensor([True, True, True, True])]
    assert shortfall(keeps[:1], 4) == 2 and shortfall(keeps, 4) == 0
    picks = pick_rows(keeps, 4)
    assert [(k.tolist(), f.tolist()) for k, f in picks] == [([2, 3], []), ([0, 1], [])]


def test_pick_rows_completes_a_short_batch_with_dropped_rows_of_the_first_rounds():
    keeps = [torch.tensor([True, False, False, True]), torch.tensor([False, False, False, False])]
    picks = pick_rows(keeps, 4)
    assert [(k.tolist(), f.tolist()) for k, f in picks] == [([0, 3], [1, 2]), ([], [])]
    nothing = [torch.zeros(4, dtype=torch.bool)] * 2
    assert [(k.tolist(), f.tolist()) for k, f in pick_rows(nothing, 4)] == [([], [0, 1, 2, 3]), ([], [])]
    with pytest.raises(ValueError, match="fewer than the batch size"):
        pick_rows([torch.tensor([True, False])], 4)


# --- re-padding -----------------------------------------------------------------------------------------


def test_pad_and_cat_pads_prompts_left_and_completions_right():
    a = torch.tensor([[5, 6]])
    b = torch.tensor([[7, 8, 9]])
    assert pad_and_cat([a, b], "left", 0).tolist() == [[0, 5, 6], [7, 8, 9]]
    assert pad_and_cat([a, b], "right", -1).tolist() == [[5, 6, -1], [7, 8, 9]]
    assert pad_and_cat([torch.tensor([1.0]), torch.tensor([2.0, 3.0])], "right", 0).tolist() == [1.0, 2.0, 3.0]
    sequence_level = [torch.ones(2, 1), torch.full((1, 1), 2.0)]  # importance ratio per sequence: (B, 1)
    assert pad_and_cat(sequence_level, "right", 0.0).tolist() == [[1.0], [1.0], [2.0]]


def test_merge_outputs_re_pads_every_tensor_kind():
    def part(rows: int, prompt: int, completion: int, fill: float) -> dict:
        return {
            "prompt_ids": torch.full((rows, prompt), 7),
            "prompt_mask": torch.ones(rows, prompt, dtype=torch.long),
            "completion_ids": torch.full((rows, completion), 8),
            "completion_mask": torch.ones(rows, completion, dtype=torch.long),
            "advantages": torch.full((rows,), fill),
            "old_per_token_logps": torch.full((rows, completion), -1.0),
            "ref_per_token_logps": torch.full((rows, completion), -2.0),
            "sampling_per_token_logps": torch.full((rows, completion), -3.0),
            "importance_sampling_ratio": torch.full((rows, completion), 1.5),
            "tool_mask": torch.zeros(rows, completion, dtype=torch.long),
            "maybe": None,
        }

    merged = merge_outputs([part(1, 2, 3, 0.5), part(2, 4, 1, -0.5)], pad_token_id=0)
    assert merged["prompt_ids"].tolist() == [[0, 0, 7, 7], [7, 7, 7, 7], [7, 7, 7, 7]]
    assert merged["prompt_mask"].tolist() == [[0, 0, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]
    assert merged["completion_ids"].tolist() == [[8, 8, 8], [8, 0, 0], [8, 0, 0]]
    assert merged["completion_mask"].tolist() == [[1, 1, 1], [1, 0, 0], [1, 0, 0]]
    assert merged["old_per_token_logps"][1].tolist() == [-1.0, 0.0, 0.0]
    assert merged["ref_per_token_logps"][1].tolist() == [-2.0, 0.0, 0.0]
    assert merged["sampling_per_token_logps"][2].tolist() == [-3.0, 0.0, 0.0]
    assert merged["importance_sampling_ratio"][2].tolist() == [1.5, 0.0, 0.0]
    assert merged["tool_mask"][1].tolist() == [0, 1, 1]  # TRL pads tool_mask with 1
    assert merged["advantages"].tolist() == [0.5, -0.5, -0.5]
    assert merged["maybe"] is None
    assert {k: v.dtype for k, v in merged.items() if v is not None} == {
        k: v.dtype for k, v in part(1, 1, 1, 0.0).items() if v is not None}


def test_merge_outputs_refuses_what_it_cannot_re_pad():
    base = {"prompt_ids": torch.zeros(1, 1), "advantages": torch.zeros(1)}
    with pytest.raises(ValueError, match="pixel_values"):
        merge_outputs([{**base, "pixel_values": torch.zeros(1, 3)}] * 2, 0)
    with pytest.raises(ValueError, match="different entries"):
        merge_outputs([base, {**base, "tool_mask": torch.zeros(1, 1)}], 0)


def test_select_rows_keeps_per_row_tensors_and_drops_batch_entries():
    output = {"advantages": torch.tensor([1.0, 2.0, 3.0]), "completion_ids": torch.arange(6).view(3, 2),
              "num_items_in_batch": torch.tensor(6), "ref_per_token_logps": None}
    selected = select_rows(output, torch.tensor([2, 0]))
    assert selected["advantages"].tolist() == [3.0, 1.0]
    assert selected["completion_ids"].tolist() == [[4, 5], [0, 1]]
    assert "num_items_in_batch" not in selected and selected["ref_per_token_logps"] is None
    with pytest.raises(ValueError, match="num_images"):
        select_rows({"num_images": [1, 1, 1]}, torch.tensor([0]))


# --- refill prompts -------------------------------------------------------------------------------------


def test_refill_indices_are_a_function_of_the_key_alone():
    first = refill_indices(1000, 16, (3, 12, 0, 1))
    assert first == refill_indices(1000, 16, (3, 12, 0, 1))  # a resumed run draws the same
    assert len(set(first)) == 16 and all(0 <= i < 1000 for i in first)
    others = [refill_indices(1000, 16, key) for key in [(4, 12, 0, 1), (3, 13, 0, 1), (3, 12, 1, 1), (3, 12, 0, 2)]]
    assert all(other != first for other in others)
    small = refill_indices(5, 12, (0, 0, 0, 1))  # more prompts than rows: whole permutations repeat
    assert sorted(small[:5]) == sorted(small[5:10]) == list(range(5)) and len(small) == 12


def test_process_share_splits_the_repeat_layout_into_distinct_contiguous_slices():
    prompts = [10, 11, 12]
    shares = [process_share(prompts, 4, p, 4) for p in range(3)]
    assert shares == [[10, 10, 10, 10], [11, 11, 11, 11], [12, 12, 12, 12]]
    # groups straddling processes: the concatenation in process order is TRL's layout, groups intact
    shares = [process_share(prompts, 2, p, 3) for p in range(2)]
    assert shares == [[10, 10, 11], [11, 12, 12]]
    with pytest.raises(ValueError, match="do not cover"):
        process_share(prompts, 2, 2, 3)


# --- the round loop, on a stand-in for TRL's trainer ---------------------------------------------------


class FakeGRPO:
    """Just what DynamicSampling uses of GRPOTrainer. Round ``r`` returns rows with prompts 2 + r and
    completions 3 + 2r tokens wide; rewards come from ``script[r]`` (the gathered batch of all processes);
    advantages are the group-centred rewards plus 0.25, so rows of zero-spread groups are not zero."""

    def __init__(self, script, *, process_index=0, num_processes=1, generations=2, training=True):
        self.args = SimpleNamespace(seed=7, gradient_accumulation_steps=2, remove_unused_columns=False)
        self.state = SimpleNamespace(global_step=5)
        self.model = SimpleNamespace(training=training)
        self.accelerator = SimpleNamespace(process_index=process_index, num_processes=num_processes,
                                           device=torch.device("cpu"))
        self.train_dataset = [{"prompt": f"p{i}", "answer": str(i)} for i in range(40)]
        self.num_generations = generations
        self.reward_weights = torch.ones(1)
        self.multi_objective_aggregation = "sum_then_normalize"
        self._tokenizer = SimpleNamespace(pad_token_id=99)
        self._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
        self._step = 2
        self.script = script
        self.seen: list[list[dict]] = []
        self.dataloader_used = False

    def _remove_unused_columns(self, dataset, description=None):
        return dataset

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        return torch.tensor(self.script[len(self.seen) - 1], dtype=torch.float32).unsqueeze(1)

    def _generate_and_score_completions(self, inputs):
        self.seen.append(inputs)
        r, n = len(self.seen) - 1, len(inputs)
        rewards = self._calculate_rewards(inputs, None, None, None).flatten()
        grouped = rewards.view(-1, self.num_generations)
        centred = (grouped - grouped.mean(dim=1, keepdim=True)).flatten() + 0.25
        p = self.accelerator.process_index
        ids = torch.arange(n) + 100 * r  # which round and row a line came from
        prompt, completion = 2 + r, 3 + 2 * r
        prompt_ids = torch.full((n, prompt), 99)
        prompt_ids[:, -1] = ids
        prompt_mask = torch.zeros(n, prompt, dtype=torch.long)
        prompt_mask[:, -1] = 1
        return {
            "prompt_ids": prompt_ids,
            "prompt_mask": prompt_mask,
            "completion_ids": ids.unsqueeze(1).repeat(1, completion),
            "completion_mask": torch.ones(n, completion, dtype=torch.long),
            "advantages": centred[p * n : (p + 1) * n],
            "old_per_token_logps": torch.full((n, completion), -1.0),
            "num_items_in_batch": torch.tensor(-1),
        }


def trainer(script, max_rounds=3, **kwargs):
    cls = type("Trainer", (DynamicSampling, FakeGRPO),
               {"rollout": RolloutConfig(dynamic_sampling={"enabled": True, "max_rounds": max_rounds})})
    return cls(script, **kwargs)


def metrics(t) -> dict:
    return {k.removeprefix("dynamic_sampling/"): v for k, v in t._metrics["train"].items()}


def test_zero_spread_groups_are_dropped_and_refilled():
    t = trainer([[1, 1, 0, 1], [0, 0, 1, 0]])  # 2 groups per round; one with spread in each
    batch = t._generate_and_score_completions([{"prompt": "x"}] * 4)
    assert len(t.seen) == 2
    assert batch["completion_ids"][:, 0].tolist() == [2, 3, 102, 103]  # round 0 rows 2-3, round 1 rows 2-3
    assert batch["prompt_ids"].tolist() == [[99, 99, 2], [99, 99, 3], [99, 99, 102], [99, 99, 103]]
    assert batch["prompt_mask"][0].tolist() == [0, 0, 1]
    assert batch["completion_mask"].tolist() == [[1, 1, 1, 0, 0]] * 2 + [[1] * 5] * 2
    assert batch["old_per_token_logps"][0].tolist() == [-1.0, -1.0, -1.0, 0.0, 0.0]
    assert batch["advantages"].tolist() == [-0.25, 0.75, 0.75, -0.25]
    assert batch["num_items_in_batch"].item() == 3 + 3 + 5 + 5 and batch["num_items_in_batch"].dtype == torch.long
    assert metrics(t) == {"dropped_groups": [0.5], "rounds": [2.0], "short": [0.0], "filler": [0.0],
                          "advantage_abs_mean": [0.5]}


def test_refill_rows_are_drawn_from_the_dataset_by_the_step_key():
    t = trainer([[1, 1, 1, 1], [1, 1, 1, 1], [0, 1, 0, 1]])
    t._generate_and_score_completions([{"prompt": "x"}] * 4)
    # key: seed 7, global step 5, micro-step 2 % 2 = 0, round; two prompts, each twice
    for r in (1, 2):
        expected = [t.train_dataset[i] for i in process_share(refill_indices(40, 2, (7, 5, 0, r)), 2, 0, 4)]
        assert t.seen[r] == expected


def test_a_batch_still_short_after_max_rounds_is_completed_with_zero_advantage_rows():
    t = trainer([[1, 0, 1, 1, 0, 0], [1, 1, 0, 0, 1, 1]], max_rounds=2, generations=2)
    batch = t._generate_and_score_completions([{"prompt": "x"}] * 6)
    assert len(t.seen) == 2
    # the spread group of round 0 (rows 0-1), then round 0's dropped rows 2-5 as fillers
    assert batch["completion_ids"][:, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert batch["advantages"].tolist() == [0.75, -0.25, 0.0, 0.0, 0.0, 0.0]
    assert batch["completion_ids"].shape == (6, 3)  # only round 0 rows: its width
    assert metrics(t)["short"] == [1.0] and metrics(t)["filler"] == [4 / 6]
    assert metrics(t)["dropped_groups"] == [5 / 6]


def test_a_full_first_round_is_returned_as_generated():
    t = trainer([[1, 0, 0, 1]])
    batch = t._generate_and_score_completions([{"prompt": "x"}] * 4)
    assert len(t.seen) == 1 and metrics(t)["rounds"] == [1.0] and metrics(t)["dropped_groups"] == [0.0]
    assert batch["completion_ids"][:, 0].tolist() == [0, 1, 2, 3]
    assert batch["advantages"].tolist() == [0.75, -0.25, -0.25, 0.75]
    assert batch["num_items_in_batch"].item() == 12


def test_evaluation_is_left_to_trl():
    t = trainer([[1, 1, 1, 1]], training=False)
    batch = t._generate_and_score_completions([{"prompt": "x"}] * 4)
    assert len(t.seen) == 1 and batch["num_items_in_batch"].item() == -1 and not t._metrics["train"]


def test_each_process_keeps_its_own_rows_of_the_kept_groups():
    # 2 processes x 2 rows, groups of 4: one group straddles both; this is process 1
    script = [[1, 1, 1, 1], [0, 1, 0, 0]]
    t = trainer(script, process_index=1, num_processes=2, generations=4)
    batch = t._generate_and_score_completions([{"prompt": "x"}] * 2)
    assert batch["completion_ids"][:, 0].tolist() == [100, 101]
    assert t.seen[1] == [t.train_dataset[i] for i in process_share(refill_indices(40, 1, (7, 5, 0, 1)), 4, 1, 2)]
    assert metrics(t)["dropped_groups"] == [0.5]


def test_a_streaming_dataset_is_refused():
    class Streaming(FakeGRPO):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.train_dataset = iter([])

    cls = type("Trainer", (DynamicSampling, Streaming), {"rollout": RolloutConfig()})
    with pytest.raises(ValueError, match="map-style"):
        cls([])


# --- recipes ---------------------------------------------------------------------------------------------


def test_the_recipe_switch_composes_the_mixin():
    from rltrain.rollout.grpo import grpo_trainer_class

    recipe = load_recipe(ROOT / "recipes" / "smoke" / "stage1.yaml",
                         ["model.name_or_path=tiny", "rollout.dynamic_sampling.enabled=true"])
    assert recipe.rollout.dynamic_sampling.enabled and recipe.rollout.dynamic_sampling.max_rounds == 3
    cls = grpo_trainer_class(recipe.rollout)
    assert issubclass(cls, DynamicSampling) and cls.rollout is recipe.rollout
    from trl import GRPOTrainer

    assert cls.__mro__.index(DynamicSampling) < cls.__mro__.index(GRPOTrainer)
    assert not issubclass(grpo_trainer_class(RolloutConfig()), DynamicSampling)


# --- end to end ------------------------------------------------------------------------------------------


@register_reward("test_mostly_constant", description="constant 0 for odd answers (tests only)")
def build_mostly_constant():
    def test_mostly_constant(prompts, completions, answer, **kwargs):
        # odd answers: every completion scores 0 (a zero-spread group); even: longer scores higher
        return [0.0 if int(a) % 2 else min(len(c[0]["content"]) / 64.0, 1.0) for c, a in zip(completions, answer, strict=False)]

    return test_mostly_constant


TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
        "intermediate_size": 64}


@pytest.mark.slow
def test_training_drops_zero_spread_groups_and_trains_on_the_rest(tmp_path):
    from rltrain.run.trainer import train_process

    raw = {
        "name": "dynamic-sampling-test",
        "model": {"name_or_path": "tiny", "tiny": TINY},
        "data": {"source": "synthetic:arithmetic", "synthetic": {"size": 200, "max_a": 19, "max_b": 19},
                 "prompt_template": "{prompt}", "eval_size": 0},
        "rewards": [{"name": "test_mostly_constant"}],
        # 2 micro-batches per step from one generation batch of 4 prompts x 2 (steps_per_generation = 2)
        "grpo": {"max_steps": 3, "save_steps": 100, "per_device_train_batch_size": 4,
                 "gradient_accumulation_steps": 2, "num_generations": 2, "max_completion_length": 8,
                 "learning_rate": 1e-3, "logging_steps": 1, "loss_type": "dapo"},
        "rollout": {"dynamic_sampling": {"enabled": True, "max_rounds": 4}},
        "logging": {"progress": False},
        "output_dir": str(tmp_path / "run"),
        "seed": 1,
    }
    result = train_process(recipe_from_dict(raw))
    assert result.global_step == 3 and not result.interrupted
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "dynamic_sampling/rounds" in r]
    assert len(steps) == 3
    assert sum(r["dynamic_sampling/dropped_groups"] for r in steps) > 0, "odd answers make zero-spread groups"
    assert max(r["dynamic_sampling/rounds"] for r in steps) > 1, "dropped groups were refilled"
    assert all(r["dynamic_sampling/advantage_abs_mean"] > 0 for r in steps), "the batch carried advantages"
    assert all(r["dynamic_sampling/filler"] < 1 for r in steps)
    assert all(math.isfinite(r["loss"]) for r in records if "loss" in r)

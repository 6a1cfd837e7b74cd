"""DAPO's dynamic sampling for TRL's ``GRPOTrainer``: zero-spread groups dropped, the batch refilled.

A group (the ``num_generations`` completions of one prompt) whose rewards all score the same has zero
advantage and gives no policy gradient. In training, :class:`DynamicSampling` looks at each generation
batch TRL has generated and scored, keeps the rows of groups with reward spread, and generates further
batches from refill prompts until every process holds as many kept rows as TRL's batch had, or
``rollout.dynamic_sampling.max_rounds`` rounds ran. A batch still short after the last round is completed
with rows of dropped groups, their advantages set to exactly zero, so a step never stalls and every
tensor has the shape TRL expects (per-process rows unchanged; widths re-padded to the widest round).

Layout (TRL's ``RepeatSampler`` plus accelerate's sharding): a generation batch of ``P`` processes with
``L`` rows each is one global list of ``P * L`` rows, each prompt repeated ``num_generations`` times in a
row; process ``p`` holds rows ``[p * L, (p + 1) * L)`` and TRL gathers rewards in that order, so the
global row ``r`` belongs to group ``r // num_generations`` (a group may straddle two processes). Keep or
drop is decided per group on the gathered rewards, identically on every rank; each rank then keeps its
own rows of the kept groups, so no completion crosses processes. Refill rounds use the same layout.

Refill prompts are drawn from the train dataset by index with a generator keyed by (seed, global step,
micro-step within the step, round): a resumed run draws the same refills, and the Trainer's dataloader
(and so its position, which resume restores by skipping batches) is never touched. Every rank runs the
same number of rounds (generation and log-prob passes hold collectives under DeepSpeed ZeRO-3): whether
another round is needed is agreed with an all-reduce (max).

The pure helpers (group spread, row selection, re-padding, refill indices) work on plain tensors and
lists and are unit-tested without a model; the mixin only wires them to TRL (what it overrides, calls
and assumes of TRL is declared in :data:`rltrain.rollout.trl_seam.SEAMS`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence, Sized
from typing import Any, Literal

import torch

from rltrain.recipe.schema import RolloutConfig

Output = dict[str, Any]
"""The dict ``GRPOTrainer._generate_and_score_completions`` returns (one process's rows)."""

# How each tensor of TRL's output is re-padded when rounds of different widths are concatenated:
# (side, value); a value of None means the tokenizer's pad id. Prompts are left-padded, completions
# right-padded; padded positions carry mask 0, so what a log-prob or ratio holds there is never read
# (0, as TRL pads sampling log-probs). tool_mask pads with 1, as TRL does.
PADDING: dict[str, tuple[Literal["left", "right"], float | None]] = {
    "prompt_ids": ("left", None),
    "prompt_mask": ("left", 0),
    "completion_ids": ("right", None),
    "completion_mask": ("right", 0),
    "old_per_token_logps": ("right", 0.0),
    "ref_per_token_logps": ("right", 0.0),
    "sampling_per_token_logps": ("right", 0.0),
    "importance_sampling_ratio": ("right", 0.0),  # (B, T) per token, or (B, 1) per sequence
    "tool_mask": ("right", 1),
}
PER_ROW = {"advantages"}
"""Tensors with one entry per row (no sequence axis): concatenated as they are."""
RECOMPUTED = {"num_items_in_batch"}
"""Batch-level entries: recomputed on the final batch (see :meth:`DynamicSampling._dynamic_batch`)."""


# --- pure helpers -------------------------------------------------------------------------------------


def spread_scores(rewards_per_func: torch.Tensor, weights: torch.Tensor, aggregation: str) -> torch.Tensor:
    """The per-row scores whose spread within a group decides whether it has a GRPO signal, ``(N, K)``.

    ``rewards_per_func`` is TRL's gathered ``(N, F)`` reward matrix (NaN where a reward gave None).
    With TRL's ``sum_then_normalize`` the advantage normalises the weighted sum of the rewards (``K = 1``;
    a row where every reward is NaN is NaN, i.e. unscorable). With ``normalize_then_sum`` each reward is
    normalised within the group first, so a group carries a signal when any weighted reward varies
    (``K = F``).
    """
    weighted = rewards_per_func.float() * weights.to(rewards_per_func.device).float().unsqueeze(0)
    if aggregation == "normalize_then_sum":
        return weighted
    if aggregation != "sum_then_normalize":
        raise ValueError(f"unknown multi_objective_aggregation {aggregation!r}")
    total = weighted.nansum(dim=1)
    total[torch.isnan(rewards_per_func).all(dim=1)] = torch.nan
    return total.unsqueeze(1)


def group_spread(scores: torch.Tensor, num_generations: int, *, rtol: float = 1e-6) -> torch.Tensor:
    """Which groups have reward spread: a bool tensor with one entry per group of ``num_generations`` rows.

    Decided on the rewards themselves, not on TRL's advantages: an all-equal group's advantage is
    ``(r - mean) / (std + 1e-4)`` where the float mean of equal values need not round back to ``r``
    (advantages near, not exactly, zero), and under ``normalize_then_sum`` or ``scale_rewards: batch`` it is
    shifted or scaled by batch statistics. Equal rewards are equal floats, so the test is exact; the relative
    tolerance ``rtol`` only absorbs rounding between differently composed weighted sums (e.g. 0.1 + 0.2 and
    0.3), far below any real reward difference. NaN (unscorable) rows are ignored: a group with fewer than two
    scored rows has no spread (TRL gives those rows zero advantage).
    """
    if scores.dim() == 1:
        scores = scores.unsqueeze(1)
    if scores.size(0) % num_generations:
        raise ValueError(f"{scores.size(0)} rows do not form groups of {num_generations}")
    grouped = scores.float().reshape(-1, num_generations, scores.size(1))
    missing = torch.isnan(grouped)
    high = grouped.masked_fill(missing, -torch.inf).amax(dim=1)
    low = grouped.masked_fill(missing, torch.inf).amin(dim=1)
    scored = (~missing).sum(dim=1) >= 2
    varies = scored & (high - low > rtol * torch.maximum(high.abs(), low.abs()))
    return varies.any(dim=1)


def local_rows(groups: torch.Tensor, num_generations: int, process_index: int, local_size: int) -> torch.Tensor:
    """Per-group flags (over the gathered batch) mapped to this process's rows ``[p * L, (p + 1) * L)``."""
    rows = torch.arange(process_index * local_size, (process_index + 1) * local_size)
    return groups.cpu()[rows // num_generations]


def shortfall(keeps: Sequence[torch.Tensor], size: int) -> int:
    """Rows still missing when the kept rows of every round so far (bool masks) fill a batch of ``size``."""
    return max(0, size - sum(int(keep.sum()) for keep in keeps))


def pick_rows(keeps: Sequence[torch.Tensor], size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The rows of each round that make up a batch of ``size``: ``(kept, filler)`` row indices per round.

    Kept rows (``keeps[r]`` true) are taken in round order until the batch is full; a batch still short is
    completed with dropped rows, again in round order (the first round's first). The first round alone has
    ``size`` rows, so the batch is always full.
    """
    left = size
    kept: list[torch.Tensor] = []
    for keep in keeps:
        rows = keep.nonzero().flatten()[:left]
        kept.append(rows)
        left -= rows.numel()
    fill: list[torch.Tensor] = []
    for keep in keeps:
        rows = (~keep).nonzero().flatten()[:left]
        fill.append(rows)
        left -= rows.numel()
    if left:
        raise ValueError(f"rounds hold {size - left} rows, fewer than the batch size {size}")
    return list(zip(kept, fill, strict=False))


def pad_and_cat(tensors: Sequence[torch.Tensor], side: Literal["left", "right"], value: float) -> torch.Tensor:
    """Concatenate along rows; 2-D and wider tensors are first padded on ``side`` of dim 1 to the widest."""
    if tensors[0].dim() < 2:
        return torch.cat(list(tensors))
    width = max(t.size(1) for t in tensors)
    padded = []
    for t in tensors:
        if t.size(1) < width:
            pad = t.new_full((t.size(0), width - t.size(1), *t.shape[2:]), value)
            t = torch.cat([pad, t] if side == "left" else [t, pad], dim=1)
        padded.append(t)
    return torch.cat(padded)


def select_rows(output: Mapping[str, Any], rows: torch.Tensor) -> Output:
    """The given rows of every per-row tensor of ``output``; batch-level entries are left out."""
    selected: Output = {}
    for key, value in output.items():
        if key in RECOMPUTED:
            continue
        if value is None:
            selected[key] = None
        elif isinstance(value, torch.Tensor) and value.dim() >= 1:
            selected[key] = value[rows.to(value.device)]
        else:
            raise ValueError(
                f"dynamic sampling handles TRL's text-only batches; cannot select rows of {key!r} "
                f"({type(value).__name__}); disable rollout.dynamic_sampling for this model"
            )
    return selected


def merge_outputs(parts: Sequence[Mapping[str, Any]], pad_token_id: int) -> Output:
    """Row-concatenate outputs of several rounds, each tensor re-padded to the widest round (see PADDING)."""
    keys = list(parts[0])
    for part in parts[1:]:
        if list(part) != keys:
            raise ValueError(f"rounds returned different entries: {sorted(keys)} vs {sorted(part)}")
    merged: Output = {}
    for key in keys:
        values = [part[key] for part in parts]
        if all(v is None for v in values):
            merged[key] = None
        elif key in PER_ROW:
            merged[key] = torch.cat(values)
        elif key in PADDING:
            side, value = PADDING[key]
            merged[key] = pad_and_cat(values, side, pad_token_id if value is None else value)
        else:
            raise ValueError(
                f"dynamic sampling handles TRL's text-only batches; {key!r} has no re-padding rule; "
                "disable rollout.dynamic_sampling for this model"
            )
    return merged


def refill_indices(num_rows: int, num_prompts: int, key: Sequence[int]) -> list[int]:
    """``num_prompts`` dataset rows for one refill round, a deterministic function of ``key`` alone.

    Distinct within the round while the dataset is large enough (then whole permutations repeat). A string
    seed is hashed with SHA-512 by :class:`random.Random`: stable across processes, runs and Python versions.
    """
    if num_rows <= 0:
        raise ValueError("the train dataset is empty")
    rng = random.Random("dynamic-sampling/" + "/".join(str(k) for k in key))
    indices: list[int] = []
    while len(indices) < num_prompts:
        indices += rng.sample(range(num_rows), min(num_rows, num_prompts - len(indices)))
    return indices


def process_share(prompts: Sequence[int], num_generations: int, process_index: int, local_size: int) -> list[int]:
    """This process's rows of a round: each prompt repeated ``num_generations`` times, as TRL's
    ``RepeatSampler`` lays them out, then the contiguous slice ``[p * L, (p + 1) * L)`` accelerate gives
    process ``p``."""
    rows = [index for index in prompts for _ in range(num_generations)]
    if len(rows) < (process_index + 1) * local_size:
        raise ValueError(f"{len(prompts)} prompts x {num_generations} do not cover process {process_index}")
    return rows[process_index * local_size : (process_index + 1) * local_size]


# --- the mixin ------------------------------------------------------------------------------------------


class DynamicSampling:
    """Mixin placed before TRL's ``GRPOTrainer`` (see :mod:`rltrain.rollout.grpo`); settings from ``self.rollout``.

    Works on the whole generation batch (``per_device_train_batch_size * steps_per_generation`` rows per
    process) before TRL shuffles and splits it into micro-batches, so ``steps_per_generation > 1`` and
    ``num_iterations > 1`` (the batch reused for several passes) need nothing special: one refilled batch
    is buffered and reused as TRL would reuse its own.
    """

    rollout: RolloutConfig  # set on the composed class by rltrain.rollout.grpo
    _dynamic_rewards: torch.Tensor | None = None
    _dynamic_dataset: Any = None
    # What the mixin reads of GRPOTrainer (annotations only: nothing here shadows TRL's attributes).
    args: Any
    state: Any
    model: Any
    accelerator: Any
    train_dataset: Any
    num_generations: int
    reward_weights: torch.Tensor
    multi_objective_aggregation: str
    _tokenizer: Any
    _metrics: dict[str, dict[str, list[float]]]
    _step: int
    _remove_unused_columns: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        dataset = self.train_dataset
        if not isinstance(dataset, Sized) or not hasattr(dataset, "__getitem__"):
            raise ValueError(
                "rollout.dynamic_sampling draws refill prompts by index and needs a map-style train dataset, "
                "not a streaming one"
            )

    def _calculate_rewards(
        self, inputs: list[dict[str, Any]], prompts: list, completions: list, completion_ids_list: list
    ) -> torch.Tensor:
        # TRL returns the rewards gathered over all processes, in global row order: the exact record of
        # who scored what, captured here for the spread test (see group_spread for why not the advantages).
        rewards = super()._calculate_rewards(  # type: ignore[misc]  # GRPOTrainer's, next in the MRO
            inputs, prompts, completions, completion_ids_list)
        self._dynamic_rewards = rewards
        return rewards

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> Output:
        if not self.model.training:
            return super()._generate_and_score_completions(inputs)  # type: ignore[misc]  # GRPOTrainer's, next in the MRO
        size, generations = len(inputs), self.num_generations
        process = self.accelerator.process_index
        parts: list[Output] = []
        keeps: list[torch.Tensor] = []
        groups = dropped = 0
        batch = inputs
        for round_index in range(self.rollout.dynamic_sampling.max_rounds):
            if round_index:
                batch = self._dynamic_refill(round_index, size)
            self._dynamic_rewards = None
            parts.append(super()._generate_and_score_completions(batch))  # type: ignore[misc]  # GRPOTrainer's, next in the MRO
            if self._dynamic_rewards is None:
                raise RuntimeError("dynamic sampling saw no rewards for the round (_calculate_rewards not called)")
            scores = spread_scores(self._dynamic_rewards, self.reward_weights, self.multi_objective_aggregation)
            spread = group_spread(scores.cpu(), generations)
            groups, dropped = groups + spread.numel(), dropped + int((~spread).sum())
            keeps.append(local_rows(spread, generations, process, size))
            if self._dynamic_max(shortfall(keeps, size)) == 0:
                break
        return self._dynamic_batch(parts, keeps, size, rounds=len(parts), dropped_share=dropped / groups)

    def _dynamic_batch(
        self, parts: list[Output], keeps: list[torch.Tensor], size: int, *, rounds: int, dropped_share: float
    ) -> Output:
        """The final batch of ``size`` rows, its loss-token count and the dynamic_sampling/* metrics."""
        chosen = zip(parts, pick_rows(keeps, size), strict=False)
        picks = [(part, kept, fill) for part, (kept, fill) in chosen if len(kept) + len(fill)]  # rounds giving rows
        selected = [select_rows(part, torch.cat([kept, fill])) for part, kept, fill in picks]
        batch = merge_outputs(selected, self._tokenizer.pad_token_id)  # as wide as the rounds it took rows from
        filler = torch.cat([torch.cat([torch.zeros(k.numel()), torch.ones(f.numel())]) for _, k, f in picks]).bool()
        advantages = batch["advantages"].clone()
        advantages[filler.to(advantages.device)] = 0.0  # completed with dropped groups: no policy gradient
        batch["advantages"] = advantages
        # _compute_loss normalises loss_type dapo/cispo/vespo by num_items_in_batch, the loss tokens of the
        # whole generation batch over all processes (TRL: gather(loss_mask.sum()).sum()); the rows changed,
        # so it is counted again. grpo/bnpo/dr_grpo/luspo normalise per micro-batch from the masks themselves.
        loss_mask = batch["completion_mask"]
        if batch.get("tool_mask") is not None:
            loss_mask = loss_mask * batch["tool_mask"]
        tokens, fillers, magnitude = self._dynamic_sum(
            [float(loss_mask.sum()), float(filler.sum()), float(advantages.abs().sum())]
        )
        device = batch["completion_mask"].device
        batch["num_items_in_batch"] = torch.tensor(round(tokens), dtype=torch.long, device=device)
        rows = size * self.accelerator.num_processes
        metrics = self._metrics["train"]
        metrics["dynamic_sampling/dropped_groups"].append(dropped_share)
        metrics["dynamic_sampling/rounds"].append(float(rounds))
        metrics["dynamic_sampling/short"].append(float(fillers > 0))
        metrics["dynamic_sampling/filler"].append(fillers / rows)
        metrics["dynamic_sampling/advantage_abs_mean"].append(magnitude / rows)
        return batch

    def _dynamic_refill(self, round_index: int, size: int) -> list[dict[str, Any]]:
        """This process's ``size`` dataset rows for refill round ``round_index`` (see :func:`refill_indices`)."""
        args = self.args
        if self._dynamic_dataset is None:  # the rows as TRL's dataloader hands them over
            self._dynamic_dataset = self._remove_unused_columns(self.train_dataset, description="training")
        dataset = self._dynamic_dataset
        generations = self.num_generations
        # generation_batch_size // num_generations prompts, as TRL's sampler draws for one generation batch
        num_prompts = size * self.accelerator.num_processes // generations
        # Micro-step within the optimizer step: tells apart generations of one step when steps_per_generation
        # < gradient_accumulation_steps. Resume restarts at a step boundary with _step = 0, so it matches.
        micro = self._step % args.gradient_accumulation_steps
        key = (args.seed, self.state.global_step, micro, round_index)
        prompts = refill_indices(len(dataset), num_prompts, key)
        rows = process_share(prompts, generations, self.accelerator.process_index, size)
        return [dict(dataset[i]) for i in rows]

    def _dynamic_max(self, value: int) -> int:
        """``value``'s maximum over all ranks (every rank must call this the same number of times)."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return value
        tensor = torch.tensor([value], dtype=torch.long, device=self.accelerator.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return int(tensor.item())

    def _dynamic_sum(self, values: list[float]) -> list[float]:
        """Element-wise sums of ``values`` over all ranks (one all-reduce)."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self.accelerator.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.tolist()

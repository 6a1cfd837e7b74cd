"""Where the rollout mixins reach into TRL's ``GRPOTrainer``: declared once, checked by a fast test.

The mixins composed in :mod:`rltrain.rollout.grpo` (:mod:`rltrain.rollout.reward_schedule`,
:mod:`rltrain.rollout.dynamic_sampling`, :mod:`rltrain.rollout.tools`) override private methods of TRL's
``GRPOTrainer``, call others, read attributes its constructor sets and rely on what some of them return.
None of that is TRL's public API; only the version pin keeps it stable. Every such use is a :class:`Seam`
in :data:`SEAMS`, and ``tests/test_trl_seam.py`` checks each against the installed TRL in seconds: the
member exists, its parameters are the ones declared, and the behaviour in ``relies_on`` still holds. The
test also finds the uses by itself (every ``self.<name>``/``super().<name>`` in a mixin that the mixin does
not define), so a new override or call cannot skip the declaration, and no name a mixin defines may
exist on TRL's trainer (it would shadow TRL's). After a TRL upgrade, a failure names the mixin, the TRL
member, what changed and the file to look at.

This module is data only: it imports neither TRL nor torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "GENERATE_RESULT",
    "MIXINS",
    "MULTIMODAL_SCORED_KEYS",
    "RLTRAIN_ATTRIBUTES",
    "SCORED_KEYS",
    "SEAMS",
    "TOOL_LOOP_RESULT",
    "Seam",
    "result_field",
]

Use = Literal["override", "wraps", "call", "read", "function", "assumes"]
"""How a mixin depends on a TRL member:

* ``override``: the mixin defines the method and calls TRL's through ``super()``; TRL calls it with
  TRL's arguments, so the parameters must match exactly;
* ``wraps``: the mixin defines the method with the declared leading parameters and ``*args, **kwargs``,
  and passes everything on to TRL's through ``super()``; the declared parameters must lead TRL's
  (for a method with many optional parameters that the mixin only forwards);
* ``call``: the mixin calls the method; the declared parameters must lead TRL's, anything after them
  must have a default;
* ``read``: the mixin reads an attribute the trainer sets (or a method it only passes around);
* ``function``: a module-level TRL function or class the mixin imports (``member`` is its dotted path);
* ``assumes``: the mixin never calls this TRL method or class (a name, or a dotted path) but depends on
  what it does, e.g. which batch entries the loss reads, or the order the train sampler yields rows in.
"""

MIXINS = (
    "rltrain.rollout.dynamic_sampling.DynamicSampling",
    "rltrain.rollout.reward_schedule.RewardSchedule",
    "rltrain.rollout.tools.ToolRollout",
)
"""Every class :func:`rltrain.rollout.grpo.grpo_trainer_class` can place before TRL's ``GRPOTrainer``."""

RLTRAIN_ATTRIBUTES = ("rollout", "toolset")
"""Attributes rltrain sets on the composed class (:mod:`rltrain.rollout.grpo`); TRL must not define them."""

GENERATE_RESULT = (
    "prompt_ids", "completion_ids", "tool_mask", "completions", "logprobs", "extra_fields", "images", "tool_images",
)
"""The tuple ``GRPOTrainer._generate`` returns, by the names in TRL's ``return`` statement."""

TOOL_LOOP_RESULT = (
    "tool_mask", "completions", "completion_ids", "logprobs", "tool_call_count", "tool_failure_count", "tool_images",
)
"""The tuple ``GRPOTrainer._tool_call_loop`` returns, by the names in TRL's ``return`` statement."""

SCORED_KEYS = (
    "prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "advantages", "num_items_in_batch",
    "old_per_token_logps", "importance_sampling_ratio", "sampling_per_token_logps", "ref_per_token_logps",
    "tool_mask",
)
"""Keys of the dict ``GRPOTrainer._generate_and_score_completions`` returns for text models; dynamic
sampling has a rule for each (``PADDING``, ``PER_ROW``, ``RECOMPUTED`` in :mod:`rltrain.rollout.dynamic_sampling`)."""

MULTIMODAL_SCORED_KEYS = (
    "pixel_values", "image_grid_thw", "pixel_attention_mask", "spatial_shapes", "image_sizes", "token_type_ids",
    "mm_token_type_ids", "image_position_ids", "num_images", "num_tiles",
)
"""Keys TRL adds for vision models only; dynamic sampling refuses those batches with a clear error."""


def result_field(result: Sequence[Any], layout: tuple[str, ...], name: str) -> Any:
    """The field ``name`` of a tuple TRL returns, located through its declared ``layout`` (e.g.
    :data:`GENERATE_RESULT`), so every positional read of TRL's tuples goes through one checked place."""
    return result[layout.index(name)]


@dataclass(frozen=True)
class Seam:
    """One dependency of a rollout mixin on TRL.

    ``params`` lists the parameters after ``self`` as the mixin expects them, one string each: ``"x"``
    (positional or keyword, required), ``"x="`` (with a default), ``"*x"``/``"**x"`` (variadic),
    ``"kw:x"``/``"kw:x="`` (keyword-only). ``None`` for attributes.
    """

    mixin: str  # "module.Class", one of MIXINS
    member: str  # an attribute of GRPOTrainer, or the dotted path of a TRL function or class
    use: Use
    params: tuple[str, ...] | None = None
    relies_on: str = ""

    @property
    def mixin_name(self) -> str:
        return self.mixin.rsplit(".", 1)[1]

    @property
    def where(self) -> str:
        """The file of the mixin, relative to the repository root."""
        return self.mixin.rsplit(".", 1)[0].replace(".", "/") + ".py"

    def describe(self) -> str:
        target = self.member if "." in self.member else f"GRPOTrainer.{self.member}"
        return f"{self.mixin_name} ({self.where}) {self.use}s TRL's {target}"


_RS = "rltrain.rollout.reward_schedule.RewardSchedule"
_DS = "rltrain.rollout.dynamic_sampling.DynamicSampling"
_TR = "rltrain.rollout.tools.ToolRollout"


def _reads(mixin: str, *names: str) -> tuple[Seam, ...]:
    return tuple(Seam(mixin, name, "read") for name in names)


SEAMS: tuple[Seam, ...] = (
    # --- RewardSchedule ---------------------------------------------------------------------------
    Seam(_RS, "_generate_and_score_completions", "override", ("inputs",),
         "calls self._generate(prompts) once and passes the very list object it returned as completions "
         "(index 3 of GENERATE_RESULT) to self._calculate_rewards: overlapped scoring is looked up by its id; "
         "returns a dict holding completion_ids (SCORED_KEYS)"),
    Seam(_RS, "_generate", "override", ("prompts",),
         "returns the GENERATE_RESULT tuple (pipelined mode replays it one step later)"),
    Seam(_RS, "_calculate_rewards", "override", ("inputs", "prompts", "completions", "completion_ids_list"),
         "returns the (completions, reward functions) table gathered over processes, NaN where a reward "
         "returned None, after calling each function with prompts, completions, completion_ids, the row "
         "columns, trainer_state, log_metric and log_extra: score_batch must build the same table"),
    Seam(_RS, "_get_per_token_logps_and_entropies", "wraps",
         ("model", "input_ids", "attention_mask", "logits_to_keep", "batch_size="),
         "returns (logps, entropies, aux_loss); with use_vllm and vllm_importance_sampling_correction, "
         "_generate_and_score_completions calls it first with self.model for old_per_token_logps, before any "
         "other log-prob pass, and takes importance_sampling_ratio from exp(old_per_token_logps - "
         "sampling_per_token_logps)"),
    Seam(_RS, "_compute_loss", "assumes", ("model", "inputs"),
         "takes inputs['old_per_token_logps'], when present, as the PPO ratio's denominator, and with the "
         "vLLM correction multiplies the per-token loss by inputs['importance_sampling_ratio']"),
    Seam(_RS, "_log_metric", "call", ("name", "value")),
    Seam(_RS, "_log_completion_extra", "call", ("column", "values")),
    Seam(_RS, "_metrics", "read", relies_on='{"train": defaultdict(list), "eval": defaultdict(list)}'),
    Seam(_RS, "_tokenizer", "read"),
    Seam(_RS, "trl.trainer.utils.pad", "function",
         ("tensors", "padding_value=", "padding_side=", "pad_to_multiple_of="),
         "stacks 1-D tensors into (N, longest) padded on padding_side, widths rounded up to pad_to_multiple_of"),
    Seam(_RS, "trl.models.utils.disable_gradient_checkpointing", "function",
         ("model", "gradient_checkpointing_kwargs="), "a context manager"),
    *_reads(_RS, "reward_funcs", "tools", "rollout_func", "environment_factories", "environments", "use_vllm",
            "vllm_importance_sampling_correction", "pad_to_multiple_of", "model", "accelerator", "state", "args"),
    # --- DynamicSampling --------------------------------------------------------------------------
    Seam(_DS, "_generate_and_score_completions", "override", ("inputs",),
         "returns one process's rows as a dict of SCORED_KEYS; num_items_in_batch is "
         "gather((completion_mask * tool_mask).sum()).sum()"),
    Seam(_DS, "_calculate_rewards", "override", ("inputs", "prompts", "completions", "completion_ids_list"),
         "called once per _generate_and_score_completions; returns the gathered (rows, functions) table"),
    Seam(_DS, "_remove_unused_columns", "call", ("dataset", "description="),
         "the rows as the train dataloader hands them over"),
    Seam(_DS, "_metrics", "read", relies_on='{"train": defaultdict(list), "eval": defaultdict(list)}'),
    Seam(_DS, "_tokenizer", "read"),
    Seam(_DS, "_step", "read", relies_on="micro-steps taken, incremented by training_step"),
    Seam(_DS, "trl.trainer.utils.RepeatSampler", "assumes",
         ("data_source", "mini_repeat_count", "batch_size=", "repeat_count=", "shuffle=", "seed="),
         "the train sampler: each prompt index num_generations times in a row"),
    *_reads(_DS, "num_generations", "reward_weights", "multi_objective_aggregation", "train_dataset", "model",
            "accelerator", "state", "args"),
    # --- ToolRollout ------------------------------------------------------------------------------
    Seam(_TR, "_tool_call_loop", "override",
         ("prompts", "prompt_ids", "completion_ids", "completions", "logprobs", "images", "multimodal_fields"),
         "returns the TOOL_LOOP_RESULT tuple"),
    Seam(_TR, "_metrics", "read", relies_on='{"train": defaultdict(list), "eval": defaultdict(list)}'),
    *_reads(_TR, "accelerator", "model"),
)
"""Every dependency of the rollout mixins on TRL (see the module docstring)."""

"""Recipe schema: what a YAML recipe may say, validated before anything heavy is loaded.

A recipe describes one training stage (cold-start SFT or GRPO). Every field is declared here with its
meaning; unknown keys and wrong types are rejected with a message naming the dotted field path and
what is expected. Options for TRL's ``GRPOConfig``/``SFTConfig`` are passed through the ``grpo`` /
``sft`` mappings and checked against TRL's own dataclass fields and type annotations.

Paths to inputs (data files, local models) are resolved relative to the recipe file; ``output_dir``
is relative to the working directory. Reading a file and the checks that need more than one field or the
filesystem live beside this module (:mod:`rltrain.recipe.loading`, :mod:`rltrain.recipe.checks`).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from rltrain.recipe.trl_rules import TRL_CONFIGS

QWQ_MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
"""The usage guideline QwQ-32B recommends for math prompts; the default instruction for math data."""


TINY_MODEL = "tiny"
"""``model.name_or_path`` of the built-in tiny model (built in memory, nothing downloaded)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TinyModelConfig(_Strict):
    """Shape of the built-in tiny Qwen2-architecture model (used when ``model.name_or_path: tiny``)."""

    hidden_size: int = Field(default=128, gt=0, description="Width of the residual stream.")
    num_hidden_layers: int = Field(default=4, gt=0, description="Number of transformer blocks.")
    num_attention_heads: int = Field(default=4, gt=0, description="Query heads; must divide hidden_size.")
    num_key_value_heads: int = Field(default=2, gt=0, description="Key/value heads (grouped-query attention).")
    intermediate_size: int = Field(default=256, gt=0, description="MLP width.")
    max_position_embeddings: int = Field(default=512, gt=0, description="Longest sequence the model accepts.")
    rope_theta: float = Field(
        default=10000.0, gt=0, description="RoPE base. A small base (e.g. 100) lets a tiny model learn to copy from far "
        "back in its context quickly (the agentic miniature copies numbers from the question into a tool call).",
    )
    seed: int = Field(default=0, description="Seed of the random initialisation.")


class ModelConfig(_Strict):
    name_or_path: str = Field(
        description="A local directory, a Hugging Face hub id, or 'tiny' for the built-in tiny model."
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto", description="Weights dtype; 'auto' means bfloat16 on GPU and float32 on CPU."
    )
    trust_remote_code: bool = Field(default=False, description="Allow model code from the hub (off by default).")
    rope_scaling: dict[str, Any] | None = Field(
        default=None,
        description=(
            "RoPE scaling merged over the checkpoint's own RoPE parameters (its rope_theta is kept), for contexts "
            "beyond its native window, e.g. YaRN {rope_type: yarn, factor: 4.0, original_max_position_embeddings: "
            "32768} as QwQ-32B's model card advises; 'type' is read as 'rope_type'. Applied wherever rltrain loads "
            "the policy from a checkpoint: training (and a KL reference model) and evaluation. Not applied to the "
            "built-in tiny model, nor to vLLM, which reads config.json or its own --hf-overrides."
        ),
    )
    tiny: TinyModelConfig = Field(default_factory=TinyModelConfig, description="Shape of the 'tiny' model.")
    adapter: str | None = Field(
        default=None,
        description=(
            "A PEFT adapter directory (adapter_config.json + weights, e.g. another run's final/adapter) merged into "
            "name_or_path before anything else: the stage starts from base + adapter, evaluates that, and trains it "
            "fully or with a new adapter (`peft`). A multi-process stage writes the merged weights to "
            "<output_dir>/start first, so its ranks load plain weights."
        ),
    )

    @property
    def is_tiny(self) -> bool:
        """Whether this is the built-in tiny model rather than weights to load."""
        return self.name_or_path == TINY_MODEL

    @field_validator("rope_scaling")
    @classmethod
    def _rope_type_named(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        scaling = dict(value)
        if "type" in scaling:  # the config.json spelling of older checkpoints and model cards
            kind = scaling.pop("type")
            scaling.setdefault("rope_type", kind)
        if not isinstance(scaling.get("rope_type"), str) or not scaling["rope_type"]:
            raise ValueError("needs rope_type, e.g. {rope_type: yarn, factor: 4.0, original_max_position_embeddings: 32768}")
        return scaling


class DataConfig(_Strict):
    source: str = Field(
        description=(
            "A local .jsonl/.json/.parquet/.csv file, a Hugging Face datasets name, or 'synthetic:<task>' "
            "for a generated task (see rltrain.data.synthetic)."
        )
    )
    split: str = Field(default="train", description="Split to read from a hub dataset.")
    subset: str | None = Field(default=None, description="Configuration name of a hub dataset.")
    prompt_column: str = Field(default="problem", description="Column with the question text.")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Renames applied first, source column -> name used by rewards (e.g. {solution: answer}).",
    )
    system_prompt: str | None = Field(default=None, description="System message prepended to every prompt.")
    prompt_template: str = Field(
        default="{prompt}\n{instruction}",
        description="Template of the user message; fields: {prompt}, {instruction} and any dataset column.",
    )
    instruction: str = Field(default=QWQ_MATH_INSTRUCTION, description="Text substituted for {instruction}.")
    completion_column: str | None = Field(
        default=None, description="SFT only: column holding the target assistant response."
    )
    chosen_column: str = Field(default="chosen", description="Reward-model stage only: column of the preferred response.")
    rejected_column: str = Field(default="rejected", description="Reward-model stage only: column of the dispreferred response.")
    max_samples: int | None = Field(default=None, gt=0, description="Keep at most this many training rows.")
    eval_size: int = Field(default=0, ge=0, description="Rows held out from the end of the source for evaluation.")
    synthetic: dict[str, Any] = Field(
        default_factory=dict, description="Parameters of a 'synthetic:<task>' source (size, seed, ...)."
    )


class RewardConfig(_Strict):
    name: str = Field(description="A reward registered in verifiers (see `rltrain rewards`).")
    weight: float = Field(default=1.0, allow_inf_nan=False, description="Weight in the summed reward (TRL reward_weights).")
    params: dict[str, Any] = Field(default_factory=dict, description="Keyword parameters of the reward.")
    timeout: float = Field(
        default=120.0, gt=0, description="Deadline in seconds for one batch call; past it the batch is masked (None)."
    )
    gate: list[str] = Field(
        default_factory=list,
        description=(
            "Names of other rewards of this recipe that gate this one: where any of them scores below "
            "gate_threshold for a completion, this reward is 0 for it (e.g. a format failure zeroes the "
            "reward model's score). Logged as rewards/<name>/gated."
        ),
    )
    gate_threshold: float = Field(default=1.0, allow_inf_nan=False, description="A gate passes when its reward is at least this.")


class DistributedConfig(_Strict):
    mode: Literal["single", "zero2", "zero3", "zero3_offload"] = Field(
        default="single", description="Accelerate config from recipes/accelerate/<mode>.yaml."
    )
    num_processes: int = Field(default=1, gt=0, description="Processes on this node (GPUs, or CPU ranks without GPU).")
    main_process_port: int | None = Field(default=None, description="Rendezvous port; accelerate's default if unset.")

    @model_validator(mode="after")
    def _single_is_one_process(self) -> DistributedConfig:
        if self.mode == "single" and self.num_processes != 1:
            raise ValueError("mode 'single' runs one process; use zero2/zero3/zero3_offload for several")
        return self


class RetentionConfig(_Strict):
    """An extra held-out evaluation on another recipe's data and rewards (e.g. stage one's math), run on
    this stage's starting and trained models: does training here keep what an earlier stage taught?"""

    recipe: str = Field(description="Recipe file (relative to this one) giving the data, rewards and eval settings.")
    metric: str | None = Field(default=None, description="Reward reported; default: that recipe's eval.metric or first reward.")


class EvalConfig(_Strict):
    num_prompts: int = Field(default=64, gt=0, description="Held-out prompts evaluated (from data.eval_size rows).")
    num_samples: int = Field(default=4, gt=0, description="Completions sampled per prompt.")
    greedy: bool = Field(default=False, description="Greedy decoding (then num_samples is forced to 1).")
    temperature: float = Field(default=1.0, gt=0, description="Sampling temperature when not greedy.")
    top_p: float = Field(default=1.0, gt=0, le=1, description="Nucleus sampling.")
    top_k: int | None = Field(default=None, gt=0, description="Top-k sampling; None disables it.")
    max_new_tokens: int = Field(default=64, gt=0, description="Generation budget per completion.")
    batch_size: int = Field(default=32, gt=0, description="Prompts per generate() call.")
    metric: str | None = Field(
        default=None, description="Reward whose mean is reported as accuracy; default: the first reward."
    )
    before: bool = Field(default=True, description="Also evaluate the starting model, for the before/after table.")
    seed: int = Field(default=1234, description="Sampling seed, so before/after use the same randomness.")
    retention: RetentionConfig | None = Field(
        default=None, description="Also evaluate on another recipe's held-out set, before and after (see `eval.retention`)."
    )
    benchmarks: list[str] = Field(
        default_factory=list,
        description=(
            "Benchmarks evaluated before (with `before`) and after training, as `rltrain eval MODEL --benchmarks` "
            "does with the hf backend: built-in names (`rltrain eval --list`: aime24, ifeval, ...) or JSONL files "
            "(`path.jsonl` or `name=path.jsonl`, relative to this recipe, scored by the reward their columns "
            "choose). Sampled with this section's temperature, top_p, top_k, max_new_tokens, seed and greedy, "
            "batch_size prompts per generate call; samples and results under `<output_dir>/benchmarks/before|after` "
            "(a resumed stage reuses the samples there), avg@n with its standard error in summary.json and the "
            "before/after table. With data.eval_size 0 only the benchmarks are evaluated."
        ),
    )
    benchmark_n: int | None = Field(
        default=None, gt=0,
        description="Samples per benchmark item (`--n`); default: each benchmark's own (AIME 64, LiveCodeBench 8, IFEval 1). "
        "Greedy decoding samples one.",
    )
    benchmark_limit: int | None = Field(
        default=None, gt=0, description="Evaluate only the first K items of each benchmark (`--limit`); default: all."
    )


class DynamicSamplingConfig(_Strict):
    """DAPO's dynamic sampling: groups whose completions all scored the same carry no GRPO gradient
    (their advantages are zero); drop them and fill the batch from further generations."""

    enabled: bool = Field(default=False, description="Drop zero-spread groups and refill the batch (GRPO stages only).")
    max_rounds: int = Field(
        default=3, ge=1, description="Generation rounds per step at most, the first included; a batch still short after "
        "the last round is completed with dropped groups (zero advantage), so a step never stalls.",
    )


class RolloutConfig(_Strict):
    """How completions are scored and batched in a GRPO stage (see docs/throughput.md)."""

    reward_mode: Literal["sync", "overlapped", "pipelined"] = Field(
        default="sync",
        description=(
            "'sync': rewards after generation, as TRL does. 'overlapped': rewards start as soon as completions "
            "exist and run while the reference/old log-probs are computed (on-policy). 'pipelined': a batch's "
            "rewards run while the previous batch trains; training is one step off-policy (clipped ratio "
            "against the generating policy)."
        ),
    )
    dynamic_sampling: DynamicSamplingConfig = Field(
        default_factory=DynamicSamplingConfig, description="DAPO dynamic sampling (see `rollout.dynamic_sampling`)."
    )

    @model_validator(mode="after")
    def _dynamic_sampling_needs_scores_now(self) -> RolloutConfig:
        if self.dynamic_sampling.enabled and self.reward_mode == "pipelined":
            raise ValueError(
                "dynamic_sampling decides on a batch's rewards before training on it; use reward_mode "
                "'sync' or 'overlapped' with it"
            )
        return self


class ToolConfig(_Strict):
    """A tool the model may call while it thinks (see docs/agentic.md)."""

    name: str = Field(
        description="'python' (the sandboxed code interpreter) or 'package.module:function', a function with type "
        "hints and a Google-style docstring (its JSON schema); the model calls it by the function's name.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="python: wall_s, memory_mb, output_bytes, server_url (a sandbox server; default: this "
        "machine's sandbox). A user tool with params is a factory, called once with them, returning the tool.",
    )
    timeout: float = Field(
        default=30.0, gt=0, description="Deadline in seconds for one call; past it the model reads an error and the rollout goes on.",
    )
    max_chars: int = Field(default=4000, gt=0, description="A tool result longer than this is cut (the model sees a note).")


LORA_DEFAULT_RANK = 16
"""``peft.rank`` when a recipe does not set it."""


class PeftConfig(_Strict):
    """LoRA adapters (Hugging Face PEFT) trained instead of every weight: the base model stays frozen, only
    the adapters (and ``modules_to_save``) get gradients and optimizer state. ``final/`` holds the merged
    weights (plain Hugging Face format) and ``final/adapter/`` the adapter alone; checkpoints hold the
    adapter and its optimizer state. A GRPO stage's KL reference is the base with the adapters disabled
    (no second copy of the model)."""

    rank: int = Field(default=LORA_DEFAULT_RANK, gt=0, description="LoRA rank r: the inner width of each low-rank update B·A.")
    alpha: int | None = Field(
        default=None, gt=0,
        description="Scale of the update: alpha/rank (alpha/sqrt(rank) with use_rslora). Default: 2 x rank, so "
        "that a change of rank keeps the update's scale and the learning rate stays meaningful.",
    )
    dropout: float = Field(default=0.05, ge=0, lt=1, description="Dropout on the adapters' input (LoRA dropout).")
    target_modules: list[str] | Literal["all-linear"] | None = Field(
        default=None,
        description="Modules that get adapters, by the last part of their name (q_proj, down_proj, ...; checked "
        "against the model's own modules); 'all-linear': every linear layer but the output head. Default: the "
        "architecture's attention and MLP projections (rltrain.models.adapters.DEFAULT_TARGET_MODULES), "
        "'all-linear' for an architecture not listed there.",
    )
    modules_to_save: list[str] | None = Field(
        default=None,
        description="Modules trained fully beside the adapters and saved with them (e.g. embed_tokens). Default: "
        "the score head in a reward stage (it starts untrained, so it must learn in full), none otherwise.",
    )
    use_dora: bool = Field(default=False, description="DoRA: adapt magnitude and direction of each weight separately.")
    use_rslora: bool = Field(default=False, description="Rank-stabilised LoRA: scale by alpha/sqrt(rank) instead of alpha/rank.")

    @property
    def scale_numerator(self) -> int:
        """LoRA's ``lora_alpha``: ``alpha``, or twice the rank when unset."""
        return self.alpha if self.alpha is not None else 2 * self.rank

    @field_validator("target_modules", "modules_to_save")
    @classmethod
    def _names_listed_once(cls, value: list[str] | str | None) -> list[str] | str | None:
        if not isinstance(value, list):
            return value
        if not value:
            raise ValueError("an empty list adapts nothing; leave it out for the default")
        if any(not name.strip() for name in value):
            raise ValueError("module names must not be empty")
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"listed more than once: {repeated}")
        return value


class LoggingConfig(_Strict):
    report_to: list[str] = Field(default_factory=list, description="TRL/transformers integrations, e.g. [wandb].")
    progress: bool = Field(default=True, description="Show a progress bar.")


_STAGE_DEFAULTS: dict[str, dict[str, Any]] = {
    # Our defaults on top of TRL's: CPU-friendly precision is decided at build time; these are the
    # choices every recipe would otherwise repeat.
    "grpo": {"logging_steps": 1, "save_steps": 50, "save_total_limit": 2, "activation_checkpointing": False},
    "sft": {"logging_steps": 10, "save_steps": 200, "save_total_limit": 1, "activation_checkpointing": False},
    "reward": {"logging_steps": 10, "save_steps": 500, "save_total_limit": 1, "activation_checkpointing": False},
}

DEFAULT_TOOL_ROUNDS = 4
"""Tool rounds per completion when a recipe with tools does not set grpo.max_tool_calling_iterations."""

STAGE_OPTIONS = {"grpo": "grpo", "sft": "sft", "reward": "rm"}
"""The recipe mapping holding each stage's TRL options."""


class Recipe(_Strict):
    """One training stage."""

    name: str = Field(default="run", description="Run name, used in logs.")
    stage: Literal["grpo", "sft", "reward"] = Field(
        default="grpo", description="GRPO with rewards, cold-start SFT, or reward-model training on preference pairs."
    )
    model: ModelConfig = Field(description="The policy to train (see `model`).")
    data: DataConfig = Field(description="Where prompts and reference columns come from (see `data`).")
    rewards: list[RewardConfig] = Field(default_factory=list, description="GRPO rewards; eval uses them too.")
    grpo: dict[str, Any] = Field(default_factory=dict, description="Options of trl.GRPOConfig.")
    sft: dict[str, Any] = Field(default_factory=dict, description="Options of trl.SFTConfig.")
    rm: dict[str, Any] = Field(default_factory=dict, description="Options of trl.RewardConfig (stage: reward).")
    distributed: DistributedConfig = Field(default_factory=DistributedConfig, description="Processes and DeepSpeed.")
    rollout: RolloutConfig = Field(
        default_factory=RolloutConfig, description="Reward scheduling and dynamic sampling of GRPO stages."
    )
    peft: PeftConfig | None = Field(
        default=None,
        description="Train LoRA adapters instead of every weight (see `peft`); unset: full fine-tuning. final/ then "
        "holds the merged weights (plain Hugging Face format, as a full fine-tune's) and final/adapter/ the adapter "
        "alone; checkpoints hold the adapter and its optimizer state; a GRPO stage's KL reference is the base "
        "model with the adapters disabled (no second copy). Works in one process and under ZeRO-2/3.",
    )
    tools: list[ToolConfig] = Field(
        default_factory=list,
        description="Tools for agentic rollouts (GRPO; an SFT stage renders them into prompts and evaluates with them).",
    )
    eval: EvalConfig | None = Field(default=None, description="Held-out evaluation before/after training.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Integrations and progress display.")
    output_dir: str = Field(description="Where checkpoints, final weights, metrics.jsonl and summary.json go.")
    seed: int = Field(default=0, description="Seed of data shuffling, initialisation and sampling.")
    base_dir: Path = Field(default=Path("."), exclude=True, description="Directory of the recipe file (set by the loader).")

    @field_validator("grpo")
    @classmethod
    def _check_grpo(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_trl_options(value, "grpo")

    @field_validator("sft")
    @classmethod
    def _check_sft(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_trl_options(value, "sft")

    @field_validator("rm")
    @classmethod
    def _check_rm(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_trl_options(value, "reward")

    @model_validator(mode="after")
    def _rollout_is_for_grpo(self) -> Recipe:
        if self.stage != "grpo" and self.rollout != RolloutConfig():
            raise ValueError(f"rollout: applies to GRPO stages only (this stage is {self.stage!r}); remove it")
        return self

    @model_validator(mode="after")
    def _tools_fit_the_stage(self) -> Recipe:
        if self.tools and self.stage == "reward":
            raise ValueError("tools: a reward-model stage generates nothing; remove tools")
        if self.tools and self.rollout.reward_mode == "pipelined":
            raise ValueError("tools: not supported with rollout.reward_mode 'pipelined'; use 'sync' or 'overlapped'")
        return self

    @model_validator(mode="after")
    def _sharded_reward_models_score_in_step(self) -> Recipe:
        if not self.distributed.mode.startswith("zero3") or self.rollout.reward_mode == "sync":
            return self
        for i, reward in enumerate(self.rewards):
            if reward.name == "reward_model" and reward.params.get("mode", "in_process") == "in_process":
                raise ValueError(
                    f"rewards.{i}: an in-process reward model is sharded with the policy under ZeRO-3, and its "
                    f"forward passes are collectives that cannot run beside the step's own "
                    f"(rollout.reward_mode {self.rollout.reward_mode!r}); use reward_mode 'sync', or serve the "
                    "model (params.mode: remote or vllm)"
                )
        return self

    @model_validator(mode="after")
    def _adapters_fit_the_trl_options(self) -> Recipe:
        if self.peft is None:
            return self
        if self.stage == "grpo" and self.grpo.get("sync_ref_model"):
            raise ValueError(
                "grpo.sync_ref_model: with peft the reference is the base model with the adapters disabled, "
                "there is no reference copy to sync; remove sync_ref_model or the peft section"
            )
        targets = self.peft.target_modules
        if self.stage == "grpo" and self.grpo.get("cast_lm_head_to_fp32") and isinstance(targets, list) and "lm_head" in targets:
            raise ValueError("peft.target_modules: lm_head cannot carry an adapter with grpo.cast_lm_head_to_fp32")
        return self

    @model_validator(mode="after")
    def _gates_name_rewards(self) -> Recipe:
        names = [r.name for r in self.rewards]
        for i, reward in enumerate(self.rewards):
            for gate in reward.gate:
                if gate == reward.name or gate not in names:
                    others = [n for n in names if n != reward.name]
                    raise ValueError(f"rewards.{i}.gate: {gate!r} must name another reward of this recipe ({others})")
        return self

    def trl_options(self) -> dict[str, Any]:
        """The options for TRL's config of this stage: our defaults, overridden by the recipe."""
        options = {**_STAGE_DEFAULTS[self.stage], **getattr(self, STAGE_OPTIONS[self.stage])}
        if self.tools and self.stage == "grpo":
            options.setdefault("max_tool_calling_iterations", DEFAULT_TOOL_ROUNDS)
        return options

    def resolve_input(self, path: str) -> Path:
        """Resolve a relative input path against the recipe's directory."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)


# Options that rltrain owns itself; setting them in the grpo/sft mapping would silently conflict.
_OWNED_OPTIONS = {
    "output_dir": "output_dir (top level)",
    "seed": "seed (top level)",
    "report_to": "logging.report_to",
    "reward_weights": "rewards[].weight",
    "resume_from_checkpoint": "the --resume flag of `rltrain train`",
}


@functools.cache
def _trl_fields(stage: str) -> dict[str, Any]:
    import trl  # imported lazily: trl import costs seconds

    return {f.name: f.type for f in dataclasses.fields(getattr(trl, TRL_CONFIGS[stage]))}


def _check_trl_options(options: dict[str, Any], stage: str) -> dict[str, Any]:
    fields = _trl_fields(stage)
    cls_name = f"trl.{TRL_CONFIGS[stage]}"
    checked = dict(options)
    for key, value in options.items():
        if key in _OWNED_OPTIONS:
            raise ValueError(f"'{key}' is set by rltrain; use {_OWNED_OPTIONS[key]} instead")
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"'{key}' is not an option of {cls_name}{hint}")
        try:  # coerce too: YAML reads 1e-5 (no dot) as a string
            checked[key] = TypeAdapter(fields[key]).validate_python(value, strict=False)
        except ValidationError as exc:
            expected = getattr(fields[key], "__name__", str(fields[key]))
            raise ValueError(f"'{key}' expects {expected}, got {value!r}: {exc.errors()[0]['msg']}") from None
        except Exception:  # noqa: BLE001 - annotation pydantic cannot build a validator for; TRL checks it later
            continue
    return checked

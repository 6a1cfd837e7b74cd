"""What a recipe asks of each GPU, reduced to the numbers the memory terms need, and the hardware it runs on.

A recipe spreads these numbers over several sections (``distributed``, ``model``, ``grpo``/``sft``/``rm``,
``rewards``) and leaves many to TRL's defaults; :func:`workload_from_recipe` collects them once, with TRL's
own defaults filled in, so that every memory term reads one flat, typed record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from rltrain.planning.model_shape import ModelShape
from rltrain.recipe.schema import Recipe
from rltrain.recipe.trl_rules import TRL_CONFIGS

GIB = 1024**3

Device = Literal["cuda", "cpu"]
Generation = Literal["vllm_colocate", "vllm_server", "transformers", "none"]
Zero = Literal["none", "zero2", "zero3"]

DEFAULT_GPU_MEMORY_GIB = 79.2
"""An "80 GB" H100 or A100 as torch reports it (about 79.2 GiB): what docs/qwq.md sizes the recipes for."""

UNBOUNDED_PROMPT_TOKENS = 8192
"""Prompt length assumed when nothing in the recipe bounds it (no vLLM context, a long-context model)."""


@dataclass(frozen=True)
class Hardware:
    """Where the stage runs: ``nodes`` x ``gpus_per_node`` ranks of ``memory_bytes`` each."""

    nodes: int = 1
    gpus_per_node: int = 8
    memory_bytes: int = int(DEFAULT_GPU_MEMORY_GIB * GIB)
    device: Device = "cuda"

    @property
    def ranks(self) -> int:
        """Training processes in all (one per GPU)."""
        return self.nodes * self.gpus_per_node

    def describe(self) -> str:
        unit = "GPU" if self.device == "cuda" else "CPU rank"
        return f"{self.nodes} node(s) x {self.gpus_per_node} {unit}(s) of {self.memory_bytes / GIB:.1f} GiB"


@dataclass(frozen=True)
class RewardModelUse:
    """A reward model loaded in every training process (``reward_model`` with ``mode: in_process``)."""

    reward_index: int
    shape: ModelShape
    batch_size: int
    max_length: int


@dataclass(frozen=True)
class Workload:
    """One stage's memory-relevant settings, per training process."""

    stage: str
    zero: Zero
    offload: bool
    """ZeRO-3 with optimizer states and parameters offloaded to CPU (``distributed.mode: zero3_offload``)."""
    weight_bytes: int
    """Bytes of one policy parameter as loaded: 2 (bf16/fp16) or 4 (fp32)."""
    activation_bytes: int
    """Bytes of one activation element in the forward pass."""
    micro_batch: int
    """Sequences in one forward/backward (``per_device_train_batch_size``; pairs count twice for reward models)."""
    prompt_tokens: int
    completion_tokens: int
    prompt_source: str
    """Why ``prompt_tokens`` is what it is (TRL no longer truncates prompts, so it is a bound, not a setting)."""
    gradient_checkpointing: bool
    attn_implementation: str
    lm_head_fp32: bool
    """``cast_lm_head_to_fp32``: TRL's LM head runs in fp32."""
    causal_lm_head: bool
    """Whether the loss goes through the vocabulary projection (not for a reward model's score head)."""
    beta: float
    generation: Generation
    vllm_gpu_memory_utilization: float
    vllm_sleep: bool
    vllm_tensor_parallel: int
    generation_batch_per_rank: int
    """Completions one process generates at once (per-device batch x steps per generation)."""
    gather_for_generation: bool
    """ZeRO-3 gathers the whole policy to generate with transformers (``ds3_gather_for_generation``)."""
    reward_models: tuple[RewardModelUse, ...] = ()
    trainable_params: int | None = None
    """LoRA: the adapters' parameters (the base is frozen: no gradients, no optimizer states for it);
    ``None``: every parameter trains."""

    @property
    def sequence_tokens(self) -> int:
        """Tokens of one training sequence: prompt plus completion."""
        return self.prompt_tokens + self.completion_tokens

    def with_changes(self, **changes: Any) -> Workload:
        """A copy with some settings changed (used to test what advice would do)."""
        return dataclasses.replace(self, **changes)


def trl_defaults(stage: str) -> dict[str, Any]:
    """Default values of TRL's config dataclass for a recipe stage (``GRPOConfig`` for grpo, ...)."""
    import trl

    cls = getattr(trl, TRL_CONFIGS[stage])
    defaults: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.default is not dataclasses.MISSING:
            defaults[field.name] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            defaults[field.name] = field.default_factory()
    return defaults


def stage_options(recipe: Recipe) -> dict[str, Any]:
    """The recipe's TRL options over TRL's defaults: what the trainer will actually use."""
    return {**trl_defaults(recipe.stage), **recipe.trl_options()}


def _element_bytes(recipe: Recipe, device: Device, options: dict[str, Any]) -> tuple[int, int]:
    """(weight bytes, activation bytes). On GPUs the DeepSpeed configs train in bf16 whatever the load dtype."""
    dtype = recipe.model.dtype
    if dtype == "auto":
        dtype = "bfloat16" if device == "cuda" else "float32"
    weight = 4 if dtype == "float32" else 2
    if device == "cuda" and recipe.distributed.mode != "single":
        weight = 2  # accelerate's DeepSpeed configs say mixed_precision bf16: the engine holds bf16 weights
    mixed = device == "cuda" and bool(options.get("bf16") or options.get("fp16"))
    return weight, (2 if weight == 2 or mixed else 4)


def prompt_bound(options: dict[str, Any], completion: int, shape: ModelShape) -> tuple[int, str]:
    """The longest prompt a sequence can carry, and why.

    vLLM's context (``vllm_max_model_length``) bounds prompt plus completion when it is set; otherwise the
    model's positions do, capped at :data:`UNBOUNDED_PROMPT_TOKENS` for long-context models.
    """
    limit = options.get("vllm_max_model_length") if options.get("use_vllm") else None
    if limit:
        return max(int(limit) - completion, 0), f"vllm_max_model_length {limit} - max_completion_length {completion}"
    positions = shape.max_position_embeddings
    if positions and positions - completion <= UNBOUNDED_PROMPT_TOKENS:
        return max(positions - completion, 0), f"max_position_embeddings {positions} - max_completion_length {completion}"
    return UNBOUNDED_PROMPT_TOKENS, "assumed (nothing in the recipe bounds prompts; --prompt-length sets it)"


def workload_from_recipe(
    recipe: Recipe,
    policy: ModelShape,
    hardware: Hardware,
    *,
    find_shape: Callable[[str, bool], ModelShape | None],
    prompt_tokens: int | None = None,
) -> Workload:
    """Collect a stage's memory-relevant settings; ``find_shape(name, sequence_classification)`` measures an
    in-process reward model (``None``: its config is not available, and it is left out); ``prompt_tokens``
    overrides the prompt bound (see :func:`prompt_bound`)."""
    options = stage_options(recipe)
    weight_bytes, activation_bytes = _element_bytes(recipe, hardware.device, options)
    mode = recipe.distributed.mode
    zero: Zero = "none" if mode == "single" else ("zero2" if mode == "zero2" else "zero3")
    init_kwargs = options.get("model_init_kwargs") or {}
    common: dict[str, Any] = {
        "trainable_params": lora_trainable_params(recipe, policy),
        "stage": recipe.stage,
        "zero": zero,
        "offload": mode == "zero3_offload",
        "weight_bytes": weight_bytes,
        "activation_bytes": activation_bytes,
        "gradient_checkpointing": bool(options.get("gradient_checkpointing")),
        "attn_implementation": str(init_kwargs.get("attn_implementation") or "sdpa"),
        "lm_head_fp32": bool(options.get("cast_lm_head_to_fp32", False)),
    }
    micro = int(options.get("per_device_train_batch_size") or 1)
    if recipe.stage != "grpo":
        length = int(options.get("max_length") or 1024)
        return Workload(
            **common, micro_batch=micro * (2 if recipe.stage == "reward" else 1),
            prompt_tokens=0, completion_tokens=length, prompt_source=f"max_length {length} (whole sequence)",
            causal_lm_head=recipe.stage == "sft", beta=0.0, generation="none", vllm_gpu_memory_utilization=0.0,
            vllm_sleep=False, vllm_tensor_parallel=1, generation_batch_per_rank=0, gather_for_generation=False,
        )
    completion = int(options["max_completion_length"])
    if prompt_tokens is None:
        prompt, source = prompt_bound(options, completion, policy)
    else:
        prompt, source = prompt_tokens, "--prompt-length"
    steps_per_generation = int(options.get("steps_per_generation") or options.get("gradient_accumulation_steps") or 1)
    generation_batch = options.get("generation_batch_size")
    per_rank = int(generation_batch) // hardware.ranks if generation_batch else micro * steps_per_generation
    generation: Generation = "transformers"
    if options.get("use_vllm"):
        generation = "vllm_server" if options.get("vllm_mode") == "server" else "vllm_colocate"
    return Workload(
        **common,
        micro_batch=micro,
        prompt_tokens=prompt,
        completion_tokens=completion,
        prompt_source=source,
        causal_lm_head=True,
        beta=float(options.get("beta") or 0.0),
        generation=generation,
        vllm_gpu_memory_utilization=float(options.get("vllm_gpu_memory_utilization") or 0.0),
        vllm_sleep=bool(options.get("vllm_enable_sleep_mode")),
        vllm_tensor_parallel=int(options.get("vllm_tensor_parallel_size") or 1),
        generation_batch_per_rank=max(per_rank, 1),
        gather_for_generation=bool(options.get("ds3_gather_for_generation", True)),
        reward_models=_reward_models(recipe, find_shape),
    )


def lora_trainable_params(recipe: Recipe, policy: ModelShape) -> int | None:
    """Parameters the recipe's ``peft`` adapters train, counted on the policy's layers; ``None`` without peft."""
    peft = getattr(recipe, "peft", None)
    if peft is None:
        return None
    from rltrain.models.adapters import ALL_LINEAR, default_modules_to_save, default_target_modules

    targets = peft.target_modules if peft.target_modules is not None else default_target_modules(policy.model_type)
    names = None if targets == ALL_LINEAR else list(targets)
    return policy.lora_params(names, peft.rank, dora=peft.use_dora, modules_to_save=default_modules_to_save(recipe))


def _reward_models(recipe: Recipe, find_shape: Callable[[str, bool], ModelShape | None]) -> tuple[RewardModelUse, ...]:
    uses = []
    for i, reward in enumerate(recipe.rewards):
        params = reward.params
        if reward.name != "reward_model" or params.get("mode", "in_process") != "in_process":
            continue
        path = params.get("model_path")
        if not path:
            continue
        local = recipe.resolve_input(str(path))
        name = str(local) if local.exists() else str(path)
        shape = find_shape(name, True)
        if shape is not None:
            uses.append(RewardModelUse(reward_index=i, shape=shape, batch_size=int(params.get("batch_size", 8)),
                                       max_length=int(params.get("max_length", 2048))))
    return tuple(uses)

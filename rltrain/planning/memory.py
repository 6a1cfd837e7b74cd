"""Memory per training process, term by term, and in which phase of a GRPO step each term is held.

A GRPO step has three phases with different residents: **generation** (vLLM awake, or transformers'
``generate`` with its KV cache), **scoring** (reward functions; an in-process reward model's forward
passes) and **training** (forward and backward of the micro-batches, the optimizer step). Model states
(weights, gradients, optimizer states) stay resident throughout; the peak is the largest phase total.

Each term is a small frozen dataclass whose docstring is its formula; ``estimate`` returns the term for a
plan, or ``None`` when it does not apply, with the formula written out with this plan's numbers.

Assumptions, stated once:

* Model states follow DeepSpeed's own estimators (``estimate_zero2_model_states_mem_needs`` and
  ``estimate_zero3_model_states_mem_needs``): 18 bytes per parameter sharded over the ranks (ZeRO-2: bf16
  and fp32 gradients, fp32 master weights, two fp32 Adam moments, beside whole bf16 weights; ZeRO-3: bf16
  weights, fp32 gradients, master weights and moments, plus the gathered largest layer at 4 bytes per
  parameter). Without DeepSpeed, torch's AdamW keeps its two moments in the parameters' dtype.
* Activations are what autograd saves in transformers' Qwen2/Qwen3/Llama decoder layers with the ``sdpa``
  (or flash) attention kernels, which keep no s x s score matrix; what is saved was checked tensor by
  tensor (``benchmarks/plan_vs_measured.py`` compares the totals with measured peaks). With gradient
  checkpointing each layer keeps its input and one layer is recomputed at a time.
* The LM head is TRL's fused, chunked log-prob head: logits exist one tile of 4,096 tokens x 32,768
  vocabulary entries at a time, never as a full (tokens x vocabulary) tensor; its backward accumulates
  the head's weight gradient in fp32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from rltrain.planning.model_shape import ModelShape
from rltrain.planning.workload import GIB, Hardware, Workload

Phase = Literal["generation", "scoring", "training"]
PHASES: tuple[Phase, ...] = ("generation", "scoring", "training")

RUNTIME_BYTES = 2 * GIB
"""CUDA context, NCCL communicators and cuBLAS workspaces of one process (a typical figure, not measured here)."""

ZERO_REDUCE_BUCKET = 500_000_000
"""DeepSpeed's default ``reduce_bucket_size`` (elements); the accelerate configs leave it unset."""

LOGPROB_TOKEN_TILE = 4096
"""TRL's ``TOKEN_CHUNK_SIZE``: tokens per tile of the fused LM head."""

LOGPROB_VOCAB_TILE = 32768
"""TRL's ``_CHUNKED_LOGPROB_CHUNK_SIZE``: vocabulary entries per tile of the fused LM head."""

CPU_HEAD_TILE_COPIES = 8.0
"""Tile-sized fp32 buffers alive at once in the backward of TRL's torch fallback of the fused head (the path
without Triton, i.e. on CPU): the tile, its scaled copies, log-probs, probabilities, the gradient and the
one-hot difference. Measured 8.0-8.2 tiles (benchmarks/plan_vs_measured.py); the Triton kernel works in
place in the one tile."""


def gib(n: float) -> str:
    """Bytes as GiB with two decimals."""
    return f"{n / GIB:.2f} GiB"


def _count(n: float) -> str:
    """A large count readably: 32.8B, 151.9M, 4,096."""
    for size, unit in ((1e9, "B"), (1e6, "M")):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{int(n):,}"


@dataclass(frozen=True)
class PlanContext:
    """Everything a term reads: the policy's shape, the stage's settings and the hardware."""

    policy: ModelShape
    workload: Workload
    hardware: Hardware


@dataclass(frozen=True)
class Term:
    """Bytes one training process holds for one purpose, and in which phases."""

    key: ClassVar[str] = ""
    label: ClassVar[str] = ""

    bytes: int
    formula: str
    phases: tuple[Phase, ...] = PHASES

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key, "label": self.label, "bytes": int(self.bytes), "gib": round(self.bytes / GIB, 3),
                "formula": self.formula, "phases": list(self.phases)}


# --- model states: DeepSpeed's estimators, reproduced without importing DeepSpeed ---------------------


def zero2_model_states(total_params: int, *, gpus_per_node: int, nodes: int, cpu_offload: bool,
                       additional_buffer_factor: float = 1.5) -> tuple[int, int]:
    """(CPU bytes, GPU bytes) exactly as ``deepspeed.runtime.zero.stage_1_and_2.estimate_zero2_model_states_mem_needs``.

    GPU: 2 bytes of bf16 parameters per parameter, plus 18 bytes (2 bf16 + 4 fp32 gradients, 4 fp32 master
    weights, 8 Adam moments) sharded over all GPUs; with the optimizer offloaded only the 2 bytes stay.
    """
    total_gpus = nodes * gpus_per_node
    if cpu_offload:
        gpu_mem = 2 * total_params
        cpu_mem = total_params * max(4 * total_gpus, 16) * additional_buffer_factor
    else:
        gpu_mem = 2 * total_params + int(18 * total_params / total_gpus)
        cpu_mem = total_params * 4 * gpus_per_node * additional_buffer_factor
    return int(cpu_mem), int(gpu_mem)


def zero3_model_states(total_params: int, largest_layer_params: int, *, gpus_per_node: int, nodes: int,
                       cpu_offload: bool, cpu_offload_params: bool, zero_init: bool = True,
                       additional_buffer_factor: float = 1.5) -> tuple[int, int, int]:
    """(CPU bytes, GPU bytes, largest layer bytes) exactly as
    ``deepspeed.runtime.zero.stage3.estimate_zero3_model_states_mem_needs``.

    GPU: 18 bytes per parameter sharded over all GPUs plus 4 bytes per parameter of the largest layer
    (gathered whole to run it); offloading moves the sharded bytes to CPU memory.
    """
    total_gpus = nodes * gpus_per_node
    gpus_factor = 1 / nodes
    largest_layer_memory = 4 * largest_layer_params
    if cpu_offload:
        # offloaded bytes per parameter: gradients, master weights and moments (16), and the bf16
        # parameters too when they are offloaded (18); those not offloaded stay sharded on the GPUs
        offloaded = 18 if cpu_offload_params else 16
        gpu_mem = largest_layer_memory + (0 if cpu_offload_params else int(2 * total_params / total_gpus))
        if zero_init:
            cpu_mem = total_params * offloaded * gpus_factor * additional_buffer_factor
        else:
            cpu_mem = total_params * max(4 * gpus_per_node, offloaded * gpus_factor) * additional_buffer_factor
    else:
        gpu_mem = largest_layer_memory + int(18 * total_params / total_gpus)
        if zero_init:
            cpu_mem = largest_layer_params * 4 * gpus_per_node * additional_buffer_factor
        else:
            cpu_mem = total_params * 4 * gpus_per_node * additional_buffer_factor
    return int(cpu_mem), int(gpu_mem), largest_layer_memory


def model_states_bytes(ctx: PlanContext) -> tuple[int, int]:
    """(GPU bytes per process, CPU bytes per node) of weights, gradients and optimizer states.

    Full fine-tuning is DeepSpeed's estimate itself. With LoRA the frozen base keeps only its bf16 weights
    and the trainable adapters T carry the per-parameter states: under ZeRO-2 2 x (P + T) + 18 x T / ranks,
    under ZeRO-3 4 x largest layer + (2 x (P + T) + 16 x T) / ranks (DeepSpeed's estimators with the
    frozen parameters' states removed).
    """
    p, w, hw = ctx.policy, ctx.workload, ctx.hardware
    n = hw.ranks
    if w.trainable_params is not None:
        t, total = w.trainable_params, p.num_params + w.trainable_params
        if w.zero == "zero2":
            return 2 * total + int(18 * t / n), 0
        if w.zero == "zero3":
            if w.offload:
                return 4 * p.largest_layer_params, int((2 * total + 16 * t) / hw.nodes * 1.5)
            return 4 * p.largest_layer_params + int((2 * total + 16 * t) / n), 0
        return w.weight_bytes * total + 3 * w.weight_bytes * t, 0
    if w.zero == "zero2":
        cpu, gpu = zero2_model_states(p.num_params, gpus_per_node=hw.gpus_per_node, nodes=hw.nodes, cpu_offload=False)
        return gpu, cpu
    if w.zero == "zero3":
        cpu, gpu, _ = zero3_model_states(p.num_params, p.largest_layer_params, gpus_per_node=hw.gpus_per_node,
                                         nodes=hw.nodes, cpu_offload=w.offload, cpu_offload_params=w.offload)
        return gpu, cpu
    return 4 * p.num_params * w.weight_bytes, 0


def _params(ctx: PlanContext) -> tuple[int, int, str]:
    """(parameters held, parameters trained, how the trained ones are described)."""
    p, t = ctx.policy.num_params, ctx.workload.trainable_params
    if t is None:
        return p, p, f"{_count(p)} params"
    return p + t, t, f"{_count(t)} LoRA params"


@dataclass(frozen=True)
class PolicyWeights(Term):
    """Policy weights: P x 2 B (bf16) whole under ZeRO-2; P x 2 B / ranks under ZeRO-3 (none with offload);
    P x dtype bytes without DeepSpeed. With LoRA, P counts the adapters too."""

    key = "weights"
    label = "policy weights"

    @classmethod
    def estimate(cls, ctx: PlanContext) -> PolicyWeights:
        w, n = ctx.workload, ctx.hardware.ranks
        held, _, _ = _params(ctx)
        if w.zero == "zero2":
            return cls(2 * held, f"2 B x {_count(held)} params (bf16, whole on every rank)")
        if w.zero == "zero3":
            if w.offload:
                return cls(0, "offloaded to CPU (ZeRO-3 offload)")
            return cls(int(2 * held / n), f"2 B x {_count(held)} params / {n} ranks (bf16 shards)")
        return cls(w.weight_bytes * held, f"{w.weight_bytes} B x {_count(held)} params")


@dataclass(frozen=True)
class Gradients(Term):
    """Gradients of the trained parameters T: T x (2 + 4) B / ranks under ZeRO-2 (bf16 and fp32 shards),
    T x 4 B / ranks under ZeRO-3 (fp32 shards; none on GPU with offload), T x dtype bytes without DeepSpeed."""

    key = "gradients"
    label = "gradients"

    @classmethod
    def estimate(cls, ctx: PlanContext) -> Gradients:
        w, n = ctx.workload, ctx.hardware.ranks
        _, trained, what = _params(ctx)
        if w.zero == "none":
            return cls(w.weight_bytes * trained, f"{w.weight_bytes} B x {what}")
        if w.offload:
            return cls(0, "offloaded to CPU (ZeRO-3 offload)")
        if w.zero == "zero2":
            return cls(int(6 * trained / n), f"(2 + 4) B x {what} / {n} ranks (bf16 + fp32 shards)")
        return cls(int(4 * trained / n), f"4 B x {what} / {n} ranks (fp32 shards)")


@dataclass(frozen=True)
class OptimizerStates(Term):
    """AdamW on the trained parameters T: T x (4 + 8) B / ranks under ZeRO (fp32 master weights and two
    moments; on CPU with offload); 2 x T x dtype bytes without DeepSpeed (torch keeps the moments in the
    parameters' dtype)."""

    key = "optimizer"
    label = "optimizer states"

    @classmethod
    def estimate(cls, ctx: PlanContext, *, model_states: int, weights: int, gradients: int, gathered: int) -> OptimizerStates:
        w, n = ctx.workload, ctx.hardware.ranks
        _, trained, what = _params(ctx)
        if w.zero == "none":
            return cls(2 * w.weight_bytes * trained, f"2 x {w.weight_bytes} B x {what} (AdamW moments)")
        if w.offload:
            return cls(0, "offloaded to CPU (ZeRO-3 offload)")
        # The remainder of the model-state total, so that the terms add up to DeepSpeed's estimate exactly.
        return cls(model_states - weights - gradients - gathered,
                   f"(4 + 8) B x {what} / {n} ranks (fp32 master + Adam moments)")


@dataclass(frozen=True)
class GatheredLayer(Term):
    """ZeRO-3's gathered largest layer: 4 B x largest layer params (DeepSpeed's ``largest_layer_memory``)."""

    key = "gathered_layer"
    label = "ZeRO-3 gathered layer"

    @classmethod
    def estimate(cls, ctx: PlanContext) -> GatheredLayer | None:
        if ctx.workload.zero != "zero3":
            return None
        largest = ctx.policy.largest_layer_params
        return cls(4 * largest, f"4 B x {_count(largest)} params of the largest layer")


@dataclass(frozen=True)
class ZeroBuffers(Term):
    """DeepSpeed's gradient reduction bucket: ``reduce_bucket_size`` (5e8) elements x 2 B."""

    key = "zero_buffers"
    label = "ZeRO reduce bucket"

    @classmethod
    def estimate(cls, ctx: PlanContext) -> ZeroBuffers | None:
        if ctx.workload.zero == "none":
            return None
        return cls(2 * ZERO_REDUCE_BUCKET, "2 B x 5e8 elements (DeepSpeed default reduce_bucket_size)")


@dataclass(frozen=True)
class ReferenceModel(Term):
    """KL reference model (beta > 0): P x 2 B / ranks under ZeRO-3 (TRL shards it like the policy), P x 2 B
    whole under ZeRO-2 (TRL gives it ZeRO stage 0), P x dtype bytes without DeepSpeed; none with LoRA (the
    reference is the base with the adapters disabled)."""

    key = "reference"
    label = "reference model"

    @classmethod
    def estimate(cls, ctx: PlanContext) -> ReferenceModel | None:
        p, w, n = ctx.policy.num_params, ctx.workload, ctx.hardware.ranks
        if w.beta == 0:
            return None
        if w.trainable_params is not None:
            return cls(0, f"beta {w.beta}: the base with the adapters disabled (no copy)")
        if w.zero == "zero3":
            if w.offload:
                return cls(0, f"beta {w.beta}: offloaded to CPU with the policy")
            return cls(int(2 * p / n), f"beta {w.beta}: 2 B x {_count(p)} params / {n} ranks")
        size = 2 if w.zero == "zero2" else w.weight_bytes
        return cls(size * p, f"beta {w.beta}: {size} B x {_count(p)} params (whole)")


@dataclass(frozen=True)
class RewardModelWeights(Term):
    """In-process reward model weights: P_rm x 2 B (bf16; fp32 on CPU), sharded over the ranks under ZeRO-3."""

    key = "reward_model"
    label = "reward model weights"

    @classmethod
    def estimate(cls, ctx: PlanContext) -> RewardModelWeights | None:
        if not ctx.workload.reward_models:
            return None
        size = 2 if ctx.hardware.device == "cuda" else 4
        n = ctx.hardware.ranks if ctx.workload.zero == "zero3" else 1
        total = sum(size * rm.shape.num_params // n for rm in ctx.workload.reward_models)
        names = " + ".join(f"{_count(rm.shape.num_params)} ({rm.shape.name})" for rm in ctx.workload.reward_models)
        return cls(total, f"{size} B x {names}" + (f" / {n} ranks" if n > 1 else ""))


@dataclass(frozen=True)
class RewardModelForward(Term):
    """One in-process reward-model batch, no gradients: tokens x (4h + 3i) x e for the widest layer
    intermediates, plus the sdpa padding mask b x s^2 x (1 + e), with tokens = batch_size x max_length."""

    key = "reward_forward"
    label = "reward model forward"

    @classmethod
    def estimate(cls, ctx: PlanContext) -> RewardModelForward | None:
        if not ctx.workload.reward_models:
            return None
        e = ctx.workload.activation_bytes
        largest, formula = 0, ""
        for rm in ctx.workload.reward_models:
            b, s, shape = rm.batch_size, rm.max_length, rm.shape
            size = b * s * (4 * shape.hidden_size + 3 * shape.intermediate_size) * e + b * s * s * (1 + e)
            if size > largest:
                largest = size
                formula = f"{b} x {s} tokens x (4 x {shape.hidden_size} + 3 x {shape.intermediate_size}) x {e} B + mask"
        return cls(largest, formula, phases=("scoring",))


# --- the training micro-batch ------------------------------------------------------------------------


def layer_activation_bytes_per_token(shape: ModelShape, e: int, *, repeated_kv: bool) -> int:
    """Bytes autograd saves per token in one decoder layer (transformers' Qwen2/Qwen3/Llama layers).

    * two RMSNorms: the fp32 upcast input (4 B), the normalised value (e) and the scaled output read by the
      next projections (e), per hidden unit, plus one fp32 scale per token;
    * attention: rotated queries, keys, values and the attention output as saved by the sdpa/flash kernel
      (keys and values repeated to every query head when a padding mask forces transformers' repeat_kv),
      and one fp32 log-sum-exp per head;
    * Qwen3's per-head q/k norms: the fp32 projections (4 B) and their normalised values (e);
    * SwiGLU MLP: gate, SiLU(gate), up and their product (4 x intermediate x e).
    """
    h, nh, hd = shape.hidden_size, shape.num_attention_heads, shape.head_dim
    kv = nh if repeated_kv else shape.num_kv_heads
    norms = 2 * (4 + 2 * e) * h + 2 * 4
    attention = (2 * nh * hd + 2 * kv * hd) * e + 4 * nh
    qk_norm = ((4 + e) * (nh + shape.num_kv_heads) * hd + 4 * (nh + shape.num_kv_heads)) if shape.qk_norm else 0
    mlp = 4 * shape.intermediate_size * e
    return norms + attention + qk_norm + mlp


def layer_gradient_bytes_per_token(shape: ModelShape, e: int) -> int:
    """Gradient temporaries alive at once inside one layer's backward: two MLP-wide and two hidden-wide
    tensors per token (the gradients of the SwiGLU product's operands and of the residual stream)."""
    return (2 * shape.intermediate_size + 2 * shape.hidden_size) * e


def _mask_materialised(w: Workload) -> bool:
    """sdpa with a padded batch: transformers builds a b x 1 x s x s boolean mask and repeats keys/values."""
    return w.attn_implementation == "sdpa"


@dataclass(frozen=True)
class Activations(Term):
    """Saved activations of one micro-batch (b sequences x s = prompt + completion tokens):
    with gradient checkpointing L x b x s x h x e (each layer's input) + the final norm's;
    without, L x b x s x (per-layer saved bytes, see ``layer_activation_bytes_per_token``)."""

    key = "activations"
    label = "activations (saved)"

    @classmethod
    def estimate(cls, ctx: PlanContext) -> Activations:
        shape, w = ctx.policy, ctx.workload
        e, tokens = w.activation_bytes, w.micro_batch * w.sequence_tokens
        final = (4 + 2 * e) * shape.hidden_size + e * shape.hidden_size  # final norm + the head's input copy
        where = f"{w.micro_batch} x {w.sequence_tokens} tokens"
        if w.gradient_checkpointing:
            per_token = shape.num_layers * shape.hidden_size * e + final
            formula = f"{where} x ({shape.num_layers} layers x {shape.hidden_size} x {e} B + final norm) (checkpointed)"
        else:
            layer = layer_activation_bytes_per_token(shape, e, repeated_kv=_mask_materialised(w))
            per_token = shape.num_layers * layer + final
            formula = f"{where} x ({shape.num_layers} layers x {layer:,} B/token + final norm) (no checkpointing)"
        return cls(tokens * per_token, formula, phases=("training",))


@dataclass(frozen=True)
class AttentionMask(Term):
    """sdpa's padding mask: b x s^2 x 1 B (boolean, built once per forward) + the additive e-byte bias each
    attention call saves (every layer without checkpointing; with checkpointing it is counted with the
    recomputed layer). Flash attention keeps no mask."""

    key = "attention_mask"
    label = "attention mask (sdpa)"

    @classmethod
    def estimate(cls, ctx: PlanContext) -> AttentionMask | None:
        w = ctx.workload
        if not _mask_materialised(w):
            return None
        b, s, e, layers = w.micro_batch, w.sequence_tokens, w.activation_bytes, ctx.policy.num_layers
        bias_layers = 0 if w.gradient_checkpointing else layers
        size = b * s * s * (1 + bias_layers * e)
        formula = f"{b} x {s}^2 x (1 B" + (f" + {layers} layers x {e} B)" if bias_layers else ")")
        return cls(size, formula, phases=("training",))


def lm_head_backward_bytes(ctx: PlanContext) -> tuple[int, str]:
    """Peak of TRL's fused log-prob head in the backward: the logits tile(s) plus the fp32 gradient
    accumulators of the head's weight (V x h) and input (N x h), each with its cast back to the
    weights' dtype."""
    shape, w, device = ctx.policy, ctx.workload, ctx.hardware.device
    if not w.causal_lm_head:
        return 0, "score head (no vocabulary projection)"
    h, vocab = shape.hidden_size, shape.vocab_size
    # On GPUs (Triton) only completion tokens are scored; the torch fallback scores every position.
    scored = w.micro_batch * (w.completion_tokens if device == "cuda" else w.sequence_tokens)
    e_head = 4 if (w.lm_head_fp32 or device == "cpu") else w.activation_bytes
    tile = min(scored, LOGPROB_TOKEN_TILE) * min(vocab, LOGPROB_VOCAB_TILE) * e_head
    copies = 1.0 if device == "cuda" else CPU_HEAD_TILE_COPIES
    grads = vocab * h * (4 + w.weight_bytes) + scored * h * (4 + w.activation_bytes)
    formula = (f"{copies:g} x tile {min(scored, LOGPROB_TOKEN_TILE)} x {min(vocab, LOGPROB_VOCAB_TILE)} x {e_head} B"
               f" + fp32 grads of {_count(vocab)} x {h} head and {_count(scored)} x {h} hidden")
    return int(copies * tile) + grads, formula


@dataclass(frozen=True)
class BackwardPeak(Term):
    """The largest transient of the backward pass: max(LM-head backward, one layer's recomputed activations
    and its gradient temporaries (+ its attention bias when checkpointed)); both start from the saved
    activations, one after the other, so only the larger counts."""

    key = "backward_peak"
    label = "backward transient"

    @classmethod
    def estimate(cls, ctx: PlanContext) -> BackwardPeak:
        shape, w = ctx.policy, ctx.workload
        e, tokens = w.activation_bytes, w.micro_batch * w.sequence_tokens
        head, head_formula = lm_head_backward_bytes(ctx)
        grads = layer_gradient_bytes_per_token(shape, e)
        if w.gradient_checkpointing:
            layer = layer_activation_bytes_per_token(shape, e, repeated_kv=_mask_materialised(w)) + grads
            bias = w.micro_batch * w.sequence_tokens**2 * e if _mask_materialised(w) else 0
            recompute = tokens * layer + bias
            layer_formula = f"one recomputed layer: {tokens:,} tokens x {layer:,} B" + (" + mask bias" if bias else "")
        else:
            recompute = tokens * grads
            layer_formula = f"layer gradients: {tokens:,} tokens x {grads:,} B"
        if head >= recompute:
            return cls(head, f"LM head backward: {head_formula}", phases=("training",))
        return cls(recompute, layer_formula, phases=("training",))


# --- generation ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VllmShare(Term):
    """Colocated vLLM: ``vllm_gpu_memory_utilization`` x GPU memory, claimed at start-up (weights + KV cache);
    released while training with ``vllm_enable_sleep_mode``."""

    key = "vllm"
    label = "vLLM (colocated)"

    @classmethod
    def estimate(cls, ctx: PlanContext) -> VllmShare | None:
        w = ctx.workload
        if w.generation != "vllm_colocate":
            return None
        size = int(w.vllm_gpu_memory_utilization * ctx.hardware.memory_bytes)
        phases: tuple[Phase, ...] = ("generation",) if w.vllm_sleep else PHASES
        note = "asleep while scoring and training" if w.vllm_sleep else "held throughout (no sleep mode)"
        return cls(size, f"{w.vllm_gpu_memory_utilization} x {gib(ctx.hardware.memory_bytes)}, {note}", phases=phases)


@dataclass(frozen=True)
class GenerationCache(Term):
    """Generation with transformers (no vLLM): KV cache of the rank's generation batch,
    n x s x 2 x L x kv_heads x head_dim x e, plus the whole bf16 policy gathered under ZeRO-3
    (``ds3_gather_for_generation``) less the rank's own shard."""

    key = "generation_cache"
    label = "generation (transformers)"

    @classmethod
    def estimate(cls, ctx: PlanContext) -> GenerationCache | None:
        shape, w, hw = ctx.policy, ctx.workload, ctx.hardware
        if w.generation != "transformers":
            return None
        per_token = shape.kv_cache_bytes_per_token(w.activation_bytes)
        kv = w.generation_batch_per_rank * w.sequence_tokens * per_token
        formula = f"KV {w.generation_batch_per_rank} seqs x {w.sequence_tokens} tokens x {per_token:,} B"
        gathered = 0
        if w.zero == "zero3" and w.gather_for_generation:
            gathered = 2 * shape.num_params - int(2 * shape.num_params / hw.ranks)
            formula += f" + gathered bf16 policy {gib(gathered)}"
        return cls(kv + gathered, formula, phases=("generation",))


@dataclass(frozen=True)
class Runtime(Term):
    """CUDA context, NCCL communicators and library workspaces: a fixed 2 GiB per GPU process (none on CPU,
    where the measured baseline already holds the libraries)."""

    key = "runtime"
    label = "CUDA/NCCL runtime"

    @classmethod
    def estimate(cls, ctx: PlanContext) -> Runtime | None:
        if ctx.hardware.device != "cuda":
            return None
        return cls(RUNTIME_BYTES, "fixed allowance per GPU process")


# --- the plan of one stage ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class KvCachePlan:
    """Whether colocated vLLM's KV cache holds what one rank generates at once."""

    bytes_per_token: int
    needed_bytes: int
    """KV cache for the rank's whole generation batch at full length: n x (prompt + completion) x per token."""
    capacity_bytes: int
    """vLLM's share less its bf16 weights (per tensor-parallel rank)."""
    sequences_needed: int
    sequences_at_once: int
    """Full-length sequences the cache holds at once (vLLM queues the rest)."""

    @property
    def starts(self) -> bool:
        """vLLM refuses to start unless one full-length sequence fits its cache."""
        return self.sequences_at_once >= 1

    def as_dict(self) -> dict[str, object]:
        return {"bytes_per_token": self.bytes_per_token, "needed_bytes": self.needed_bytes,
                "capacity_bytes": self.capacity_bytes, "sequences_needed": self.sequences_needed,
                "sequences_at_once": self.sequences_at_once, "starts": self.starts}


def kv_cache_plan(ctx: PlanContext) -> KvCachePlan | None:
    """The KV-cache check of colocated vLLM (bf16 cache, vLLM's default)."""
    w, shape = ctx.workload, ctx.policy
    if w.generation != "vllm_colocate":
        return None
    per_token = shape.kv_cache_bytes_per_token(2) // max(w.vllm_tensor_parallel, 1)
    share = int(w.vllm_gpu_memory_utilization * ctx.hardware.memory_bytes)
    capacity = max(share - 2 * shape.num_params // max(w.vllm_tensor_parallel, 1), 0)
    per_sequence = per_token * w.sequence_tokens
    return KvCachePlan(
        bytes_per_token=per_token,
        needed_bytes=per_sequence * w.generation_batch_per_rank,
        capacity_bytes=capacity,
        sequences_needed=w.generation_batch_per_rank,
        sequences_at_once=capacity // per_sequence if per_sequence else 0,
    )


@dataclass(frozen=True)
class MemoryPlan:
    """Every term of one stage, the total of each phase and the peak."""

    terms: tuple[Term, ...]
    capacity_bytes: int
    host_bytes_per_node: int
    """CPU memory DeepSpeed's estimator asks of each node (offloaded states, or its load-time buffers)."""
    kv_cache: KvCachePlan | None

    def phase_total(self, phase: Phase) -> int:
        return sum(t.bytes for t in self.terms if phase in t.phases)

    @property
    def peak_phase(self) -> Phase:
        return max(PHASES, key=self.phase_total)

    @property
    def peak_bytes(self) -> int:
        return self.phase_total(self.peak_phase)

    @property
    def largest_term(self) -> Term:
        """The largest term held in the peak phase."""
        return max((t for t in self.terms if self.peak_phase in t.phases), key=lambda t: t.bytes)

    def term(self, key: str) -> Term | None:
        return next((t for t in self.terms if t.key == key), None)

    @property
    def model_state_bytes(self) -> int:
        """Weights + gradients + optimizer states + ZeRO-3's gathered layer: DeepSpeed's GPU estimate."""
        return sum(t.bytes for t in self.terms if t.key in MODEL_STATE_KEYS)


MODEL_STATE_KEYS = frozenset({"weights", "gradients", "optimizer", "gathered_layer"})
"""The terms DeepSpeed's model-state estimators cover."""


def estimate_memory(ctx: PlanContext) -> MemoryPlan:
    """All terms of one stage on one training process."""
    states, host = model_states_bytes(ctx)
    weights = PolicyWeights.estimate(ctx)
    gradients = Gradients.estimate(ctx)
    gathered = GatheredLayer.estimate(ctx)
    optimizer = OptimizerStates.estimate(ctx, model_states=states, weights=weights.bytes, gradients=gradients.bytes,
                                         gathered=gathered.bytes if gathered else 0)
    candidates: list[Term | None] = [
        weights, gradients, optimizer, gathered, ZeroBuffers.estimate(ctx), ReferenceModel.estimate(ctx),
        RewardModelWeights.estimate(ctx), RewardModelForward.estimate(ctx), Activations.estimate(ctx),
        AttentionMask.estimate(ctx), BackwardPeak.estimate(ctx), VllmShare.estimate(ctx),
        GenerationCache.estimate(ctx), Runtime.estimate(ctx),
    ]
    return MemoryPlan(
        terms=tuple(t for t in candidates if t is not None),
        capacity_bytes=ctx.hardware.memory_bytes,
        host_bytes_per_node=host,
        kv_cache=kv_cache_plan(ctx),
    )

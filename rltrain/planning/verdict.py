"""Does a stage fit, what is the largest term, and which change to the recipe would make it fit.

Advice is computed, not guessed: each candidate change (gradient checkpointing, a smaller micro-batch,
ZeRO-3, sleep mode, a smaller vLLM share, flash attention, more nodes, shorter completions, a served
reward model) is applied to the plan's settings, the memory is estimated again, and a change is offered
only with the peak it leads to. Changes that address the largest term come first.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, TypeVar

from rltrain.planning.memory import MemoryPlan, PlanContext, Term, estimate_memory, gib

Fit = Literal["fits", "tight", "does not fit"]

TIGHT_FRACTION = 0.9
"""Above this share of the GPU a plan is 'tight': the caching allocator's fragmentation and what the
estimate leaves out (CUDA graphs, NCCL growth on many peers) can use the rest."""

MAX_ADVICE = 4

T = TypeVar("T")


@dataclass(frozen=True)
class Advice:
    """One change to the recipe or launch, and the peak per GPU it leads to."""

    change: str
    peak_bytes: int
    fits: bool
    addresses: str
    """The term key this change shrinks (used to order advice)."""

    def text(self) -> str:
        return f"{self.change} -> peak {gib(self.peak_bytes)}" + ("" if self.fits else " (still too much)")


@dataclass(frozen=True)
class Verdict:
    """The judgement of one stage's memory plan."""

    fit: Fit
    peak_bytes: int
    capacity_bytes: int
    peak_phase: str
    largest: Term
    problems: tuple[str, ...]
    """Failures other than the total (vLLM cannot start with its KV cache)."""
    warnings: tuple[str, ...]
    advice: tuple[Advice, ...]

    @property
    def fits(self) -> bool:
        return self.fit != "does not fit" and not self.problems

    @property
    def status(self) -> str:
        return "does not fit" if not self.fits else self.fit

    def line(self) -> str:
        """One line: verdict, peak against capacity, the phase and the largest term."""
        share = self.peak_bytes / self.capacity_bytes if self.capacity_bytes else float("inf")
        text = (f"{self.status}: peak {gib(self.peak_bytes)} of {gib(self.capacity_bytes)} per process ({share:.0%}, "
                f"{self.peak_phase}); largest term: {self.largest.label} {gib(self.largest.bytes)}")
        if self.problems:
            text += "; " + "; ".join(self.problems)
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "verdict": self.status, "fits": self.fits, "peak_bytes": self.peak_bytes, "peak_gib": round(self.peak_bytes / 2**30, 3),
            "capacity_bytes": self.capacity_bytes, "peak_phase": self.peak_phase,
            "largest_term": {"key": self.largest.key, "label": self.largest.label, "bytes": self.largest.bytes},
            "problems": list(self.problems), "warnings": list(self.warnings),
            "advice": [{"change": a.change, "peak_bytes": a.peak_bytes, "fits": a.fits} for a in self.advice],
        }


def classify(peak: int, capacity: int) -> Fit:
    if peak > capacity:
        return "does not fit"
    return "tight" if peak > TIGHT_FRACTION * capacity else "fits"


def _kv_findings(plan: MemoryPlan) -> tuple[list[str], list[str]]:
    kv = plan.kv_cache
    if kv is None:
        return [], []
    if not kv.starts:
        return [f"vLLM cannot start: its KV cache ({gib(kv.capacity_bytes)} after weights) holds no full-length "
                f"sequence ({gib(kv.needed_bytes / max(kv.sequences_needed, 1))} each)"], []
    if kv.sequences_at_once < kv.sequences_needed:
        return [], [f"vLLM's KV cache holds {kv.sequences_at_once} of the {kv.sequences_needed} full-length "
                    f"sequences a rank generates at once (the rest queue; real completions are usually shorter)"]
    return [], []


def judge(ctx: PlanContext, plan: MemoryPlan | None = None, *, with_advice: bool = True) -> Verdict:
    """The verdict of ``ctx``'s plan (estimated here unless given), with advice when it does not fit."""
    plan = plan or estimate_memory(ctx)
    fit = classify(plan.peak_bytes, plan.capacity_bytes)
    problems, warnings = _kv_findings(plan)
    verdict = Verdict(fit=fit, peak_bytes=plan.peak_bytes, capacity_bytes=plan.capacity_bytes,
                      peak_phase=plan.peak_phase, largest=plan.largest_term, problems=tuple(problems),
                      warnings=tuple(warnings), advice=())
    if not with_advice or verdict.fit == "fits" and not problems:
        return verdict
    return dataclasses.replace(verdict, advice=tuple(advise(ctx, plan)))


def _peak(ctx: PlanContext) -> tuple[int, bool]:
    plan = estimate_memory(ctx)
    verdict = judge(ctx, plan, with_advice=False)
    return plan.peak_bytes, verdict.fits and verdict.fit == "fits"


def _workload(ctx: PlanContext, **changes: object) -> PlanContext:
    return dataclasses.replace(ctx, workload=ctx.workload.with_changes(**changes))


def _micro_batch(ctx: PlanContext, micro_batch: int) -> PlanContext:
    return _workload(ctx, micro_batch=micro_batch)


def _nodes(ctx: PlanContext, nodes: int) -> PlanContext:
    return dataclasses.replace(ctx, hardware=dataclasses.replace(ctx.hardware, nodes=nodes))


Candidate = tuple[str, str, PlanContext]
"""(change described for the user, the term it shrinks, the changed plan context)."""


def _candidates(ctx: PlanContext, plan: MemoryPlan) -> Iterator[Candidate]:
    w, hw = ctx.workload, ctx.hardware
    options = "grpo" if w.stage == "grpo" else ("sft" if w.stage == "sft" else "rm")
    if not w.gradient_checkpointing:
        yield f"{options}.gradient_checkpointing: true", "activations", _workload(ctx, gradient_checkpointing=True)
    if w.micro_batch > 1:
        # With checkpointing off, a smaller micro-batch may fit only once it is on: offer both together.
        bases = [("", ctx)] + ([] if w.gradient_checkpointing else
                               [(f"{options}.gradient_checkpointing: true and ", _workload(ctx, gradient_checkpointing=True))])
        for prefix, base in bases:
            best = _first_fitting(range(w.micro_batch - 1, 0, -1), functools.partial(_micro_batch, base))
            if best is not None:
                factor = w.micro_batch / best
                yield (f"{prefix}{options}.per_device_train_batch_size: {best} (and gradient_accumulation_steps "
                       f"x {factor:g} to keep the batch)"), "activations", _workload(base, micro_batch=best)
                break
    if w.attn_implementation == "sdpa" and plan.term("attention_mask"):
        yield (f"{options}.model_init_kwargs.attn_implementation: flash_attention_2 (needs the flash-attn wheel; "
               "no s x s mask)"), "attention_mask", _workload(ctx, attn_implementation="flash_attention_2")
    if w.zero == "none" and hw.ranks > 1:
        yield "distributed.mode: zero3", "optimizer", _workload(ctx, zero="zero3")
    if w.zero == "zero2":
        yield "distributed.mode: zero3 (shard the weights too)", "weights", _workload(ctx, zero="zero3")
    if w.zero == "zero3" and not w.offload:
        yield ("distributed.mode: zero3_offload (optimizer states and weights in CPU memory; slow)", "optimizer",
               _workload(ctx, offload=True))
    if w.zero != "none" and not w.offload:
        nodes = _first_fitting(range(hw.nodes + 1, 4 * hw.nodes + 2), lambda n: _nodes(ctx, n))
        if nodes is not None:
            yield f"{nodes} nodes (--nodes {nodes}: ZeRO shards over more ranks)", "optimizer", _nodes(ctx, nodes)
    if w.generation == "vllm_colocate":
        if not w.vllm_sleep:
            yield f"{options}.vllm_enable_sleep_mode: true (vLLM frees its share while training)", "vllm", _workload(
                ctx, vllm_sleep=True)
        steps = [round(u / 100, 2) for u in range(int(w.vllm_gpu_memory_utilization * 100) - 5, 4, -5)]
        util = _first_fitting(steps, lambda u: _workload(ctx, vllm_gpu_memory_utilization=u))
        if util is not None:
            yield f"{options}.vllm_gpu_memory_utilization: {util}", "vllm", _workload(ctx, vllm_gpu_memory_utilization=util)
        yield (f"{options}.vllm_mode: server (generation on a node of its own)", "vllm",
               _workload(ctx, generation="vllm_server"))
    if w.reward_models:
        yield ("rewards.<reward_model>.params.mode: remote (serve it with `rltrain rm serve`)", "reward_model",
               _workload(ctx, reward_models=()))
    if w.completion_tokens > 1024:
        lengths = range(w.completion_tokens - 1024, 0, -1024)
        length = _first_fitting(lengths, lambda n: _workload(ctx, completion_tokens=n))
        if length is not None:
            yield f"{options}.max_completion_length: {length}", "activations", _workload(ctx, completion_tokens=length)


def _first_fitting(values: Iterable[T], make: Callable[[T], PlanContext]) -> T | None:
    """The first of ``values`` (ordered from the most to the least preferred) whose plan fits."""
    for value in values:
        if _peak(make(value))[1]:
            return value
    return None


_RELATED = {
    "activations": {"activations", "backward_peak", "attention_mask"},
    "attention_mask": {"attention_mask", "backward_peak", "activations"},
    "optimizer": {"optimizer", "gradients", "weights", "gathered_layer", "reference"},
    "weights": {"weights", "optimizer", "gradients", "reference"},
    "vllm": {"vllm", "generation_cache"},
    "reward_model": {"reward_model", "reward_forward"},
}


def advise(ctx: PlanContext, plan: MemoryPlan) -> list[Advice]:
    """Changes that lower the peak, those that make the plan fit and address the largest term first."""
    largest = plan.largest_term.key
    found: list[Advice] = []
    for change, addresses, changed in _candidates(ctx, plan):
        peak, fits = _peak(changed)
        if peak < plan.peak_bytes:
            found.append(Advice(change=change, peak_bytes=peak, fits=fits, addresses=addresses))
    found.sort(key=lambda a: (not a.fits, largest not in _RELATED.get(a.addresses, {a.addresses}), a.peak_bytes))
    return found[:MAX_ADVICE]

"""`rltrain plan`'s training-phase estimate against the measured peak memory of real training steps.

What it runs
------------
Scaled-down real architectures (the shipped configs of DeepSeek-R1-Distill-Qwen-1.5B (Qwen2) and
Qwen3-8B, and Llama-3.1-8B's shape, shrunk to tens of millions of parameters; one case keeps Qwen3's full
151,936-entry vocabulary so that the LM-head term is exercised at its real width), randomly initialised
in fp32 on CPU. Each case runs two real training steps of a GRPO micro-batch: a batch padded as TRL pads
it (left-padded prompts, right-padded completions), TRL's fused log-prob head (``add_fused_lm_head``, as
GRPOTrainer installs it), a clipped-ratio loss over the completion tokens, backward and a fused AdamW
step, with and without gradient checkpointing. The second step is the steady state: Adam's moments exist
during its backward.

Each case runs in a fresh subprocess: after the imports and a warm-up step of a minute model (so that
thread pools and kernels' one-time buffers are in the baseline), the baseline is the process's peak RSS
(``resource.getrusage(...).ru_maxrss``); measured = peak RSS after the two steps - baseline. The child runs
with glibc's mmap threshold fixed at 128 KiB: the dynamic threshold would keep freed blocks of up to 32 MB
in the heap, and the RSS would then grow with fragmentation (by tens of MB per layer) rather than with the
tensors alive (the GPU's caching allocator fragments too: the verdict's 10% margin is for that). The plan is
``rltrain.planning`` run on the same recipe shape with ``--device cpu`` (fp32, no GPU runtime allowance,
TRL's torch fallback of the fused head); the comparison is the plan's training-phase total. The target is
measured within +-25% of the plan.

    python benchmarks/plan_vs_measured.py               # all cases (a few minutes on 2 cores)
    python benchmarks/plan_vs_measured.py --case qwen2-ckpt --json out.json

The GPU-only terms (vLLM's share, the CUDA/NCCL allowance, DeepSpeed's buffers) cannot be measured here;
benchmarks/gpu_check.sh puts the plan beside torch.cuda.max_memory_allocated on a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

CONFIGS = ROOT / "rltrain" / "models" / "model_configs"
TOLERANCE = 0.25

LLAMA_3_1_8B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
    "max_position_embeddings": 131072, "rope_theta": 500000.0, "rms_norm_eps": 1e-05, "tie_word_embeddings": False,
    "hidden_act": "silu", "attention_bias": False, "mlp_bias": False,
}
"""Llama-3.1-8B's shape (public; its config.json is not shipped with the tests)."""


@dataclass(frozen=True)
class Case:
    """One architecture shrunk to ``hidden`` x ``layers`` (head size kept, MLP ratio kept) and one micro-batch."""

    name: str
    source: str
    """A shipped config directory name, or 'llama-3.1-8b'."""
    hidden: int
    layers: int
    vocab: int | None
    """Vocabulary of the shrunk model (None: the original)."""
    batch: int
    prompt: int
    completion: int
    checkpointing: bool


CASES = [
    # A 2,048-entry vocabulary keeps the LM head small, so that model states and activations dominate.
    Case("qwen2-ckpt", "deepseek-ai__DeepSeek-R1-Distill-Qwen-1.5B", 512, 8, 2048, 4, 512, 1536, True),
    Case("qwen2-full", "deepseek-ai__DeepSeek-R1-Distill-Qwen-1.5B", 512, 8, 2048, 2, 256, 768, False),
    Case("qwen3-ckpt", "Qwen__Qwen3-8B", 512, 8, 2048, 4, 512, 1536, True),
    Case("qwen3-full", "Qwen__Qwen3-8B", 512, 8, 2048, 2, 256, 768, False),
    Case("llama-ckpt", "llama-3.1-8b", 512, 8, 2048, 4, 512, 1536, True),
    Case("llama-full", "llama-3.1-8b", 512, 8, 2048, 2, 256, 768, False),
    # Qwen3's real vocabulary: the fused head's tiles dominate.
    Case("qwen3-vocab-ckpt", "Qwen__Qwen3-8B", 256, 4, None, 2, 128, 384, True),
]


def shrunk_config(case: Case) -> dict[str, Any]:
    """The source architecture at ``case``'s width and depth: same head size, GQA ratio and MLP ratio."""
    if case.source == "llama-3.1-8b":
        base = dict(LLAMA_3_1_8B)
    else:
        base = json.loads((CONFIGS / case.source / "config.json").read_text())
    head_dim = base.get("head_dim") or base["hidden_size"] // base["num_attention_heads"]
    heads = case.hidden // head_dim
    group = base["num_attention_heads"] // base["num_key_value_heads"]
    config = {
        **base,
        "hidden_size": case.hidden,
        "num_hidden_layers": case.layers,
        "num_attention_heads": heads,
        "num_key_value_heads": max(heads // group, 1),
        "intermediate_size": round(base["intermediate_size"] * case.hidden / base["hidden_size"] / 64) * 64,
        "max_position_embeddings": max(4096, case.prompt + case.completion),
        "max_window_layers": case.layers,
        "use_cache": False,
    }
    if case.vocab is not None:
        config["vocab_size"] = case.vocab
    return config


# --- the child: two real training steps, peak RSS ---------------------------------------------------------


def _peak_rss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def _model(config_dir: Path, checkpointing: bool):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    config = AutoConfig.from_pretrained(str(config_dir))
    config._attn_implementation = "sdpa"
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # as rltrain loads on CPU (dtype auto)
    add_fused_lm_head(model, outputs=("log_probs", "entropy"))  # GRPOTrainer's head
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    return model


def _batch(vocab: int, batch: int, prompt: int, completion: int):
    """Token ids and mask padded as GRPO pads them: prompts on the left, completions on the right."""
    import torch

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (batch, prompt + completion), generator=generator)
    mask = torch.ones_like(ids)
    for row in range(batch):
        mask[row, : (row * prompt) // (2 * batch)] = 0  # shorter prompts
        mask[row, prompt + completion - (row * completion) // (2 * batch) :] = 0  # shorter completions
    return ids, mask


def _step(model, optimizer, ids, mask, completion: int) -> None:
    """One GRPO micro-batch: log-probs of the completion tokens, a clipped-ratio loss, backward, AdamW."""
    import torch

    labels = ids.masked_fill(mask == 0, -100)
    labels[:, :-completion] = -100
    out = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
    logps = out.log_probs[:, -completion:]
    token_mask = mask[:, -completion:].float()
    advantages = torch.linspace(-1, 1, ids.size(0)).unsqueeze(1)
    ratio = torch.exp(logps - logps.detach())
    loss = -(torch.minimum(ratio * advantages, ratio.clamp(0.8, 1.28) * advantages) * token_mask).sum() / token_mask.sum()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def run_child(case: Case, config_dir: Path) -> dict[str, Any]:
    import torch

    torch.set_num_threads(int(os.environ.get("PLAN_BENCH_THREADS", "2")))
    torch.manual_seed(0)
    warm_dir = config_dir.parent / "warm"
    warm = _model(warm_dir, case.checkpointing)
    warm_opt = torch.optim.AdamW(warm.parameters(), lr=1e-5, fused=True)
    _step(warm, warm_opt, *_batch(warm.config.vocab_size, 2, 8, 8), 8)
    del warm, warm_opt
    baseline = _peak_rss()
    model = _model(config_dir, case.checkpointing)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    ids, mask = _batch(model.config.vocab_size, case.batch, case.prompt, case.completion)
    for _ in range(2):
        _step(model, optimizer, ids, mask, case.completion)
    return {"baseline_bytes": baseline, "peak_bytes": _peak_rss(), "measured_bytes": _peak_rss() - baseline,
            "params": sum(p.numel() for p in model.parameters())}


# --- the parent: the plan, the subprocess, the table ---------------------------------------------------------


def plan_bytes(case: Case, config_dir: Path) -> tuple[int, dict[str, int]]:
    """The plan's training-phase total for the case (and its terms), as `rltrain plan --device cpu` computes it."""
    from rltrain.planning.memory import PlanContext, estimate_memory
    from rltrain.planning.model_shape import shape_from_config_file
    from rltrain.planning.workload import GIB, Hardware, Workload

    shape = shape_from_config_file(config_dir / "config.json", case.name)
    workload = Workload(
        stage="grpo", zero="none", offload=False, weight_bytes=4, activation_bytes=4, micro_batch=case.batch,
        prompt_tokens=case.prompt, completion_tokens=case.completion, prompt_source="benchmark case",
        gradient_checkpointing=case.checkpointing, attn_implementation="sdpa", lm_head_fp32=False,
        causal_lm_head=True, beta=0.0, generation="none", vllm_gpu_memory_utilization=0.0, vllm_sleep=False,
        vllm_tensor_parallel=1, generation_batch_per_rank=case.batch, gather_for_generation=False,
    )
    memory = estimate_memory(PlanContext(shape, workload, Hardware(1, 1, 64 * GIB, "cpu")))
    return memory.phase_total("training"), {t.key: t.bytes for t in memory.terms if "training" in t.phases}


def write_configs(case: Case, directory: Path) -> Path:
    config_dir = directory / case.name
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.json").write_text(json.dumps(shrunk_config(case)))
    warm = {**shrunk_config(case), "hidden_size": 64, "num_hidden_layers": 1, "intermediate_size": 128,
            "vocab_size": 512, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32}
    (directory / "warm").mkdir(exist_ok=True)
    (directory / "warm" / "config.json").write_text(json.dumps(warm))
    return config_dir


def measure(case: Case, directory: Path) -> dict[str, Any]:
    config_dir = write_configs(case, directory)
    command = [sys.executable, __file__, "--child", json.dumps(asdict(case)), "--dir", str(directory)]
    # A fixed mmap threshold: glibc's dynamic one keeps freed blocks of up to 32 MB in the heap, so the RSS
    # of many per-layer allocations would grow with fragmentation rather than with live tensors.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"case {case.name} failed:\n{done.stderr[-3000:]}")
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    planned, terms = plan_bytes(case, config_dir)
    return {**asdict(case), **measured, "plan_bytes": planned, "plan_terms": terms,
            "ratio": measured["measured_bytes"] / planned}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", action="append", choices=[c.name for c in CASES], help="run only these cases")
    parser.add_argument("--json", metavar="OUT", help="write the results as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    by_name = {c.name: c for c in CASES}
    if args.child:
        case = Case(**json.loads(args.child))
        print(json.dumps(run_child(case, Path(args.dir) / case.name)))
        return 0
    cases = [by_name[n] for n in args.case] if args.case else CASES
    rows = []
    print(f"{'case':18s} {'params':>8s} {'b x (p + c)':>16s} {'states':>7s} {'activ.':>7s} {'bwd':>6s} "
          f"{'plan MiB':>9s} {'measured':>9s} {'ratio':>6s}  ok")
    with tempfile.TemporaryDirectory(prefix="plan-bench-") as tmp:
        for case in cases:
            row = measure(case, Path(tmp))
            rows.append(row)
            ok = abs(row["ratio"] - 1) <= TOLERANCE
            shape = f"{case.batch} x ({case.prompt} + {case.completion})"
            terms = row["plan_terms"]
            states = sum(terms.get(k, 0) for k in ("weights", "gradients", "optimizer"))
            activations = terms.get("activations", 0) + terms.get("attention_mask", 0)
            print(f"{case.name:18s} {row['params'] / 1e6:7.1f}M {shape:>16s} {states / 2**20:7.0f} {activations / 2**20:7.0f} "
                  f"{terms.get('backward_peak', 0) / 2**20:6.0f} {row['plan_bytes'] / 2**20:9.0f} "
                  f"{row['measured_bytes'] / 2**20:9.0f} {row['ratio']:6.2f}  {'yes' if ok else 'NO'}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"tolerance": TOLERANCE, "cases": rows}, indent=2))
    return 0 if all(abs(r["ratio"] - 1) <= TOLERANCE for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

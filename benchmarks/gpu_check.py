"""A few GRPO steps of a scaled-down real architecture on one GPU, beside `rltrain plan`'s estimate.

What it runs
------------
DeepSeek-R1-Distill-Qwen-1.5B's architecture (the shipped config.json: hidden 1536, 12 heads, 2 KV heads,
MLP 8960, the full 151,936-entry vocabulary, untied head) cut to ``--layers`` blocks (4 by default: 0.65B
parameters), randomly initialised in bf16 and written as a local checkpoint with rltrain's byte-level
tokenizer and its chat template. A GRPO recipe on the synthetic arithmetic task trains it for ``--steps``
steps through rltrain's normal training path (``rltrain.run.trainer.train_process``: TRL's GRPOTrainer
with rltrain's rewards and callbacks), generating in-process with transformers (``--vllm`` colocates vLLM
instead, when it is installed). Random weights rarely emit an end-of-sequence token, so completions run to
``max_completion_length``: the worst case the plan assumes.

What it records (``OUT/gpu_check.json``)
----------------------------------------
step time (median over the steps after the first), tokens/s (prompt + completion tokens per second),
peak GPU memory (``torch.cuda.max_memory_allocated`` and ``max_memory_reserved``), and the plan of the same
recipe on the same GPU: its peak, the same peak without the fixed CUDA/NCCL allowance (what the caching
allocator can see), each term, and measured / plan.

    python benchmarks/gpu_check.py --out runs/gpu_check                # on a GPU (benchmarks/gpu_check.sh)
    python benchmarks/gpu_check.py --out /tmp/check --device cpu --tiny --steps 1   # the CPU smoke of the script

Needs no network. Wheels: the project's own (torch built for CUDA, transformers, trl, accelerate, datasets,
rich, pydantic, pyyaml); vllm only with ``--vllm``; no flash-attn (sdpa attention, as the plan assumes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

BASE_CONFIG = ROOT / "rltrain" / "models" / "model_configs" / "deepseek-ai__DeepSeek-R1-Distill-Qwen-1.5B" / "config.json"
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
        "vocab_size": 512, "num_hidden_layers": 1}
"""The --tiny shape: the same architecture small enough for a CPU smoke of the script."""


def write_model(out: Path, layers: int, tiny: bool) -> tuple[Path, int]:
    """A random bf16 checkpoint of the cut architecture with rltrain's tokenizer; returns (dir, params)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from rltrain.models.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    raw = json.loads(BASE_CONFIG.read_text())
    raw.update(num_hidden_layers=layers, max_window_layers=layers, use_cache=True,
               bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    if tiny:
        raw.update(TINY)
    model_dir = out / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "config.json").write_text(json.dumps(raw))
    config = AutoConfig.from_pretrained(str(model_dir))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    return model_dir, sum(p.numel() for p in model.parameters())


def write_recipe(out: Path, model_dir: Path, args: argparse.Namespace) -> Path:
    import yaml

    recipe = {
        "name": "gpu_check",
        "stage": "grpo",
        "model": {"name_or_path": str(model_dir), "dtype": "bfloat16" if args.device == "cuda" else "float32"},
        "data": {"source": "synthetic:arithmetic", "synthetic": {"size": 512}, "instruction": "Answer in \\boxed{}."},
        "rewards": [{"name": "math_accuracy"}, {"name": "think_format", "weight": 0.1}],
        "grpo": {
            "max_steps": args.steps, "per_device_train_batch_size": args.batch, "num_generations": args.batch,
            "gradient_accumulation_steps": 1, "max_completion_length": args.completion, "temperature": 1.0,
            "learning_rate": 1.0e-6, "beta": 0.0, "loss_type": "dapo", "gradient_checkpointing": not args.no_checkpointing,
            "bf16": args.device == "cuda", "logging_steps": 1, "save_steps": 10_000,
            **({"use_vllm": True, "vllm_mode": "colocate", "vllm_gpu_memory_utilization": 0.3} if args.vllm else {}),
        },
        "distributed": {"mode": "single", "num_processes": 1},
        "logging": {"progress": False},
        "output_dir": str(out / "run"),
        "seed": 0,
    }
    path = out / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def plan_of(recipe_path: Path, device: str, memory_bytes: int, prompt_tokens: int) -> dict[str, Any]:
    """`rltrain plan` for the recipe on this one device."""
    from rltrain.planning.plan import PlanRequest, plan_file

    request = PlanRequest(nodes=1, gpus_per_node=1, memory_bytes=memory_bytes, device="cuda" if device == "cuda" else "cpu",
                          prompt_tokens=prompt_tokens)
    (plan,) = plan_file(recipe_path, request)
    runtime = plan.memory.term("runtime")
    return {
        "verdict": plan.verdict.status, "peak_bytes": plan.memory.peak_bytes, "peak_phase": plan.memory.peak_phase,
        "peak_without_runtime_bytes": plan.memory.peak_bytes - (runtime.bytes if runtime else 0),
        "terms": {t.key: t.bytes for t in plan.memory.terms},
        "phases": {p: plan.memory.phase_total(p) for p in ("generation", "scoring", "training")},
    }


def step_figures(metrics_path: Path) -> dict[str, Any]:
    """Step times (TRL's ``step_time``, else the time between logged steps) and tokens per second, from
    metrics.jsonl; the first step, which pays for warm-up, is left out of the median when there are more."""
    records = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    times = [r["time"] for r in records]
    steps = [r.get("step_time", b - a) for r, a, b in zip(records, [0.0, *times[:-1]], times, strict=True)]
    figures: dict[str, Any] = {"step_s": steps, "median_step_s": statistics.median(steps[1:] or steps)}
    tokens = [r.get("num_tokens") for r in records]
    if len(records) > 1 and tokens[0] is not None and tokens[-1] is not None:
        figures["tokens_per_s"] = (tokens[-1] - tokens[0]) / (times[-1] - times[0])
    elif tokens and tokens[0] is not None:
        figures["tokens_per_s"] = tokens[0] / times[0]
    figures["completion_mean_length"] = [r.get("completions/mean_length") for r in records]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory (model, recipe, run, gpu_check.json)")
    parser.add_argument("--steps", type=int, default=5, help="GRPO steps (default 5)")
    parser.add_argument("--layers", type=int, default=4, help="transformer blocks kept (default 4: 0.65B params)")
    parser.add_argument("--batch", type=int, default=16, help="completions per step = per-device batch = group size")
    parser.add_argument("--completion", type=int, default=1024, help="max_completion_length (default 1024)")
    parser.add_argument("--no-checkpointing", action="store_true", help="train without gradient checkpointing")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--tiny", action="store_true", help="a minute model (CPU smoke of this script)")
    parser.add_argument("--vllm", action="store_true", help="colocated vLLM for generation (needs the vllm wheel)")
    args = parser.parse_args(argv)
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import resource

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device: run on a GPU, or pass --device cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    model_dir, params = write_model(args.out, args.layers, args.tiny)
    recipe_path = write_recipe(args.out, model_dir, args)

    from rltrain.recipe.loading import load_recipe
    from rltrain.run.layout import RunLayout
    from rltrain.run.trainer import train_process

    recipe = load_recipe(recipe_path)
    if args.device == "cuda":
        memory = torch.cuda.get_device_properties(0).total_memory
        device_name = torch.cuda.get_device_name(0)
        torch.cuda.reset_peak_memory_stats()
    else:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        device_name = platform.processor() or "cpu"
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started = time.monotonic()
    result = train_process(recipe)
    wall = time.monotonic() - started
    measured: dict[str, Any] = {"train_wall_s": round(wall, 2), "global_step": result.global_step}
    if args.device == "cuda":
        measured.update(peak_allocated_bytes=torch.cuda.max_memory_allocated(),
                        peak_reserved_bytes=torch.cuda.max_memory_reserved())
        peak = measured["peak_allocated_bytes"]
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
        measured["peak_rss_growth_bytes"] = peak
    measured.update(step_figures(RunLayout(Path(recipe.output_dir)).metrics))
    prompt_tokens = _longest_prompt(recipe)
    plan = plan_of(recipe_path, args.device, memory, prompt_tokens)
    report = {
        "device": device_name, "device_memory_bytes": memory, "torch": torch.__version__,
        "model": {"architecture": "Qwen2ForCausalLM (DeepSeek-R1-Distill-Qwen-1.5B cut)", "layers": args.layers,
                  "params": params, "tiny": args.tiny},
        "settings": {"steps": args.steps, "batch": args.batch, "completion": args.completion,
                     "gradient_checkpointing": not args.no_checkpointing,
                     "prompt_tokens": prompt_tokens, "vllm": args.vllm},
        "measured": measured,
        "plan": plan,
        # On CPU the RSS growth also holds the data, the trainer and Python objects: only the GPU ratio means much.
        "measured_over_plan": peak / plan["peak_without_runtime_bytes"] if args.device == "cuda" else None,
    }
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: report[k] for k in ("device", "measured_over_plan")}
                     | {"median_step_s": measured["median_step_s"], "tokens_per_s": measured.get("tokens_per_s"),
                        "peak_gib": round(peak / 2**30, 2),
                        "plan_gib": round(plan["peak_without_runtime_bytes"] / 2**30, 2)}))
    return 0


def _longest_prompt(recipe) -> int:
    """Tokens of the longest prompt the recipe's data renders (the plan's prompt length, measured)."""
    from rltrain.data.prompts import load_splits
    from rltrain.models.loading import load_tokenizer

    tokenizer = load_tokenizer(recipe)
    prompts = load_splits(recipe).train["prompt"]
    return max(len(tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True)) for p in prompts)


if __name__ == "__main__":
    sys.exit(main())

"""GRPO step benchmark: step time, its breakdown, tokens/s and memory for a fixed configuration, and
how much of a slow reward shows in step time under each ``rollout.reward_mode``.

What it runs
------------
``rltrain`` GRPO training in this process on synthetic arithmetic prompts with a randomly initialised
Qwen2-architecture model (nothing downloaded): ``--shape tiny`` (CPU default: hidden 128, 4 layers),
``0.5b`` or ``1.5b`` (Qwen2-0.5B/1.5B widths and depths, for GPUs; the vocabulary is the local
tokenizer's). Each run trains ``--steps`` steps; the first ``--warmup`` are dropped and the median of the
rest is reported.

Modes
-----
* default: one run in ``--mode`` (sync) → JSON with ``tokens_per_s`` (prompt + completion tokens
  trained per second), ``step_s`` and its parts (``generation_s``, ``reward_wait_s``, ``rest_s``: the
  log-prob passes and the optimisation step), ``peak_memory_mb`` (GPU allocated, else the process's
  peak RSS) and, on a GPU, ``mfu`` (6·params·tokens per step time over the GPU's peak bf16 FLOP/s).
* ``--slow-reward S``: side by side in one process, each of sync (TRL's order), overlapped and
  pipelined, once without and once with an extra reward that sleeps ``S`` seconds per call. Reports,
  per mode, the step-time growth as a share of the injected time: TRL's order pays all of it (~100%);
  overlapping hides what the log-prob passes cover; pipelining hides up to a whole step.
* ``--save FILE`` writes the JSON; ``--compare FILE`` compares with a stored baseline (same shape and
  device kind) and exits 1 when tokens/s fell by more than ``--tolerance`` (default 25%; CPU timings on
  a shared machine are noisy, so keep it loose there).

    python benchmarks/step.py                                  # CPU, tiny, sync
    python benchmarks/step.py --slow-reward 2                  # the reward-hiding comparison
    python benchmarks/step.py --save benchmarks/baselines/cpu-tiny.json
    OMP_NUM_THREADS=1 python benchmarks/step.py --compare benchmarks/baselines/cpu-tiny.json  # as stored
    python benchmarks/step.py --shape 0.5b --steps 12          # on a GPU: bf16, MFU
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

SHAPES: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
             "intermediate_size": 256, "max_position_embeddings": 1024},
    "0.5b": {"hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
             "intermediate_size": 4864, "max_position_embeddings": 4096},
    "1.5b": {"hidden_size": 1536, "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2,
             "intermediate_size": 8960, "max_position_embeddings": 4096},
}
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}
"""Dense bf16 peak by GPU name fragment, for MFU."""

SLEEP_REWARD = "benchmark_sleep"


def _register_sleep_reward() -> None:
    from verifiers import available_rewards, register_reward

    if SLEEP_REWARD in available_rewards():
        return

    @register_reward(SLEEP_REWARD, description="benchmark: sleeps, then scores 0 (an injected slow reward)")
    def build(seconds: float = 2.0):
        def benchmark_sleep(prompts, completions, **kwargs):
            time.sleep(seconds)
            return [0.0] * len(completions)

        return benchmark_sleep


def recipe_dict(args: argparse.Namespace, mode: str, sleep: float, out: Path) -> dict[str, Any]:
    rewards: list[dict[str, Any]] = [{"name": "math_accuracy"}, {"name": "think_format", "weight": 0.2}]
    if sleep > 0:
        rewards.append({"name": SLEEP_REWARD, "weight": 0.0, "params": {"seconds": sleep}, "timeout": sleep * 10 + 30})
    return {
        "name": f"step-{mode}",
        "model": {"name_or_path": "tiny", "tiny": {**SHAPES[args.shape], "seed": 0}},
        "data": {"source": "synthetic:arithmetic", "synthetic": {"size": 2000, "max_a": 99, "max_b": 99},
                 "prompt_template": "{prompt}", "instruction": ""},
        "rewards": rewards,
        "grpo": {"max_steps": args.steps, "save_steps": 10_000, "logging_steps": 1, "learning_rate": 1e-5,
                 "per_device_train_batch_size": args.batch, "num_generations": args.generations,
                 "max_completion_length": args.completion_tokens, "beta": 0.0, "loss_type": "dapo"},
        "rollout": {"reward_mode": mode},
        "logging": {"progress": False},
        "output_dir": str(out),
        "seed": 0,
    }


def _peak_memory_mb() -> float:
    import resource

    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_once(args: argparse.Namespace, mode: str, sleep: float) -> dict[str, Any]:
    """Train ``args.steps`` steps in this process; the medians of the steps after the warm-up."""
    import torch

    from rltrain.recipe import recipe_from_dict
    from rltrain.run.trainer import train_process

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        recipe = recipe_from_dict(recipe_dict(args, mode, sleep, out), source=f"benchmark ({mode})")
        started = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its logs; stdout is the JSON
            train_process(recipe)
        wall = time.perf_counter() - started
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    kept = records[args.warmup:] or records
    seen = [0] + [r.get("num_tokens", 0) for r in records]  # cumulative prompt + completion tokens
    tokens = [b - a for a, b in zip(seen, seen[1:], strict=False)][args.warmup:]

    def median(key: str) -> float | None:
        values = [r[key] for r in kept if key in r]
        return round(statistics.median(values), 4) if values else None

    step = median("step_time")
    generation, wait = median("timing/generation_s"), median("timing/reward_wait_s")
    result: dict[str, Any] = {
        "mode": mode, "injected_reward_s": sleep, "steps": len(records), "measured_steps": len(kept),
        "step_s": step, "generation_s": generation, "reward_wait_s": wait,
        "reward_compute_s": median("timing/reward_compute_s"),
        "rest_s": round(step - (generation or 0) - (wait or 0), 4) if step is not None else None,
        "tokens_per_s": round(statistics.median(tokens) / step, 1) if tokens and step else None,
        "peak_memory_mb": round(_peak_memory_mb(), 1), "wall_s": round(wall, 2),
        "reward_last": kept[-1].get("reward"),
    }
    if torch.cuda.is_available() and tokens and step:
        params = sum(v for v in _param_count(args.shape).values())
        name = torch.cuda.get_device_name()
        peak = next((f for k, f in PEAK_BF16_FLOPS.items() if k in name), None)
        result["mfu"] = round(6 * params * statistics.median(tokens) / step / peak, 4) if peak else None
    return result


def _param_count(shape: str) -> dict[str, int]:
    from rltrain.models.tiny import build_model, build_tokenizer
    from rltrain.recipe import TinyModelConfig

    tokenizer = build_tokenizer()
    model = build_model(TinyModelConfig(**SHAPES[shape]), len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id)
    return {"params": sum(p.numel() for p in model.parameters())}


def environment(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    import trl

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"cpu ({platform.processor() or platform.machine()})"
    return {"shape": args.shape, "device": device, "device_kind": "gpu" if torch.cuda.is_available() else "cpu",
            "torch": torch.__version__, "trl": trl.__version__, "threads": torch.get_num_threads(),
            "batch": args.batch, "generations": args.generations, "completion_tokens": args.completion_tokens,
            "steps": args.steps, "warmup": args.warmup, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def slow_reward_table(args: argparse.Namespace) -> dict[str, Any]:
    """Each mode with and without the injected reward, interleaved so machine load hits them alike."""
    _register_sleep_reward()
    rows: dict[str, dict[str, Any]] = {}
    for mode in ("sync", "overlapped", "pipelined"):
        base = run_once(args, mode, 0.0)
        slow = run_once(args, mode, args.slow_reward)
        growth = (slow["step_s"] - base["step_s"]) if base["step_s"] and slow["step_s"] else None
        rows[mode] = {"base": base, "slow": slow, "step_growth_s": round(growth, 3) if growth is not None else None,
                      "growth_share_of_injected": round(growth / args.slow_reward, 3) if growth is not None else None}
        _say(f"{mode:>10}: step {base['step_s']:.2f} s -> {slow['step_s']:.2f} s with a {args.slow_reward:g} s reward "
             f"({100 * rows[mode]['growth_share_of_injected']:.0f}% of it shows)")
    return rows


def compare(result: dict[str, Any], baseline_path: Path, tolerance: float) -> bool:
    baseline = json.loads(baseline_path.read_text())
    env, old_env = result["environment"], baseline["environment"]
    if (env["shape"], env["device_kind"]) != (old_env["shape"], old_env["device_kind"]):
        raise SystemExit(f"baseline {baseline_path} is for {old_env['shape']} on {old_env['device_kind']}, "
                         f"this run is {env['shape']} on {env['device_kind']}")
    if env.get("threads") != old_env.get("threads"):
        _say(f"note: {env.get('threads')} torch threads here, {old_env.get('threads')} in the baseline "
             "(set OMP_NUM_THREADS to match)")
    new, old = result["run"]["tokens_per_s"], baseline["run"]["tokens_per_s"]
    ratio = new / old
    _say(f"tokens/s {new} vs baseline {old} ({baseline_path.name}, {old_env['device']}): x{ratio:.2f}")
    if ratio < 1 - tolerance:
        _say(f"REGRESSION: more than {100 * tolerance:.0f}% slower than the baseline")
        return False
    return True


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    parser.add_argument("--mode", choices=("sync", "overlapped", "pipelined"), default="sync")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2, help="first steps left out of the medians")
    parser.add_argument("--batch", type=int, default=32, help="per-device batch (completions per step)")
    parser.add_argument("--generations", type=int, default=8, help="completions per prompt")
    parser.add_argument("--completion-tokens", type=int, default=64)
    parser.add_argument("--slow-reward", type=float, default=0.0, metavar="S",
                        help="compare the modes with a reward sleeping S seconds per call")
    parser.add_argument("--save", type=Path, help="write the JSON result here")
    parser.add_argument("--compare", type=Path, help="baseline JSON to compare tokens/s with")
    parser.add_argument("--tolerance", type=float, default=0.25, help="allowed tokens/s drop (default 0.25)")
    args = parser.parse_args(argv)
    if args.steps <= args.warmup:
        parser.error("--steps must exceed --warmup")

    result: dict[str, Any] = {"environment": environment(args)}
    if args.slow_reward > 0:
        result["slow_reward"] = slow_reward_table(args)
    else:
        result["run"] = run_once(args, args.mode, 0.0)
    text = json.dumps(result, indent=2)
    print(text)
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(text + "\n")
    if args.compare:
        if "run" not in result:
            parser.error("--compare needs a plain run (no --slow-reward)")
        return 0 if compare(result, args.compare, args.tolerance) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

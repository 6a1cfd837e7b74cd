"""LoRA against a full fine-tune: trainable parameters, peak memory and step time, measured in one run.

What it runs
------------
For each shape, the same ``rltrain`` SFT stage (synthetic arithmetic, the local byte-level tokenizer,
nothing downloaded) is built with ``rltrain.run.trainer.build_trainer`` and trained for ``--steps``
optimizer steps twice: once in full, once with the recipe's ``peft`` section (LoRA on the attention and
MLP projections, ``--rank``). Each variant runs in a fresh child process, so that one's peak memory is
not the other's. Shapes:

* ``tiny``: the smoke miniature's model (hidden 128, 4 layers);
* ``7b-slice``: Qwen2.5-7B / DeepSeek-R1-Distill-Qwen-7B's widths (hidden 3584, MLP 18944, 28 query and
  4 key/value heads) with ``--layers`` blocks (default 2) and the local vocabulary: the real
  architecture's per-layer proportions, at a size a CPU can step.

Reported per shape and variant: ``trainable`` and ``total`` parameters, ``step_s`` (median wall time of
the optimizer steps after the first), and the peak memory: on a GPU ``peak_memory_mb`` is
``torch.cuda.max_memory_allocated`` over training; on the CPU it is the child's peak resident size, with
``training_memory_mb``, its growth from the built model to the end of training (gradients, optimizer
state, activations: what LoRA saves). Then the LoRA/full ratios.

    python benchmarks/lora_vs_full.py                       # both shapes, 4 steps each
    python benchmarks/lora_vs_full.py --shapes tiny --steps 8 --save /tmp/lora.json
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

SHAPES: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
             "intermediate_size": 256},
    "7b-slice": {"hidden_size": 3584, "num_hidden_layers": 2, "num_attention_heads": 28, "num_key_value_heads": 4,
                 "intermediate_size": 18944},
}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def recipe_dict(shape: dict[str, int], args: argparse.Namespace, lora: bool, out: Path) -> dict[str, Any]:
    """The benchmarked SFT stage; full and LoRA differ only in the ``peft`` section (and the usual ten-fold
    learning rate, which costs nothing)."""
    raw: dict[str, Any] = {
        "name": f"bench-{'lora' if lora else 'full'}",
        "stage": "sft",
        "model": {"name_or_path": "tiny", "tiny": shape},
        "data": {"source": "synthetic:arithmetic", "synthetic": {"size": 256, "max_a": 99, "max_b": 9},
                 "completion_column": "solution", "instruction": "Box it.", "eval_size": 0},
        "sft": {"max_steps": args.steps, "per_device_train_batch_size": args.batch, "max_length": args.length,
                "logging_steps": 1, "save_steps": 10_000, "learning_rate": 1e-3 if lora else 1e-4,
                "gradient_checkpointing": False},
        "logging": {"progress": False},
        "output_dir": str(out),
    }
    if lora:
        raw["peft"] = {"rank": args.rank, "target_modules": TARGETS, "dropout": 0.0}
    return raw


def _step_timer():
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Wall time of each optimizer step."""

        def __init__(self) -> None:
            self.started = 0.0
            self.seconds: list[float] = []

        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.seconds.append(time.perf_counter() - self.started)

    return StepTimer()


def measure(shape_name: str, lora: bool, args: argparse.Namespace) -> dict[str, Any]:
    """Build and train one variant in this process; what it measured."""
    import psutil
    import torch

    from rltrain.models.adapters import parameter_counts
    from rltrain.recipe import recipe_from_dict
    from rltrain.run.trainer import build_trainer

    shape = {**SHAPES[shape_name], **({"num_hidden_layers": args.layers} if shape_name == "7b-slice" else {})}
    with tempfile.TemporaryDirectory(prefix="rltrain-lora-bench-") as tmp:
        recipe = recipe_from_dict(recipe_dict(shape, args, lora, Path(tmp)), source="benchmark")
        timer = _step_timer()
        trainer = build_trainer(recipe, [timer])
        counts = parameter_counts(trainer.model)
        on_gpu = torch.cuda.is_available()
        if on_gpu:
            torch.cuda.reset_peak_memory_stats()
        resident_before = psutil.Process().memory_info().rss
        trainer.train()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    result = {
        "shape": shape_name, "variant": "lora" if lora else "full", "layers": shape["num_hidden_layers"],
        "trainable": counts.trainable, "total": counts.total,
        "step_s": round(statistics.median(timer.seconds[1:] or timer.seconds), 4),
        "peak_memory_mb": round((torch.cuda.max_memory_allocated() if on_gpu else peak_rss) / 2**20, 1),
    }
    if not on_gpu:
        result["training_memory_mb"] = round(max(peak_rss - resident_before, 0) / 2**20, 1)
    return result


def run_child(shape: str, lora: bool, args: argparse.Namespace) -> dict[str, Any]:
    """:func:`measure` in a fresh interpreter (its own peak memory)."""
    cmd = [sys.executable, __file__, "--child", shape, "lora" if lora else "full", "--steps", str(args.steps),
           "--batch", str(args.batch), "--length", str(args.length), "--rank", str(args.rank), "--layers", str(args.layers)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{shape} {'lora' if lora else 'full'} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(shapes: list[str], args: argparse.Namespace) -> dict[str, Any]:
    import torch

    rows, ratios = [], {}
    for shape in shapes:
        full, lora = run_child(shape, False, args), run_child(shape, True, args)
        rows += [full, lora]
        memory_key = "peak_memory_mb" if torch.cuda.is_available() else "training_memory_mb"
        ratios[shape] = {
            "trainable": round(lora["trainable"] / full["trainable"], 5),
            "memory": round(lora[memory_key] / max(full[memory_key], 1e-9), 3),
            "step_time": round(lora["step_s"] / full["step_s"], 3),
        }
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"cpu ({platform.processor() or platform.machine()})"
    settings = {k: getattr(args, k) for k in ("steps", "batch", "length", "rank", "layers")}
    return {"device": device, "settings": settings, "runs": rows, "lora_over_full": ratios}


def print_table(report: dict[str, Any]) -> None:
    print(f"device: {report['device']}; {report['settings']}")
    print(f"{'shape':<10} {'variant':<7} {'trainable':>12} {'total':>12} {'step s':>8} {'peak MB':>9} {'training MB':>12}")
    for r in report["runs"]:
        training = r.get("training_memory_mb", "")
        print(f"{r['shape']:<10} {r['variant']:<7} {r['trainable']:>12,} {r['total']:>12,} {r['step_s']:>8.3f} "
              f"{r['peak_memory_mb']:>9.1f} {training:>12}")
    for shape, ratio in report["lora_over_full"].items():
        print(f"{shape}: LoRA/full trainable {ratio['trainable']:.4f}, memory {ratio['memory']:.2f}, step time {ratio['step_time']:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", nargs="+", choices=sorted(SHAPES), default=["tiny", "7b-slice"])
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps per variant (the first is not timed)")
    parser.add_argument("--batch", type=int, default=4, help="sequences per step")
    parser.add_argument("--length", type=int, default=128, help="max_length of a training sequence (tokens)")
    parser.add_argument("--rank", type=int, default=16, help="LoRA rank")
    parser.add_argument("--layers", type=int, default=2, help="blocks of the 7b-slice shape")
    parser.add_argument("--save", type=Path, help="also write the report as JSON")
    parser.add_argument("--child", nargs=2, metavar=("SHAPE", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1] == "lora", args)))
        return 0
    report = compare(args.shapes, args)
    print_table(report)
    if args.save:
        args.save.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What one step of staleness costs: the smoke stage one trained ``sync`` and ``pipelined`` over several seeds.

``rollout.reward_mode: pipelined`` trains each batch one step after it was generated, with the PPO ratio
taken against the weights that generated it (``rltrain.rollout.reward_schedule``). This benchmark measures
what that staleness costs in learning, against TRL's on-policy order, on the miniature's stage one: the
same starting checkpoint, the same steps, several training seeds per mode, then the held-out math
accuracy (the stage's own held-out rows) and the held-out code pass rate (``eval.retention``'s recipe),
with the mean and the spread (sample standard deviation, min, max) over seeds.

What it runs
------------
1. The starting checkpoint: ``--checkpoint DIR``, or the cold start the benchmark trains once itself
   (``--cold-start``, default ``recipes/smoke/cold_start.yaml``) into ``WORK/cold_start`` and reuses after.
2. The starting model's held-out math and code scores, once (every run starts from it, and the
   evaluation's sampling seed is fixed, so they are the same for every run).
3. For each seed and mode: the stage-one recipe (``--recipe``, default ``recipes/smoke/stage1.yaml``)
   from the checkpoint with ``seed``, ``rollout.reward_mode`` and ``grpo.max_steps`` (``--steps``; the
   recipe's own when not given) set, trained in this process, then the trained model evaluated on both.

Everything is written under ``WORK`` (``--work``, default ``runs/bench/pipelined_staleness``); the result
(every run and the summary) to ``WORK/result.json`` or ``--save FILE``. CPU time, on the shared 2-core
machine of docs/throughput.md while others used it: the cold start 38 min, the reduced run (3 seeds x 2
modes x 20 steps) 49 min after it, 5 to 11 min a run, training and evaluation; the full run (5 seeds x 2
modes x 60 steps) is some 10 runs of 15 to 25 min there, a fraction of that on an idle machine.

    python benchmarks/pipelined_staleness.py                                      # 5 seeds, the recipe's steps
    python benchmarks/pipelined_staleness.py --seeds 3 --steps 20                 # the reduced run
    python benchmarks/pipelined_staleness.py --checkpoint runs/smoke/cold_start/final
    python benchmarks/pipelined_staleness.py --show runs/bench/pipelined_staleness/result.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

MODES = ("sync", "pipelined")
SCORES = ("math", "code")


def cold_start_checkpoint(recipe_path: Path, work: Path) -> Path:
    """The cold-start model this benchmark trains once (and reuses): ``WORK/cold_start/final``."""
    from rltrain.recipe import load_recipe
    from rltrain.run.trainer import train_process

    final = work / "cold_start" / "final"
    if (final / "config.json").is_file():
        print(f"cold start: reusing {final}", flush=True)
        return final
    print(f"cold start: training {recipe_path} into {final.parent}", flush=True)
    recipe = load_recipe(recipe_path, [f"output_dir={final.parent}", "logging.progress=false"])
    result = train_process(recipe)
    if result.interrupted or not result.final_dir:
        raise SystemExit("the cold start did not finish")
    return Path(result.final_dir)


def stage_recipe(recipe_path: Path, checkpoint: Path, output_dir: Path, mode: str, seed: int, steps: int | None):
    """The stage-one recipe from ``checkpoint`` in ``mode`` with ``seed`` (and ``steps``)."""
    from rltrain.recipe import load_recipe

    overrides = [f"model.name_or_path={checkpoint.resolve()}", f"rollout.reward_mode={mode}", f"seed={seed}",
                 f"output_dir={output_dir}", "logging.progress=false", "grpo.save_steps=100000"]
    if steps is not None:
        overrides.append(f"grpo.max_steps={steps}")
    return load_recipe(recipe_path, overrides)


def held_out(recipe, source: str | None, label: str) -> dict[str, float]:
    """Held-out math accuracy (the stage's own rows) and code pass rate (its ``eval.retention`` recipe)."""
    from rltrain.evaluation.runner import evaluate_model, retention_recipe

    math = evaluate_model(recipe, source, label)
    code = evaluate_model(retention_recipe(recipe), source, label)
    return {"math": math["accuracy"], "code": code["accuracy"]}


def train_and_evaluate(recipe) -> dict[str, Any]:
    """Train one stage-one run in this process and evaluate the trained model."""
    from rltrain.run.trainer import train_process

    result = train_process(recipe)
    if result.interrupted or not result.final_dir:
        raise SystemExit(f"{recipe.output_dir}: training did not finish")
    started = time.monotonic()
    scores = held_out(recipe, result.final_dir, result.final_dir)
    return {**scores, "steps": result.global_step, "train_seconds": round(result.train_seconds, 2),
            "eval_seconds": round(time.monotonic() - started, 2),
            "last_reward": (result.last_log or {}).get("reward")}


def spread(values: list[float]) -> dict[str, float]:
    """Mean, sample standard deviation (0 for one value), min and max."""
    return {"mean": statistics.fmean(values), "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def summarize(before: dict[str, float], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per mode, the spread of each score and of the training time over seeds; and the cost of one step of
    staleness per score: pipelined's mean minus sync's, with the standard error of that difference (from
    the two sample deviations), and pipelined's gain over the starting model as a share of sync's when
    sync gained."""
    summary: dict[str, Any] = {}
    for mode in MODES:
        mine = [r for r in runs if r["mode"] == mode]
        if mine:
            summary[mode] = {key: spread([r[key] for r in mine]) for key in (*SCORES, "train_seconds")}
    if all(mode in summary for mode in MODES):
        cost = {}
        for key in SCORES:
            sync, pipelined = summary["sync"][key], summary["pipelined"][key]
            counts = {mode: sum(r["mode"] == mode for r in runs) for mode in MODES}
            error = (sync["stdev"] ** 2 / counts["sync"] + pipelined["stdev"] ** 2 / counts["pipelined"]) ** 0.5
            sync_gain = sync["mean"] - before[key]
            cost[key] = {"pipelined_minus_sync": pipelined["mean"] - sync["mean"], "standard_error": error,
                         "sync_gain": sync_gain, "pipelined_gain": pipelined["mean"] - before[key],
                         "pipelined_share_of_sync_gain": (pipelined["mean"] - before[key]) / sync_gain
                         if sync_gain > 0 else None}
        summary["staleness"] = cost
    return summary


def print_table(before: dict[str, float], summary: dict[str, Any], seeds: int) -> None:
    print(f"\nheld-out after training, mean ± sample stdev over {seeds} seeds [min, max]")
    print(f"{'':10} {'math':>28} {'code':>28} {'train s':>12}")
    print(f"{'before':10} {before['math']:>27.1%} {before['code']:>28.1%}")
    for mode in MODES:
        if mode not in summary:
            continue
        row = [f"{mode:10}"]
        for key in SCORES:
            s = summary[mode][key]
            row.append(f"{s['mean']:>8.1%} ± {s['stdev']:.1%} [{s['min']:.1%}, {s['max']:.1%}]".rjust(28))
        row.append(f"{summary[mode]['train_seconds']['mean']:>12.1f}")
        print(" ".join(row))
    for key, cost in summary.get("staleness", {}).items():
        share = cost["pipelined_share_of_sync_gain"]
        print(f"{key}: pipelined - sync {cost['pipelined_minus_sync']:+.1%} ± {cost['standard_error']:.1%} (standard "
              f"error); gains over the start: sync {cost['sync_gain']:+.1%}, pipelined {cost['pipelined_gain']:+.1%}"
              + (f" ({share:.0%} of sync's)" if share is not None else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", type=Path, default=REPO / "recipes/smoke/stage1.yaml", help="the stage-one recipe")
    parser.add_argument("--checkpoint", type=Path, help="the starting model (default: a cold start trained once)")
    parser.add_argument("--cold-start", type=Path, default=REPO / "recipes/smoke/cold_start.yaml",
                        help="the recipe of that cold start")
    parser.add_argument("--steps", type=int, help="GRPO steps per run (default: the recipe's max_steps)")
    parser.add_argument("--seeds", type=int, default=5, help="training seeds per mode (0, 1, ...)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--work", type=Path, default=REPO / "runs/bench/pipelined_staleness")
    parser.add_argument("--save", type=Path, help="where to write the result JSON (default: WORK/result.json)")
    parser.add_argument("--show", type=Path, metavar="RESULT", help="print the summary of a saved result and exit")
    args = parser.parse_args(argv)

    if args.show:
        saved = json.loads(args.show.read_text())
        print_table(saved["before"], summarize(saved["before"], saved["runs"]), saved["seeds"])
        return 0

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    checkpoint = args.checkpoint or cold_start_checkpoint(args.cold_start, work)
    first = stage_recipe(args.recipe, checkpoint, work / "before", MODES[0], 0, args.steps)
    print(f"evaluating the starting model {checkpoint}", flush=True)
    before = held_out(first, None, str(checkpoint))
    runs: list[dict[str, Any]] = []
    for seed in range(args.seeds):
        for mode in args.modes:
            recipe = stage_recipe(args.recipe, checkpoint, work / f"{mode}-seed{seed}", mode, seed, args.steps)
            print(f"training {mode}, seed {seed}", flush=True)
            run = {"mode": mode, "seed": seed, **train_and_evaluate(recipe)}
            print(json.dumps(run), flush=True)
            runs.append(run)
    summary = summarize(before, runs)
    result = {"recipe": str(args.recipe), "checkpoint": str(checkpoint), "steps": args.steps or runs[0]["steps"],
              "seeds": args.seeds, "before": before, "runs": runs, "summary": summary}
    out = args.save or work / "result.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print_table(before, summary, args.seeds)
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

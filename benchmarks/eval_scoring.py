"""Scoring throughput of the built-in benchmarks, each against a peer in the same run: completions/s.

* **math** (``aime24`` and ``math500`` scorers): the labelled set ``tests/data/math_verifier_cases.jsonl``
  (821 whole responses with gold answers) scored as benchmark items by :class:`MathBenchmark.score`
  (extraction, the math verifier's worker pool, the majority-vote key), against math-verify (HF's
  ``math_verify``: ``verify(parse(gold), parse(completion))`` in this process), with each one's
  accuracy against the labels;
* **ifeval**: GPT-4's official responses to the 541 prompts (``tests/data/benchmarks/``) scored by
  :class:`IfEval.score` (both modes, in killable workers under a time limit), against the previous
  path, the rule verifiers called in this process (``verifiers.rules.check``, strict then loose, as the
  ``ifeval`` reward calls them: no time limit). IFEval's reference scorer is not pip-installable on its
  own (it ships inside lm-evaluation-harness, whose import pulls the whole harness and downloads NLTK
  data at run time), so it is not the peer here; its verdicts on the same data are compared in
  ``tests/test_bench_ifeval.py`` instead;
* **gpqa_diamond**: the answer extractor on made-up completions (no peer: a few regular expressions);
* **livecodebench_v5** (``--code``, needs the sandbox): the two fixture problems with correct solutions,
  judged in the sandbox, against running the same programs on the same tests with a plain
  ``subprocess`` per test (no isolation): the ratio is the cost of isolation.

Prints a table: completions/s for ours and the peer and the ratio ours/peer (above 1: ours is faster).
The math-verify peer needs the bench extra (``pip install -e ".[bench]"``); without it that row shows
ours only. Timings depend on the machine and on what else runs on it.

    python benchmarks/eval_scoring.py [--repeat N] [--code] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rltrain.evaluation.benchmarks.base import BenchmarkItem, DataCache  # noqa: E402 - after the sys.path line
from rltrain.evaluation.benchmarks.gpqa import GpqaDiamond  # noqa: E402
from rltrain.evaluation.benchmarks.ifeval import IfEval  # noqa: E402
from rltrain.evaluation.benchmarks.livecodebench import PREAMBLE, LiveCodeBenchV5, lcb_outputs_match  # noqa: E402
from rltrain.evaluation.benchmarks.math import Aime24, Math500  # noqa: E402

MATH_CASES = ROOT / "tests" / "data" / "math_verifier_cases.jsonl"
BENCH_DATA = ROOT / "tests" / "data" / "benchmarks"
GPT4_RESPONSES = BENCH_DATA / "ifeval_input_response_data_gpt4_20231107_145030.jsonl"


def best_rate(count: int, run: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    """The last result and the best completions/s over ``repeat`` runs."""
    rates, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        rates.append(count / (time.perf_counter() - started))
    return result, max(rates)


def _row(benchmark: str, n: int, ours: float, peer_name: str, peer: float | None, **extra: Any) -> dict[str, Any]:
    return {"benchmark": benchmark, "completions": n, "ours_per_s": ours, "peer": peer_name, "peer_per_s": peer,
            "ratio": ours / peer if peer else None, **extra}


def math_verify_judge() -> Callable[[str, str], bool] | None:
    try:
        from math_verify import parse
        from math_verify import verify as mv_verify
    except ImportError:
        return None
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)

    def judge(completion: str, gold: str) -> bool:
        gold_text = gold if "\\boxed" in gold or "$" in gold else f"${gold}$"
        try:
            return bool(mv_verify(parse(gold_text), parse(completion)))
        except Exception:  # noqa: BLE001 - a crash counts as "not judged correct"
            return False

    return judge


def bench_math(repeat: int) -> list[dict[str, Any]]:
    cases = [json.loads(line) for line in MATH_CASES.read_text().splitlines() if line.strip()]
    completions = [c["completion"] for c in cases]
    labels = [c["expected"] for c in cases]
    peer = math_verify_judge()
    rows = []
    for benchmark in (Aime24(), Math500()):
        items = [BenchmarkItem(id=str(i), messages=({"role": "user", "content": ""},), reference=c["gold"])
                 for i, c in enumerate(cases)]
        benchmark.score(items[:8], completions[:8])  # start the worker pool outside the timed runs
        verdicts, ours = best_rate(len(cases), lambda b=benchmark, it=items: b.score(it, completions), repeat)
        ours_accuracy = sum(v.correct == label for v, label in zip(verdicts, labels, strict=True)) / len(cases)
        peer_rate, peer_accuracy = None, None
        if peer is not None:
            judged, peer_rate = best_rate(len(cases), lambda: [peer(c["completion"], c["gold"]) for c in cases], repeat)
            peer_accuracy = sum(j == label for j, label in zip(judged, labels, strict=True)) / len(cases)
        rows.append(_row(benchmark.name, len(cases), ours, "math_verify" if peer else "(math-verify not installed)",
                         peer_rate, ours_accuracy=ours_accuracy, peer_accuracy=peer_accuracy))
    return rows


def bench_ifeval(repeat: int) -> dict[str, Any]:
    from verifiers.rules import check

    benchmark = IfEval()
    items = benchmark.load(DataCache())
    responses = {}
    for line in GPT4_RESPONSES.read_text().splitlines():
        row = json.loads(line)
        responses[row["prompt"]] = row["response"]
    completions = [responses[item.prompt_text] for item in items]
    benchmark.score(items[:8], completions[:8])  # warm the workers (rule modules, langdetect profiles)

    def in_process() -> list[tuple[list[bool], list[bool]]]:
        return [(check(c, i.reference["instruction_id_list"], i.reference["kwargs"]),
                 check(c, i.reference["instruction_id_list"], i.reference["kwargs"], strict=False))
                for i, c in zip(items, completions, strict=True)]

    in_process()  # warm this process too
    verdicts, ours = best_rate(len(items), lambda: benchmark.score(items, completions), repeat)
    previous, peer = best_rate(len(items), in_process, repeat)
    agree = sum(v.details["strict"] == s and v.details["loose"] == lo for v, (s, lo) in zip(verdicts, previous, strict=True))
    return _row("ifeval", len(items), ours, "rules in-process (previous path)", peer,
                prompt_strict=benchmark.extra_metrics(items, verdicts)["prompt_strict"], same_verdicts=agree / len(items))


def bench_gpqa(repeat: int) -> dict[str, Any]:
    benchmark = GpqaDiamond()
    item = BenchmarkItem(id="recBench", messages=({"role": "user", "content": ""},), reference="C")
    shapes = ['<think>\n' + "Consider the options. " * 400 + '\n</think>\n\n{"answer": "C"}',
              "</think>\n```json\n{\"answer\": \"B\"}\n```", "</think> So the answer is \\boxed{C}.", "</think> no idea"]
    completions = shapes * 250
    _, ours = best_rate(len(completions), lambda: benchmark.score([item] * len(completions), completions), repeat)
    return _row("gpqa_diamond", len(completions), ours, "(none)", None)


def _unsandboxed(program: str, record: dict[str, Any]) -> bool:
    for test in record["tests"]:
        run = subprocess.run([sys.executable, "-c", program], input=test["input"], capture_output=True, text=True,
                             timeout=6)
        if run.returncode != 0 or not lcb_outputs_match(run.stdout, test["output"]):
            return False
    return True


def bench_livecodebench(repeat: int, scratch: Path) -> dict[str, Any]:
    import shutil

    cache = DataCache(scratch)
    cache.path("livecodebench_v5", "test5.jsonl").parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(BENCH_DATA / "livecodebench_hub_fixture.jsonl", cache.path("livecodebench_v5", "test5.jsonl"))
    benchmark = LiveCodeBenchV5(problems=BENCH_DATA / "livecodebench_problems_fixture.jsonl")
    stdin_item = benchmark.load(cache)[0]
    solution = "n = int(input())\nprint(sum(map(int, input().split())))"
    completions = [f"</think>\n```python\n{solution}\n```"] * 16
    verdicts, ours = best_rate(len(completions), lambda: benchmark.score([stdin_item] * len(completions), completions), repeat)
    record = json.loads(Path(stdin_item.reference["tests_file"]).read_text())
    _, peer = best_rate(len(completions), lambda: [_unsandboxed(PREAMBLE + solution, record) for _ in completions], repeat)
    assert all(v.correct for v in verdicts)
    return _row("livecodebench_v5", len(completions), ours, "plain subprocess per test (no isolation)", peer,
                tests_per_completion=len(record["tests"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timing runs per configuration; the best counts")
    parser.add_argument("--code", action="store_true", help="also time livecodebench_v5 (needs the sandbox)")
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)

    rows = [*bench_math(args.repeat), bench_ifeval(args.repeat), bench_gpqa(args.repeat)]
    if args.code:
        import tempfile

        with tempfile.TemporaryDirectory() as scratch:
            rows.append(bench_livecodebench(args.repeat, Path(scratch)))

    print(f"{'benchmark':<18} {'n':>5} {'ours/s':>10} {'peer/s':>10} {'ours/peer':>9}  peer")
    for row in rows:
        peer = f"{row['peer_per_s']:10.1f}" if row["peer_per_s"] else f"{'-':>10}"
        ratio = f"{row['ratio']:9.2f}" if row["ratio"] else f"{'-':>9}"
        print(f"{row['benchmark']:<18} {row['completions']:>5} {row['ours_per_s']:10.1f} {peer} {ratio}  {row['peer']}")
    for row in rows:
        if "ours_accuracy" in row and row["peer_accuracy"] is not None:
            print(f"{row['benchmark']}: agreement with the labels: ours {row['ours_accuracy']:.1%}, "
                  f"math_verify {row['peer_accuracy']:.1%}")
        if "same_verdicts" in row:
            print(f"ifeval: prompt-level strict {row['prompt_strict']:.2%} (GPT-4 responses); "
                  f"identical verdicts to the in-process path on {row['same_verdicts']:.1%} of prompts")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

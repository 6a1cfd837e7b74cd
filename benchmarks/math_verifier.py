"""Math verifier against math-verify, side by side in one run: accuracy per category and throughput.

Reads the labelled set ``tests/data/math_verifier_cases.jsonl`` (whole responses with gold answers and
hand-written labels) and judges every case with

* ``verifiers.math`` with its default policy: one ``verify()`` call per case (the calling process plus
  one worker process, which is what a single-process caller gets), then ``verify_batch`` with 1, 2, ...
  workers (``--workers``), on the whole set and on the cases that need sympy (the others are settled in
  the calling process, so only these show how batches scale with worker processes);
* math-verify (HF's ``math_verify``, the grader TRL's accuracy reward uses) with its default settings:
  ``verify(parse("$" + gold + "$"), parse(completion))``, in this process and the main thread (its
  timeouts use ``signal.alarm``).

Prints accuracy per category for both, the disagreements with the labels, verifications per second
and the ratios ours/math-verify. math-verify is a benchmark-only dependency
(``pip install -e ".[bench]"``). Timings depend on the machine and on what else runs on it: rerun
when numbers look off.

    python benchmarks/math_verifier.py [--cases PATH] [--repeat N] [--workers 1,2] [--json OUT]
                                       [--show-disagreements]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from verifiers.math import MathPolicy, MathVerdict, math_pool, verify, verify_batch  # noqa: E402 - after the sys.path line
from verifiers.math.batch import prepare  # noqa: E402 - after the sys.path line

DEFAULT_CASES = ROOT / "tests" / "data" / "math_verifier_cases.jsonl"


def load_cases(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --------------------------------------------------------------------------------------------------
# math-verify
# --------------------------------------------------------------------------------------------------


def math_verify_judge() -> Any:
    try:
        from math_verify import parse
        from math_verify import verify as mv_verify
    except ImportError:
        sys.exit('math-verify is not installed: pip install -e ".[bench]" (or pip install math-verify)')
    logging.getLogger("math_verify").setLevel(logging.CRITICAL)

    def judge(completion: str, gold: str) -> bool:
        gold_text = gold if "\\boxed" in gold or "$" in gold else f"${gold}$"
        try:
            return bool(mv_verify(parse(gold_text), parse(completion)))
        except Exception:  # noqa: BLE001 - count a crash as "not judged correct"
            return False

    return judge


# --------------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------------


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def best_rate(n: int, fn: Any, repeat: int) -> tuple[Any, float]:
    """Result of the last run and the best verifications/s over ``repeat`` runs."""
    rates = []
    result = None
    for _ in range(repeat):
        result, seconds = timed(fn)
        rates.append(n / seconds)
    return result, max(rates)


def accuracy_table(cases: list[dict], ours: list[bool], theirs: list[bool]) -> list[dict[str, Any]]:
    rows = []
    categories = list(dict.fromkeys(c["category"] for c in cases))
    for category in [*categories, "all"]:
        idx = [i for i, c in enumerate(cases) if category in ("all", c["category"])]
        n = len(idx)
        ok_ours = sum(ours[i] == cases[i]["expected"] for i in idx)
        ok_theirs = sum(theirs[i] == cases[i]["expected"] for i in idx)
        rows.append({"category": category, "cases": n, "ours": ok_ours / n, "math_verify": ok_theirs / n})
    return rows


def disagreements(cases: list[dict], judged: list[bool], extracted: list[str | None] | None = None) -> list[str]:
    lines = []
    for i, (case, got) in enumerate(zip(cases, judged, strict=False)):
        if got != case["expected"]:
            found = f" extracted={extracted[i]!r}" if extracted else ""
            lines.append(f"  [{case['category']}] gold={case['gold']!r}{found} expected={case['expected']} got={got}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="labelled JSONL (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs per configuration; the best counts")
    parser.add_argument("--workers", default="1,2", help="worker counts for the batch runs (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--show-disagreements", action="store_true", help="list math-verify's disagreements too")
    args = parser.parse_args(argv)
    worker_counts = [int(w) for w in args.workers.split(",")]

    cases = load_cases(args.cases)
    pairs = [(c["completion"], c["gold"]) for c in cases]
    n = len(cases)
    policy = MathPolicy()
    heavy = [p for p in pairs if not isinstance(prepare(p[0], p[1], policy), MathVerdict)]  # left to workers
    mv = math_verify_judge()

    # Start the worker pools outside the timed region (process start and sympy import: about a second).
    for workers in worker_counts:
        verify_batch(heavy[: 2 * workers], workers=workers)
    verify(*heavy[0])

    verdicts = verify_batch(pairs, workers=worker_counts[0])
    batch: dict[int, float] = {}
    heavy_batch: dict[int, float] = {}
    for workers in worker_counts:
        _, batch[workers] = best_rate(n, lambda w=workers: verify_batch(pairs, workers=w), args.repeat)
        _, heavy_batch[workers] = best_rate(len(heavy), lambda w=workers: verify_batch(heavy, workers=w), args.repeat)
    _, single = best_rate(n, lambda: [verify(c, g) for c, g in pairs], args.repeat)
    theirs, mv_single = best_rate(n, lambda: [mv(c, g) for c, g in pairs], args.repeat)
    ours = [v.correct for v in verdicts]

    rows = accuracy_table(cases, ours, theirs)
    print(f"labelled set: {args.cases} ({n} cases, {sum(c['expected'] for c in cases)} positive)\n")
    print(f"{'category':20s} {'cases':>5s} {'ours':>8s} {'math-verify':>12s}")
    for row in rows:
        flag = "" if row["ours"] >= row["math_verify"] else "   <- below math-verify"
        print(f"{row['category']:20s} {row['cases']:5d} {row['ours']:8.1%} {row['math_verify']:12.1%}{flag}")

    ours_bad = disagreements(cases, ours, [v.extracted for v in verdicts])
    print(f"\nour disagreements with the labels: {len(ours_bad)}")
    print("\n".join(ours_bad))
    theirs_bad = disagreements(cases, theirs)
    print(f"math-verify's disagreements with the labels: {len(theirs_bad)}")
    if args.show_disagreements:
        print("\n".join(theirs_bad))
    print(f"\nour verdicts: {dict(Counter(v.reason for v in verdicts))}")

    print(f"\nverifications per second (best of {args.repeat} runs; machine load makes these noisy)")
    print(f"  math-verify, one process            {mv_single:8.0f}")
    print(f"  ours, verify() one by one           {single:8.0f}   {single / mv_single:5.1f}x math-verify")
    for workers, rate in batch.items():
        print(f"  ours, verify_batch, {workers} worker(s)     {rate:8.0f}   {rate / mv_single:5.1f}x math-verify")
    print(f"cases that need sympy (the rest are settled in-process): {len(heavy)} of {n}")
    for workers, rate in heavy_batch.items():
        scale = rate / heavy_batch[worker_counts[0]]
        print(f"  ours, verify_batch, {workers} worker(s)     {rate:8.0f}   {scale:5.2f}x {worker_counts[0]} worker(s)")

    if args.json:
        result = {
            "cases": n,
            "sympy_cases": len(heavy),
            "median_completion_chars": statistics.median(len(c["completion"]) for c in cases),
            "accuracy": rows,
            "throughput": {
                "math_verify": mv_single,
                "verify": single,
                **{f"batch_{w}": r for w, r in batch.items()},
                **{f"sympy_cases_batch_{w}": r for w, r in heavy_batch.items()},
            },
            "ratios_vs_math_verify": {"verify": single / mv_single, **{f"batch_{w}": r / mv_single for w, r in batch.items()}},
            "disagreements": ours_bad,
            "math_verify_disagreements": theirs_bad,
        }
        args.json.write_text(json.dumps(result, indent=2))
    for workers in worker_counts:
        math_pool(workers).close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

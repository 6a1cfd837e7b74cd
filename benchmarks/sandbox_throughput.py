"""Sandbox throughput: isolated runs against bare ``subprocess`` in the same run, local and served.

What it measures
----------------
* **trivial program** (``print(1)`` in Python): executions per second and p50/p99 latency with
  ``--workers`` threads submitting runs, for
  - ``bare``: ``subprocess.run([python3, "-I", "-B", main.py])`` in a temp directory: no isolation,
    no limits (the peer: what open-r1-style local execution costs);
  - ``sandbox``: :meth:`sandbox.Sandbox.run` (bubblewrap namespaces + seccomp + rlimits + per-run
    cgroups when writable, output streamed under caps);
* **10-test judge** (a stdin/stdout A+B program against 10 tests): judgements per second, bare
  (10 subprocess runs + comparison) against :meth:`sandbox.Judge.judge`;
* **served**: the same trivial run and 10-test judge through ``rltrain sandbox serve``'s HTTP server
  (in this process, ``--workers`` server workers) with 1, 2 and 4 concurrent clients.

It prints one table and the ratios ``sandbox / bare``; ``--json FILE`` writes all figures.

How to run
----------
From the repository root (bubblewrap installed; as root, cgroups are used too)::

    .venv/bin/python benchmarks/sandbox_throughput.py --seconds 3 --workers 2

Absolute rates depend on the machine and its load; the ratios measured in one run are what to compare.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox import Judge, Limits, Sandbox
from sandbox.client import SandboxClient
from sandbox.judge import outputs_match
from sandbox.languages import get_language
from sandbox.server import build_service

TRIVIAL = "print(1)"
ADD = "a, b = map(int, input().split())\nprint(a + b)"
TESTS = [{"input": f"{i} {i * 7}", "output": str(i * 8)} for i in range(10)]


def measure(fn: Callable[[], object], *, workers: int, seconds: float) -> dict[str, float]:
    """Call ``fn`` from ``workers`` threads for ``seconds``; calls per second and latency percentiles."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def loop() -> None:
        while time.monotonic() < stop:
            t0 = time.monotonic()
            fn()
            with lock:
                latencies.append(time.monotonic() - t0)

    fn()  # warm-up (compile caches, imports)
    start = time.monotonic()
    threads = [threading.Thread(target=loop) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    ordered = sorted(latencies)
    return {
        "per_s": round(len(ordered) / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1),
        "n": len(ordered),
    }


def bare_runner(python: str, workdir: Path) -> tuple[Callable[[], object], Callable[[], object]]:
    trivial = workdir / "trivial.py"
    trivial.write_text(TRIVIAL)
    add = workdir / "add.py"
    add.write_text(ADD)

    def run_trivial() -> None:
        out = subprocess.run([python, "-I", "-B", str(trivial)], capture_output=True, timeout=10, check=False)
        assert out.stdout == b"1\n"

    def judge_add() -> None:
        passed = 0
        for test in TESTS:
            out = subprocess.run([python, "-I", "-B", str(add)], input=test["input"].encode(), capture_output=True,
                                 timeout=10, check=False)
            passed += outputs_match(out.stdout.decode(), test["output"])
        assert passed == len(TESTS)

    return run_trivial, judge_add


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per cell (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="threads submitting runs / server workers (default 2)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4], help="concurrent clients of the server")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()

    python = get_language("python").run[0]
    rows: list[tuple[str, str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp, Sandbox(limits=Limits(wall_s=10)) as sb:
        print(f"isolation: {sb.report.level} ({sb.report.detail}); interpreter {python}; {args.workers} workers", flush=True)
        judge = Judge(sb)
        bare_trivial, bare_judge = bare_runner(python, Path(tmp))

        def sb_trivial() -> None:
            assert sb.run(TRIVIAL, "python").stdout == "1\n"

        def sb_judge() -> None:
            assert judge.judge(ADD, "python", TESTS).all_passed

        for workers in sorted({1, args.workers}):
            rows.append((f"trivial, {workers} worker(s)", "bare subprocess", measure(bare_trivial, workers=workers, seconds=args.seconds)))
            rows.append((f"trivial, {workers} worker(s)", "sandbox", measure(sb_trivial, workers=workers, seconds=args.seconds)))
        judge_bare = measure(bare_judge, workers=args.workers, seconds=args.seconds)
        rows.append((f"10-test judge, {args.workers} workers", "bare subprocess", judge_bare))
        rows.append((f"10-test judge, {args.workers} workers", "sandbox", measure(sb_judge, workers=args.workers, seconds=args.seconds)))

        service, app = build_service(sb, port=0, workers=args.workers)
        service.start()
        try:
            client = SandboxClient(service.url)
            for clients in args.clients:
                rows.append((f"trivial, {clients} client(s)", "server", measure(
                    lambda: client.run(TRIVIAL, "python"), workers=clients, seconds=args.seconds)))
                rows.append((f"10-test judge, {clients} client(s)", "server", measure(
                    lambda: client.judge(ADD, "python", TESTS), workers=clients, seconds=args.seconds)))
        finally:
            service.shutdown()
            app.close()

    print(f"\n{'case':34s} {'runner':16s} {'per s':>8s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for case, runner, m in rows:
        print(f"{case:34s} {runner:16s} {m['per_s']:8.1f} {m['p50_ms']:8.1f} {m['p99_ms']:8.1f}")
    by_case: dict[str, dict[str, float]] = {}
    for case, runner, m in rows:
        by_case.setdefault(case, {})[runner] = m["per_s"]
    print("\nsandbox / bare subprocess (throughput ratio, same run):")
    ratios = {}
    for case, runners in by_case.items():
        if "bare subprocess" in runners and "sandbox" in runners:
            ratios[case] = round(runners["sandbox"] / runners["bare subprocess"], 2)
            print(f"  {case:34s} {ratios[case]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": [{"case": c, "runner": r, **m} for c, r, m in rows],
                                               "ratios": ratios, "isolation": sb.report.to_dict()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

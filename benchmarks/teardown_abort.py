"""How often a 2-rank gloo job aborts at exit, with and without ``rltrain.run.distributed.teardown()``.

What it measures
----------------
The script launches many short 2-rank jobs on CPU (``python -m torch.distributed.run --nproc_per_node 2``,
gloo backend, ``DS_ACCELERATOR=cpu``, a fresh free rendezvous port per job) of a minimal worker that
lives in this file. The worker runs a few collectives the way ZeRO-3 does (asynchronous all-gathers on a
sub-group, interleaved with blocking all-reduces on the default group) and then finishes while the last
few asynchronous all-gathers have not been waited for. Two variants of the worker are compared:

* ``none``: the script simply ends, leaving the process groups to interpreter shutdown;
* ``teardown``: the script ends with :func:`rltrain.run.distributed.teardown`.

A run counts as an abort when the launcher's exit code is non-zero or its output contains
"terminate called". The table gives, per variant, the number of runs, the aborts, the abort rate and the
mean wall time of one run, followed by the ratio of the two abort rates.

Why
---
With gloo, a collective still queued or running when the interpreter shuts down is completed and freed
by one of gloo's worker threads. Freeing it releases tensors owned by Python; that thread then needs the
GIL while the interpreter is being finalised, ends inside a ``noexcept`` C++ destructor, and
``std::terminate`` aborts the rank ("terminate called without an active exception", SIGABRT, exit -6)
after all the work has been done. Whether that happens depends on thread timing, so it is intermittent.
A job that finished its training but exits with a failure status cannot be told apart from a real
failure: schedulers (Slurm, CI, pipeline stages) retry it, mark it failed, or stop the stages after it.
``teardown()`` puts a barrier on every process group before destroying them, so gloo's threads are idle
before the interpreter shuts down and the exit status can be trusted.

How to run
----------
From the repository root::

    .venv/bin/python benchmarks/teardown_abort.py --runs 20

``--runs`` sets the number of jobs per variant (default 20; each job takes a few seconds, the variants
are run alternately), ``--verbose`` prints one line per job. The abort rate without teardown depends on
the machine (core count, load, library versions) and varies from one invocation to the next; on some
machines it can be zero. The worker is started by the same file: ``--worker {none,teardown}``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

VARIANTS: tuple[str, ...] = ("none", "teardown")
"""Worker variants: exit without teardown, exit after ``rltrain.run.distributed.teardown()``."""

ABORT_MARKER = "terminate called"
"""What ``std::terminate`` prints before the abort."""

STEPS = 50
"""Asynchronous all-gathers (each followed by a blocking all-reduce) issued by every rank."""

LEFT_IN_FLIGHT = 5
"""How many of the last asynchronous all-gathers are never waited for before the script ends."""

REPO_ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------- worker


def worker(variant: str) -> int:
    """One rank of a job: a few gloo collectives, then exit with or without teardown."""
    import torch
    import torch.distributed as dist

    from rltrain.run.distributed import teardown

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    world = dist.get_world_size()
    group = dist.new_group(list(range(world)))

    pending = []
    for _ in range(STEPS):
        local = torch.full((1000,), float(rank))
        gathered = torch.empty(1000 * world)
        pending.append(dist.all_gather_single(gathered, local, group=group, async_op=True))
        dist.all_reduce(torch.ones(10))
    for work in pending[:-LEFT_IN_FLIGHT]:
        work.wait()

    if variant == "teardown":
        teardown()  # its barriers drain the all-gathers that were not waited for
    return 0


# --------------------------------------------------------------------------------------------- driver


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def job_environment() -> dict[str, str]:
    env = dict(os.environ)
    env["DS_ACCELERATOR"] = "cpu"
    env["CUDA_VISIBLE_DEVICES"] = ""
    env.setdefault("OMP_NUM_THREADS", "1")
    python_path = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *python_path])
    return env


def run_job(variant: str, timeout: float) -> tuple[int | None, bool, float, str]:
    """Launch one 2-rank job; returns (exit code or None on timeout, abort marker seen, seconds, output)."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(free_port()),
        str(Path(__file__).resolve()),
        "--worker",
        variant,
    ]
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        env=job_environment(),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so a hung job can be killed with its ranks
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        code = None
    return code, ABORT_MARKER in output, time.monotonic() - start, output


def measure(runs: int, timeout: float, verbose: bool) -> dict[str, dict[str, float]]:
    results = {v: {"runs": 0, "aborts": 0, "terminate": 0, "timeouts": 0, "seconds": 0.0} for v in VARIANTS}
    for i in range(1, runs + 1):
        for variant in VARIANTS:  # alternate, so drifts in machine load hit both variants alike
            code, marker, seconds, output = run_job(variant, timeout)
            aborted = code != 0 or marker
            r = results[variant]
            r["runs"] += 1
            r["aborts"] += aborted
            r["terminate"] += marker
            r["timeouts"] += code is None
            r["seconds"] += seconds
            if verbose:
                status = "timeout" if code is None else f"exit {code}"
                print(
                    f"run {i:3d}/{runs} {variant:<8} {status:<8} "
                    f"{'terminate called' if marker else '':<16} {seconds:5.1f}s",
                    file=sys.stderr,
                    flush=True,
                )
                if aborted and code != 0 and not marker:
                    print(output[-2000:], file=sys.stderr, flush=True)
            else:
                print("x" if aborted else ".", end="", file=sys.stderr, flush=True)
    if not verbose:
        print(file=sys.stderr)
    return results


def report(results: dict[str, dict[str, float]]) -> None:
    header = (
        f"{'variant':<10} {'runs':>5} {'aborts':>7} {'abort rate':>11} {'terminate msg':>14} {'s/run':>6}"
    )
    print(header)
    print("-" * len(header))
    rates = {}
    for variant in VARIANTS:
        r = results[variant]
        rates[variant] = r["aborts"] / r["runs"]
        print(
            f"{variant:<10} {r['runs']:>5} {r['aborts']:>7} {rates[variant]:>10.1%} "
            f"{r['terminate']:>14} {r['seconds'] / r['runs']:>6.1f}"
        )
    timeouts = sum(r["timeouts"] for r in results.values())
    if timeouts:
        print(f"({timeouts} run(s) hit the time limit; they count as aborts)")

    without, with_ = rates["none"], rates["teardown"]
    if with_ > 0:
        print(f"abort rate ratio none/teardown: {without / with_:.1f}x")
    elif without > 0:
        bound = 3 / results["teardown"]["runs"]  # rule of three: 95% upper bound for 0 events in n trials
        print(
            f"abort rate ratio none/teardown: inf (no aborts with teardown; its rate is below "
            f"{min(bound, 1):.0%} at 95% confidence)"
        )
    else:
        print("abort rate ratio none/teardown: n/a (no aborts in either variant on this machine)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=20, help="jobs per variant (default 20)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a job is killed")
    parser.add_argument("--verbose", action="store_true", help="one line per job on stderr")
    parser.add_argument("--worker", choices=VARIANTS, help="run as one rank of a job (used by the launcher)")
    args = parser.parse_args(argv)

    if args.worker:
        return worker(args.worker)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    results = measure(args.runs, args.timeout, args.verbose)
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

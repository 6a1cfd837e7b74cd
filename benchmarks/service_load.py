"""Load on the JSON service kit: the current kit (Starlette + uvicorn) against an earlier one, same run.

What it measures
----------------
Requests per second and p50/p99 latency of keep-alive clients hammering, on loopback:

* ``echo``: a route answering its small JSON payload (the kit's own cost: HTTP, JSON, admission,
  the hop to a handler thread), with 16 and 64 concurrent clients (``--clients``);
* ``run``: the sandbox's ``POST /run`` of ``print(1)`` (``--run-clients`` clients, 2 sandbox workers),
  skipped when the machine cannot isolate programs (no bubblewrap).

Each is measured, in ``--rounds`` alternating rounds (medians reported), for the current
``sandbox/service.py`` and for the one at ``--baseline-rev`` (default
``c163dcf``, the standard library ``http.server`` kit), loaded from git into a temporary module. The
clients run in a separate process (asyncio, raw sockets, one connection each, at most ``--seconds``
seconds), so the server's interpreter is not shared with them. It prints one table and the ratios
``current / baseline``; ``--json FILE`` writes all figures.

How to run
----------
From the repository root::

    .venv/bin/python benchmarks/service_load.py --seconds 3

Absolute rates depend on the machine and its load; compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRIVIAL: dict[str, Any] = {"code": "print(1)", "language": "python"}
ECHO: dict[str, Any] = {"prompt": "x" * 200, "n": [1, 2, 3]}
#: Seconds a client waits to connect or for an answer before it counts a failure and stops.
IO_TIMEOUT_S = 10.0


# -- the load (in a child process) -------------------------------------------------------------------

async def _client(host: str, port: int, request: bytes, go: asyncio.Event, clock: list[float],
                  latencies: list[float], statuses: dict[Any, int]) -> None:
    """One keep-alive connection posting ``request`` until the clock's end; a connection that cannot be
    opened or an answer that does not come within ``IO_TIMEOUT_S`` is counted and ends this client."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), IO_TIMEOUT_S)
    except (OSError, TimeoutError):
        statuses["connect_failed"] = statuses.get("connect_failed", 0) + 1
        return
    try:
        await go.wait()  # every connection is open before the clock starts
        while time.monotonic() < clock[1]:
            started = time.monotonic()
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IO_TIMEOUT_S)
            status = int(head.split(b" ", 2)[1])
            length = next(int(line.split(b":", 1)[1]) for line in head.lower().split(b"\r\n")
                          if line.startswith(b"content-length:"))
            await asyncio.wait_for(reader.readexactly(length), IO_TIMEOUT_S)
            clock[2] = time.monotonic()
            latencies.append(clock[2] - started)
            statuses[status] = statuses.get(status, 0) + 1
            if b"connection: close" in head.lower():
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        statuses["failed"] = statuses.get("failed", 0) + 1
    finally:
        writer.close()


def drive(host: str, port: int, path: str, payload: Any, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` keep-alive connections posting ``payload`` to ``path`` for ``seconds``."""
    body = json.dumps(payload).encode()
    request = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def main() -> float:
        go, clock = asyncio.Event(), [0.0, 0.0, 0.0]  # start, end, last answer
        tasks = [asyncio.ensure_future(_client(host, port, request, go, clock, latencies, statuses))
                 for _ in range(clients)]
        await asyncio.sleep(1.0)  # connections opened (a listen backlog of 5 may need SYN retries: not timed)
        clock[:] = [time.monotonic(), time.monotonic() + seconds, 0.0]
        go.set()
        await asyncio.gather(*tasks)
        return max(clock[2] - clock[0], 1e-9)  # not the wait of a client whose connection failed

    elapsed = asyncio.run(main())
    ordered = sorted(latencies)
    return {"requests_per_s": statuses.get(200, 0) / elapsed, "statuses": statuses,
            "p50_ms": 1000 * statistics.median(ordered) if ordered else None,
            "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else None}


def measure(address: tuple[str, int], path: str, payload: Any, clients: int, seconds: float) -> dict[str, Any]:
    """Run :func:`drive` in a child process and return its figures."""
    args = [sys.executable, __file__, "--drive", json.dumps([*address, path, payload, clients, seconds])]
    done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the two kits --------------------------------------------------------------------------------------

def load_baseline(rev: str, into: Path) -> ModuleType:
    """``sandbox/service.py`` as of ``rev``, imported as a module of its own."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:sandbox/service.py"], capture_output=True,
                            text=True, check=True).stdout
    path = into / f"service_{rev}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"baseline_service_{rev}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def sandbox_or_none() -> Any:
    from sandbox import Limits, Sandbox, SandboxError

    try:
        return Sandbox(limits=Limits(wall_s=5))
    except SandboxError as exc:
        print(f"(no /run measurements: {exc})", file=sys.stderr)
        return None


class Servers:
    """One kit's echo server and (with a sandbox) its sandbox ``/run`` server, started together."""

    def __init__(self, kit: ModuleType, sandbox: Any) -> None:
        from sandbox.server import SandboxApp

        self.echo = kit.JsonService("echo", {"/echo": kit.Route(lambda p: p)}, port=0, capacity=4096).start()
        self.app: SandboxApp | None = None
        self.run: Any = None
        if sandbox is not None:
            app = self.app = SandboxApp(sandbox, workers=2)
            routes = {"/run": kit.Route(lambda p: app._on_pool(app.run_one, p))}
            self.run = kit.JsonService("sandbox", routes, port=0, capacity=4096).start()

    def loads(self, args: argparse.Namespace) -> dict[str, tuple[tuple[str, int], str, Any, int]]:
        """Name → (address, path, payload, clients) of every measurement."""
        loads = {f"echo c{c}": (self.echo.address, "/echo", ECHO, c) for c in args.clients}
        if self.run is not None:
            loads[f"run c{args.run_clients}"] = (self.run.address, "/run", TRIVIAL, args.run_clients)
        return loads

    def close(self) -> None:
        self.echo.shutdown(timeout=5)
        if self.run is not None:
            self.run.shutdown(timeout=10)
        if self.app is not None:
            self.app.close()


def median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over the rounds, and every round's statuses summed."""
    statuses: dict[str, int] = {}
    for r in rounds:
        for key, count in r["statuses"].items():
            statuses[key] = statuses.get(key, 0) + count
    return {"requests_per_s": statistics.median(r["requests_per_s"] for r in rounds),
            "p50_ms": statistics.median(r["p50_ms"] for r in rounds),
            "p99_ms": statistics.median(r["p99_ms"] for r in rounds), "statuses": statuses, "rounds": rounds}


def bench(kits: dict[str, ModuleType], sandbox: Any, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Every load against every kit, in ``--rounds`` alternating rounds (the machine's load drifts: a
    kit measured only first or only last would carry the drift); kit → load → median figures."""
    servers = {name: Servers(kit, sandbox) for name, kit in kits.items()}
    try:
        rounds: dict[str, dict[str, list]] = {name: {} for name in kits}
        for load in servers[next(iter(kits))].loads(args):
            for i in range(args.rounds):
                order = list(kits) if i % 2 == 0 else list(reversed(kits))
                for name in order:
                    address, path, payload, clients = servers[name].loads(args)[load]
                    if i == 0:
                        measure(address, path, payload, clients, min(1.0, args.seconds))  # warm up
                    rounds[name].setdefault(load, []).append(measure(address, path, payload, clients, args.seconds))
        return {name: {load: median_of(r) for load, r in per_load.items()} for name, per_load in rounds.items()}
    finally:
        for group in servers.values():
            group.close()


def table(current: dict[str, dict[str, Any]], baseline: dict[str, dict[str, Any]], rev: str) -> str:
    lines = [f"{'load':<10} {'kit':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}  statuses"]
    for name in current:
        for kit, figures in (("current", current[name]), (rev, baseline[name])):
            lines.append(f"{name:<10} {kit:<10} {figures['requests_per_s']:>9.1f} {figures['p50_ms']:>8.2f} "
                         f"{figures['p99_ms']:>8.2f}  {figures['statuses']}")
        rps = current[name]["requests_per_s"] / baseline[name]["requests_per_s"]
        p99 = current[name]["p99_ms"] / baseline[name]["p99_ms"]
        lines.append(f"{name:<10} {'ratio':<10} {rps:>9.2f} {'':>8} {p99:>8.2f}  (current / {rev}; "
                     "req/s above 0.9 and p99 below 1.1 is no worse than 10 %)")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-rev", default="c163dcf", help="git revision of the kit to compare with")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per load and kit (medians reported)")
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 64], help="concurrent clients on echo")
    parser.add_argument("--run-clients", type=int, default=16, help="concurrent clients on the sandbox's /run")
    parser.add_argument("--no-sandbox", action="store_true", help="skip the /run measurements")
    parser.add_argument("--json", type=Path, help="write all figures here")
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        print(json.dumps(drive(*json.loads(args.drive))))
        return 0
    import sandbox.service as current_kit

    sandbox = None if args.no_sandbox else sandbox_or_none()
    with tempfile.TemporaryDirectory() as tmp:
        figures = bench({"current": current_kit, args.baseline_rev: load_baseline(args.baseline_rev, Path(tmp))},
                        sandbox, args)
    current, baseline = figures["current"], figures[args.baseline_rev]
    if sandbox is not None:
        sandbox.close()
    print(table(current, baseline, args.baseline_rev))
    if args.json:
        args.json.write_text(json.dumps({"current": current, args.baseline_rev: baseline}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Peak memory of ``rltrain rm serve`` for large requests, against a stated bound.

What it measures
----------------
The server runs in a process of its own (the tiny reward model built locally; ``--model DIR`` for a
real one) with a token budget per forward pass (``--max-batch-tokens``). After one warm-up request its
resident memory is the *idle* RSS. Then, one at a time:

* one request of 64 texts of 2 KB, answered in full;
* one request of 10,000 texts of 2 KB (20 MB of JSON). Scoring all of it takes minutes on CPU, so by
  default the request carries ``X-Request-Timeout: --seconds`` and the server abandons it then; the
  memory peak comes from the body, the parsed texts and the first forward passes, not from how many
  passes follow. ``--seconds 0`` waits for the full answer.

After each, the process's peak RSS (``VmHWM``) is printed against ``idle + --bound-mb``. The exit status
is 1 when a peak passes the bound. Before the token budget, 64 such texts alone peaked at 2.7 GB and the
10,000-text request at 3.1 GB (forward passes of 64 rows × 2048 tokens).

How to run
----------
``python benchmarks/reward_model_server_memory.py [--max-batch-tokens 16384] [--bound-mb 600] [--seconds 20]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

TEXT_2KB = "reward " * 292


def _tiny_model(directory: str) -> str:
    from rltrain.models.tiny import write_tiny_reward_model
    from rltrain.recipe import TinyModelConfig

    shape = TinyModelConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                            intermediate_size=64, seed=3)
    return str(write_tiny_reward_model(directory, shape))


def _start(model: str, budget: int) -> tuple[subprocess.Popen, tuple[str, int]]:
    proc = subprocess.Popen([sys.executable, "-m", "rltrain", "rm", "serve", model, "--port", "0",
                             "--max-batch-tokens", str(budget), "--drain-timeout", "5"],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        found = re.search(r"on http://([\d.]+):(\d+)", line)
        if found:
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, (found.group(1), int(found.group(2)))
    raise SystemExit(f"the server did not start (exit {proc.wait()})")


def _mb(pid: int, key: str) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1)) / 1024


def _post(address: tuple[str, int], texts: list[str], seconds: float) -> tuple[int, float]:
    conn = http.client.HTTPConnection(*address, timeout=max(seconds, 1) + 600)
    headers = {"Content-Type": "application/json"}
    if seconds:
        headers["X-Request-Timeout"] = str(seconds)
    started = time.monotonic()
    conn.request("POST", "/get_reward", json.dumps({"query": texts}), headers)
    status = conn.getresponse().status
    return status, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="reward model directory (default: the tiny one, built here)")
    parser.add_argument("--max-batch-tokens", type=int, default=16384)
    parser.add_argument("--bound-mb", type=float, default=600.0, help="allowed peak above the idle RSS")
    parser.add_argument("--seconds", type=float, default=20.0, help="deadline of the 10,000-text request (0: none)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        proc, address = _start(args.model or _tiny_model(tmp), args.max_batch_tokens)
        try:
            _post(address, ["warm up"], 0)
            idle = _mb(proc.pid, "VmRSS")
            print(f"idle server RSS {idle:.0f} MB; bound: idle + {args.bound_mb:.0f} MB = {idle + args.bound_mb:.0f} MB "
                  f"(max_batch_tokens {args.max_batch_tokens})")
            failed = False
            for count, seconds in ((64, 0.0), (10_000, args.seconds)):
                status, took = _post(address, [TEXT_2KB] * count, seconds)
                peak = _mb(proc.pid, "VmHWM")
                ok = peak - idle <= args.bound_mb
                failed |= not ok
                print(f"{count:>6} x 2 KB: answered {status} after {took:.1f} s; peak RSS {peak:.0f} MB "
                      f"(+{peak - idle:.0f} MB over idle, {'within' if ok else 'ABOVE'} the bound)")
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

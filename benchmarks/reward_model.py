"""Reward-model scoring throughput: in-process ``RewardModel.score`` against the served model.

What it measures
----------------
Pairs scored per second for the same model and the same pairs, three ways:

* ``in-process``: one caller, ``RewardModel.score`` in batches of ``--batch-size`` on a worker thread
  (what a trainer rank does with ``mode: in_process``: the reward guard calls rewards from a thread);
* ``served, 1 client``: one ``RewardModelClient`` posting batches of ``--batch-size`` pairs to
  ``rltrain rm serve`` (here started in this process on a free port), i.e. the HTTP and JSON overhead;
* ``served, N clients``: ``--clients`` concurrent clients (trainer ranks) sharing the server, whose
  dynamic batcher merges their requests into forward passes of up to ``--max-batch`` texts.

The model is the tiny Qwen2 reward model built locally (random weights; ``--model DIR`` to use a real
one). Scores are checked to be the same in all three modes. Each mode is timed after one warm-up call;
the best of ``--repeat`` runs is reported.

How to run
----------
``python benchmarks/reward_model.py [--pairs 512] [--batch-size 32] [--clients 4] [--repeat 3] [--model DIR]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing


def _tiny_model(directory: str) -> str:
    from rltrain.models.tiny import build_reward_model, build_tokenizer
    from rltrain.recipe import TinyModelConfig

    tokenizer = build_tokenizer()
    model = build_reward_model(TinyModelConfig(), len(tokenizer), tokenizer.pad_token_id)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _pairs(n: int) -> list:
    return [([{"role": "user", "content": f"Wrap your answer in double quotes. What is {i % 90}+{i % 9}?"}],
             f'{i % 90}+{i % 9}: working</think>\n"\\boxed{{{i % 90 + i % 9}}}"' + " ok" * (i % 7)) for i in range(n)]


def _in_thread(fn):
    """Run ``fn`` on a worker thread, as rltrain's reward guard calls a reward during training."""
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(value=fn()))
    thread.start()
    thread.join()
    return box["value"]


def _timed(fn, repeat: int = 1) -> tuple[float, list]:
    """Best wall time of ``repeat`` calls, and the last result (the machine may be shared)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--model", help="reward model directory (default: the tiny model, random weights)")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per mode; the best is reported")
    args = parser.parse_args()

    import torch

    from verifiers.reward_model import load_reward_model
    from verifiers.reward_model.client import RewardModelClient
    from verifiers.reward_model.server import build_service

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.model or _tiny_model(tmp)
        model = load_reward_model(path, batch_size=args.batch_size)
        pairs = _pairs(args.pairs)
        model.score(pairs[: args.batch_size])  # warm-up
        local_s, local = _timed(lambda: _in_thread(lambda: model.score(pairs)), args.repeat)

        service, batcher = build_service(model, port=0, max_batch=args.max_batch, model_path=path)
        service.start()
        try:
            client = RewardModelClient(service.url, batch_size=args.batch_size, concurrency=1)
            client.score(pairs[: args.batch_size])  # warm-up
            one_s, one = _timed(lambda: client.score(pairs), args.repeat)

            shards = [pairs[i :: args.clients] for i in range(args.clients)]
            results: list = [None] * args.clients

            def run(i: int) -> None:
                results[i] = RewardModelClient(service.url, batch_size=args.batch_size, concurrency=1).score(shards[i])

            def all_clients() -> None:
                threads = [threading.Thread(target=run, args=(i,)) for i in range(args.clients)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()

            many_s, _ = _timed(all_clients, args.repeat)
        finally:
            service.shutdown()
            batcher.close()

    merged = [0.0] * len(pairs)
    for i, shard in enumerate(results):
        merged[i :: args.clients] = shard
    worst = max(max(abs(a - b) for a, b in zip(local, other, strict=False)) for other in (one, merged))
    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    print(f"reward model scoring, {args.pairs} pairs, batch {args.batch_size}, {device}, model {args.model or 'tiny'}")
    print(f"{'mode':24s} {'seconds':>8s} {'pairs/s':>9s} {'vs in-process':>14s}")
    for name, seconds in (("in-process", local_s), ("served, 1 client", one_s), (f"served, {args.clients} clients", many_s)):
        print(f"{name:24s} {seconds:8.2f} {args.pairs / seconds:9.1f} {local_s / seconds:13.2f}x")
    print(f"largest score difference served vs in-process: {worst:.2e}")


if __name__ == "__main__":
    main()

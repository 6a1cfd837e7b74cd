"""``rltrain rm serve``: a sequence-classification reward model over HTTP (see docs/stage_two.md)."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_rm_serve(args: argparse.Namespace) -> int:
    """Serve a reward model over HTTP until SIGTERM/SIGINT."""
    from rich.console import Console

    from verifiers.reward_model import load_reward_model
    from verifiers.reward_model_server import build_service

    model = load_reward_model(args.model_path, batch_size=args.max_batch, max_length=args.max_length,
                              thinking="keep" if args.keep_thinking else "strip")
    service, batcher = build_service(model, host=args.host, port=args.port, max_batch=args.max_batch,
                                     max_wait_ms=args.max_wait_ms, capacity=args.capacity, model_path=args.model_path)
    Console(stderr=True).print(f"reward model {args.model_path} on {service.url} (POST /score, /get_reward; GET /health, /metrics)",
                     soft_wrap=True, markup=False, highlight=False)
    try:
        service.serve()
    finally:
        batcher.close()
    return 0


def add_rm_parser(sub: Any) -> None:
    """Register ``rltrain rm``."""
    p = sub.add_parser("rm", help="reward model tools", description="Reward model tools.")
    rm_sub = p.add_subparsers(dest="rm_command", required=True, metavar="RM_COMMAND")
    p = rm_sub.add_parser(
        "serve", help="serve a reward model over HTTP",
        description="Serve a sequence-classification reward model: POST /score, POST /get_reward (OpenRLHF), GET /health.",
    )
    p.add_argument("model_path", metavar="MODEL_PATH", help="reward model directory")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=8081, help="port (default 8081)")
    p.add_argument("--max-batch", type=int, default=64, help="texts per forward pass (default 64)")
    p.add_argument("--max-wait-ms", type=float, default=5.0, help="how long a batch waits to fill (default 5 ms)")
    p.add_argument("--max-length", type=int, default=2048, help="tokens per text; longer ones lose their start")
    p.add_argument("--capacity", type=int, default=4096, help="texts in flight before answering 429 (default 4096)")
    p.add_argument("--keep-thinking", action="store_true", help="score the reasoning too (default: the answer only)")
    p.set_defaults(func=cmd_rm_serve)



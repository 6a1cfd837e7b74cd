"""``rltrain rm serve``: a sequence-classification reward model over HTTP (see docs/stage_two.md)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

logger = logging.getLogger("rltrain.rm")

#: Exit status when SIGTERM's drain timed out and work in flight was abandoned.
EXIT_ABANDONED = 1


def cmd_rm_serve(args: argparse.Namespace) -> int:
    """Serve a reward model over HTTP until SIGTERM/SIGINT; exit 2 for a model or options that cannot serve."""
    from rich.console import Console

    from verifiers.errors import VerifierError
    from verifiers.reward_model import load_reward_model
    from verifiers.reward_model.server import build_service

    console = Console(stderr=True)
    try:
        model = load_reward_model(args.model_path, batch_size=args.max_batch, max_length=args.max_length,
                                  thinking="keep" if args.keep_thinking else "strip")
        service, batcher = build_service(model, host=args.host, port=args.port, max_batch=args.max_batch,
                                         max_wait_ms=args.max_wait_ms, capacity=args.capacity,
                                         model_path=args.model_path, max_batch_tokens=args.max_batch_tokens,
                                         max_texts=args.max_texts, max_chars=args.max_chars)
    except VerifierError as exc:
        console.print(f"rltrain rm serve: {exc}", soft_wrap=True, markup=False, highlight=False)
        return 2
    console.print(f"reward model {args.model_path} on {service.url} (POST /score, /get_reward; GET /health, /metrics)",
                  soft_wrap=True, markup=False, highlight=False)
    drained = service.serve(drain_timeout=args.drain_timeout)
    if not drained:
        # A forward pass cannot be interrupted and nobody waits for its answer: leave without it.
        logger.warning("rm serve: stopped with work in flight after the %s s drain timeout", args.drain_timeout)
        sys.stderr.flush()
        os._exit(EXIT_ABANDONED)
    batcher.close()
    return 0


def add_rm_parser(sub: Any) -> None:
    """Register ``rltrain rm``."""
    from verifiers.reward_model.server import ServerCaps

    p = sub.add_parser("rm", help="reward model tools", description="Reward model tools.")
    rm_sub = p.add_subparsers(dest="rm_command", required=True, metavar="RM_COMMAND")
    p = rm_sub.add_parser(
        "serve", help="serve a reward model over HTTP",
        description="Serve a sequence-classification reward model: POST /score, POST /get_reward (OpenRLHF), "
                    "GET /health. Exit 0 after a clean SIGTERM drain, 1 when the drain timed out, 2 when the "
                    "model (e.g. a checkpoint without a trained score head) or the options cannot serve.",
    )
    p.add_argument("model_path", metavar="MODEL_PATH", help="reward model directory")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=8081, help="port (default 8081)")
    p.add_argument("--max-batch", type=int, default=ServerCaps.max_batch, help="texts per forward pass (default 64)")
    p.add_argument("--max-batch-tokens", type=int, default=None,
                   help=f"padded tokens per forward pass, what bounds memory (default {ServerCaps.max_batch_tokens}, "
                        "or --max-length if larger)")
    p.add_argument("--max-wait-ms", type=float, default=ServerCaps.max_wait_ms,
                   help="how long a batch waits to fill (default 5 ms)")
    p.add_argument("--max-length", type=int, default=2048, help="tokens per text; longer ones lose their start")
    p.add_argument("--max-texts", type=int, default=ServerCaps.max_texts,
                   help=f"texts per request, 413 beyond (default {ServerCaps.max_texts})")
    p.add_argument("--max-chars", type=int, default=ServerCaps.max_chars,
                   help=f"characters per request, 413 beyond (default {ServerCaps.max_chars})")
    p.add_argument("--capacity", type=int, default=4096, help="texts in flight before answering 429 (default 4096)")
    p.add_argument("--drain-timeout", type=float, default=30.0,
                   help="seconds SIGTERM waits for requests in flight before abandoning them and exiting (default 30)")
    p.add_argument("--keep-thinking", action="store_true", help="score the reasoning too (default: the answer only)")
    p.set_defaults(func=cmd_rm_serve)

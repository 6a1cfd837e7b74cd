"""``rltrain init-tiny``: write the built-in tiny model and tokenizer to a directory (nothing downloaded)."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_init_tiny(args: argparse.Namespace) -> int:
    from rltrain.models.tiny import write_tiny
    from rltrain.recipe.schema import TinyModelConfig

    shape = TinyModelConfig(
        hidden_size=args.hidden_size, num_hidden_layers=args.layers, seed=args.seed,
        intermediate_size=2 * args.hidden_size,
    )
    out = write_tiny(args.out_dir, shape)
    print(f"wrote a tiny Qwen2 model and tokenizer to {out}")
    return 0


def add_models_parser(sub: Any) -> None:
    """Register ``rltrain init-tiny``."""
    p = sub.add_parser("init-tiny", help="write a tiny Qwen2 model and tokenizer (no download)", 
                       description="Write a tiny randomly initialised Qwen2-architecture model and a local byte-level "
                                   "tokenizer with a chat template.")
    p.add_argument("out_dir", help="directory to write")
    p.add_argument("--hidden-size", type=int, default=128, help="hidden size (default 128)")
    p.add_argument("--layers", type=int, default=4, help="transformer blocks (default 4)")
    p.add_argument("--seed", type=int, default=0, help="initialisation seed")
    p.set_defaults(func=cmd_init_tiny)

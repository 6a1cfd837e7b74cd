"""The command line's console and logging: rich output on stderr, so stdout carries only results (JSON,
shell assignments, file paths) that scripts read."""

from __future__ import annotations

import logging
import os

SET_HELP = "override a recipe field, e.g. --set grpo.max_steps=10 (value parsed as YAML); repeatable"
"""The help of every command's ``--set``."""


def console():
    """A rich console on stderr."""
    from rich.console import Console

    return Console(stderr=True)


def setup_logging() -> None:
    """INFO from rltrain and verifiers, WARNING from everything else, through rich on stderr."""
    from rich.logging import RichHandler

    logging.basicConfig(level=logging.WARNING, format="%(message)s", handlers=[RichHandler(console=console(), show_path=False)])
    logging.getLogger("rltrain").setLevel(logging.INFO)
    logging.getLogger("verifiers").setLevel(logging.INFO)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

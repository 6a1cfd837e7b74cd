"""Checkpoint discovery: which checkpoint a resumed run starts from.

Checkpoints are the Trainer's ``checkpoint-<step>`` directories (model or DeepSpeed shards, optimizer,
scheduler, per-rank RNG state, ``trainer_state.json``). A checkpoint counts as complete only once
:class:`rltrain.callbacks.CheckpointMarker` has written ``rltrain_complete.json`` into it after all
ranks finished saving; half-written checkpoints from a killed job are never resumed from.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from rltrain.errors import RecipeError

MARKER = "rltrain_complete.json"
_STEP = re.compile(r"^checkpoint-(\d+)$")


def mark_complete(checkpoint: Path, step: int) -> None:
    tmp = checkpoint / (MARKER + ".tmp")
    tmp.write_text(json.dumps({"step": step, "time": time.time()}))
    tmp.replace(checkpoint / MARKER)


def is_complete(checkpoint: Path) -> bool:
    return (checkpoint / MARKER).is_file() and (checkpoint / "trainer_state.json").is_file()


def checkpoint_step(checkpoint: Path) -> int:
    match = _STEP.match(checkpoint.name)
    if not match:
        raise ValueError(f"{checkpoint} is not a checkpoint-<step> directory")
    return int(match.group(1))


def complete_checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoints in ``output_dir``, oldest first."""
    if not output_dir.is_dir():
        return []
    found = [p for p in output_dir.iterdir() if p.is_dir() and _STEP.match(p.name) and is_complete(p)]
    return sorted(found, key=checkpoint_step)


def latest_checkpoint(output_dir: Path) -> Path | None:
    found = complete_checkpoints(output_dir)
    return found[-1] if found else None


def resolve_resume(output_dir: Path, resume: str | bool | None) -> Path | None:
    """Map the ``--resume`` flag to a checkpoint.

    ``None``/``False``: start fresh. ``True`` (bare ``--resume``): the newest complete checkpoint in
    ``output_dir`` if there is one, else start fresh (so a requeued job can always pass it). A path:
    that checkpoint, which must exist and be complete.
    """
    if not resume:
        return None
    if resume is True:
        return latest_checkpoint(output_dir)
    path = Path(resume)
    if not path.is_dir():
        raise RecipeError(f"--resume {resume}: no such checkpoint directory")
    if not is_complete(path):
        raise RecipeError(f"--resume {resume}: checkpoint is incomplete (no {MARKER}); pick an earlier one")
    return path

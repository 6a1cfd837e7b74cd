"""Checkpoints: which one a resumed run starts from, which ones are kept, and what a failed save says.

Checkpoints are the Trainer's ``checkpoint-<step>`` directories (model or DeepSpeed shards, optimizer,
scheduler, per-rank RNG state, ``trainer_state.json``). A checkpoint counts as complete only once
:class:`rltrain.run.callbacks.CheckpointMarker` has written ``rltrain_complete.json`` into it after all
ranks finished saving, and only while its files still match the list that marker holds; half-written
checkpoints from a killed job, and checkpoints whose files were cut short since, are never resumed from.

Rotation (``save_total_limit``) is rltrain's, not the Trainer's: the Trainer deletes old checkpoints
right after writing a new one, before it is marked, so a kill in between would leave nothing to resume
from. :func:`rotate_checkpoints` runs after the marker instead.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rltrain.errors import RecipeError, RunFailed
from rltrain.run.layout import CHECKPOINT_MARKER, CHECKPOINT_PREFIX

logger = logging.getLogger(__name__)

MARKER = CHECKPOINT_MARKER
_STEP = re.compile(rf"^{re.escape(CHECKPOINT_PREFIX)}(\d+)$")
_SHOWN_PROBLEMS = 3


# --- The marker and the file list it holds ---

def file_sizes(checkpoint: Path) -> dict[str, int]:
    """Every file under ``checkpoint`` (its relative POSIX path) with its size in bytes.

    Sizes, not checksums: what a killed job or a full disk leaves behind is a missing or short file,
    which a size shows at the cost of one ``stat`` per file; hashing would read the whole checkpoint
    (hundreds of GB for a 32B model) at every save and again at every resume. Each file is opened
    before its ``stat`` so that shared filesystems (NFS) revalidate sizes written by other nodes.
    """
    sizes = {}
    for path in sorted(checkpoint.rglob("*")):
        name = path.relative_to(checkpoint).as_posix()
        if name in (MARKER, MARKER + ".tmp") or not path.is_file():
            continue
        with path.open("rb") as f:
            sizes[name] = os.fstat(f.fileno()).st_size
    return sizes


def mark_complete(checkpoint: Path, step: int) -> None:
    """Write the marker (atomically) with the list of files the checkpoint holds now."""
    tmp = checkpoint / (MARKER + ".tmp")
    tmp.write_text(json.dumps({"step": step, "time": time.time(), "files": file_sizes(checkpoint)}))
    tmp.replace(checkpoint / MARKER)


def remove_marker(checkpoint: Path) -> bool:
    """Withdraw a checkpoint's marker (before it is written again); whether there was one."""
    try:
        (checkpoint / MARKER).unlink()
    except FileNotFoundError:
        return False
    return True


def checkpoint_problem(checkpoint: Path) -> str | None:
    """Why ``checkpoint`` cannot be resumed from, or ``None`` when it is complete.

    A marker without a ``files`` list was written by an earlier rltrain version: it still counts as
    complete, with only ``trainer_state.json`` checked. Files not in the list are ignored.
    """
    marker = checkpoint / MARKER
    if not marker.is_file():
        return f"no {MARKER} (the save did not finish)"
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError) as exc:
        return f"{MARKER} is unreadable ({exc})"
    if not (checkpoint / "trainer_state.json").is_file():
        return "trainer_state.json is missing"
    files = recorded.get("files") if isinstance(recorded, dict) else None
    if not isinstance(files, dict):
        return None  # an earlier version's marker: no file list to check against
    problems = [p for name, size in files.items() if (p := _file_problem(checkpoint / name, name, size))]
    if len(problems) > _SHOWN_PROBLEMS:
        problems[_SHOWN_PROBLEMS:] = [f"and {len(problems) - _SHOWN_PROBLEMS} more files differ"]
    return "; ".join(problems) or None


def _file_problem(path: Path, name: str, recorded: int) -> str | None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return f"{name} is missing (its marker lists {recorded} bytes)"
    except OSError as exc:
        return f"{name} cannot be read ({exc})"
    if size != recorded:
        return f"{name} is {size} bytes, its marker recorded {recorded}"
    return None


def is_complete(checkpoint: Path) -> bool:
    return checkpoint_problem(checkpoint) is None


# --- Finding checkpoints ---

def checkpoint_step(checkpoint: Path) -> int:
    match = _STEP.match(checkpoint.name)
    if not match:
        raise ValueError(f"{checkpoint} is not a checkpoint-<step> directory")
    return int(match.group(1))


def all_checkpoints(output_dir: Path) -> list[Path]:
    """Every ``checkpoint-<step>`` directory in ``output_dir``, complete or not, oldest step first."""
    if not output_dir.is_dir():
        return []
    found = [p for p in output_dir.iterdir() if p.is_dir() and _STEP.match(p.name)]
    return sorted(found, key=checkpoint_step)


def complete_checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoints in ``output_dir``, oldest first."""
    return [p for p in all_checkpoints(output_dir) if is_complete(p)]


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete checkpoint; a newer marked one that fails its check is skipped with a
    warning naming the file at fault and the checkpoint used instead."""
    rejected: list[tuple[Path, str]] = []
    chosen = None
    for checkpoint in reversed(all_checkpoints(output_dir)):
        problem = checkpoint_problem(checkpoint)
        if problem is None:
            chosen = checkpoint
            break
        if (checkpoint / MARKER).is_file():  # unmarked ones are ordinary interrupted saves: no warning
            rejected.append((checkpoint, problem))
    instead = f"resuming from {chosen.name} instead" if chosen else "no earlier complete one: starting from scratch"
    for checkpoint, problem in rejected:
        logger.warning("%s is marked complete but fails its check: %s; %s", checkpoint, problem, instead)
    return chosen


def resolve_resume(output_dir: Path, resume: str | bool | None) -> Path | None:
    """Map the ``--resume`` flag to a checkpoint.

    ``None``/``False``: start fresh. ``True`` (bare ``--resume``): the newest complete checkpoint in
    ``output_dir`` if there is one, else start fresh (so a requeued job can always pass it). A path:
    that checkpoint, which must exist and be complete (a RecipeError names what is wrong).
    """
    if not resume:
        return None
    if resume is True:
        return latest_checkpoint(output_dir)
    path = Path(resume)
    if not path.is_dir():
        raise RecipeError(f"--resume {resume}: no such checkpoint directory")
    problem = checkpoint_problem(path)
    if problem is not None:
        raise RecipeError(f"--resume {resume}: checkpoint is incomplete: {problem}; pick an earlier one")
    return path


def check_adapter_checkpoint(checkpoint: Path, *, adapters: bool) -> None:
    """Refuse to resume a full fine-tune from a LoRA checkpoint or the reverse (a ``peft`` section added
    or removed since): the checkpoint holds the other kind of weights and optimizer state, which the
    Trainer would half load. A RecipeError names the checkpoint and what to do."""
    holds_adapter = (checkpoint / "adapter_config.json").is_file()
    if adapters == holds_adapter:
        return
    if adapters:
        raise RecipeError(f"resume: {checkpoint} is a full fine-tune's checkpoint but the recipe trains adapters "
                          "(peft); remove the peft section to continue it, or start afresh in another output_dir")
    raise RecipeError(f"resume: {checkpoint} holds LoRA adapters but the recipe has no peft section; restore the "
                      "recipe's peft section to continue it, or start afresh in another output_dir")


# --- Rotation ---

def rotate_checkpoints(
    output_dir: Path, limit: int | None, saved: Path, protected: Iterable[Path | str] = ()
) -> list[Path]:
    """Delete checkpoints beyond ``limit`` once ``saved`` has been marked complete; the deleted ones.

    The Trainer's rule for ``save_total_limit``, applied to complete checkpoints only: the oldest go
    first, ``saved`` (the one just marked) and ``protected`` ones (the best checkpoint under
    ``load_best_model_at_end``) are kept even if that means keeping more than ``limit``. Incomplete
    checkpoints older than ``saved`` are leftovers of killed saves and go too; newer ones are left
    alone (the Trainer will write over them). ``limit`` ``None`` or below 1 keeps everything, as in
    the Trainer. The Trainer's pruning at the end of training down to the best checkpoint alone
    (``save_total_limit: 1`` with ``load_best_model_at_end``) is not reproduced: the newest checkpoint
    is what a requeued run resumes from.
    """
    if limit is None or limit <= 0:
        return []
    keep = {saved.resolve(), *(Path(p).resolve() for p in protected)}
    step = checkpoint_step(saved)
    complete, stale = [], []
    for checkpoint in all_checkpoints(output_dir):
        if is_complete(checkpoint):
            complete.append(checkpoint)
        elif checkpoint_step(checkpoint) < step:
            stale.append(checkpoint)
    doomed = list(stale)
    remaining = len(complete)
    for checkpoint in complete:
        if remaining <= max(limit, len(keep)):
            break
        if checkpoint.resolve() not in keep:
            doomed.append(checkpoint)
            remaining -= 1
    for checkpoint in doomed:
        logger.info("deleting %s (save_total_limit %d)", checkpoint, limit)
        shutil.rmtree(checkpoint, ignore_errors=True)
    return doomed


# --- A full disk while saving ---

class CheckpointWriteError(RunFailed):
    """Saving failed for lack of space (or another write failure of torch's C++ writer).

    A subclass of the package's error so that the CLI prints it as one message, not a C++ trace; the
    recipe is not at fault, so the exit status is 1.
    """


LOW_SPACE_BYTES = 1 << 30
"""Below this much free space, a write failure without a cause is reported as a full disk."""

_NO_SPACE = ("no space left on device", "os error 28", "storagefull", "disk quota exceeded", "os error 122")
_OPAQUE_WRITE = ("pytorchstreamwriter failed writing file", "iostream error", "unexpected pos")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _free_bytes(path: Path) -> tuple[Path, int | None]:
    """The nearest existing ancestor of ``path`` and the bytes free to us on its filesystem."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        return existing, shutil.disk_usage(existing).free
    except OSError:
        return existing, None


def write_failure(exc: BaseException, target: Path) -> str | None:
    """The one-line explanation of ``exc`` if it is a failed write (a full disk, a quota, torch's
    cause-less ``iostream error``); ``None`` for anything else."""
    full = opaque = None
    for link in _chain(exc):
        text = str(link).lower()
        if isinstance(link, OSError) and link.errno in (errno.ENOSPC, errno.EDQUOT):
            full = os.strerror(link.errno)
        elif any(s in text for s in _NO_SPACE):
            quota = "quota" in text or "os error 122" in text
            full = os.strerror(errno.EDQUOT if quota else errno.ENOSPC)
        elif any(s in text for s in _OPAQUE_WRITE):
            opaque = str(link).strip()
    if full is None and opaque is None:
        return None
    where, free = _free_bytes(target)
    free_text = f"{free} bytes free on the filesystem of {where}" if free is not None else f"free space at {where} unknown"
    if full is None and (free is None or free >= LOW_SPACE_BYTES):
        return (f"could not save {target}: a write failed without a cause ({opaque}); {free_text}, so a disk "
                "quota or an I/O error of that filesystem is likely")
    cause = full or os.strerror(errno.ENOSPC)
    return (f"could not save {target}: {cause} ({free_text}); free some space or move output_dir, then run "
            "again with --resume (the newest complete checkpoint is intact)")


@contextmanager
def write_errors(target: Callable[[], Path]) -> Iterator[None]:
    """Turn a failed write inside the block into a :class:`CheckpointWriteError` naming ``target()``
    (evaluated on failure: the checkpoint being saved) and the cause; other errors pass unchanged."""
    try:
        yield
    except Exception as exc:
        destination = target()
        message = write_failure(exc, destination)
        if message is None:
            raise
        raise CheckpointWriteError(message) from exc

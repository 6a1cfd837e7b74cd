"""Trainer callbacks: metrics.jsonl, graceful stop on SIGTERM/SIGUSR1, complete-checkpoint markers."""

from __future__ import annotations

import json
import logging
import math
import signal
import threading
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from rltrain.run.checkpoints import mark_complete, remove_marker, rotate_checkpoints
from rltrain.run.layout import RunLayout, read_jsonl

logger = logging.getLogger(__name__)


def _is_main(state) -> bool:
    return bool(state.is_world_process_zero)


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


class MetricsLogger(TrainerCallback):
    """Appends one JSON object per logging step to ``metrics.jsonl`` (main process only).

    Keys are TRL's (``reward``, ``rewards/<name>/mean``, ``loss``...) plus ``step``, ``epoch`` and
    ``time`` (seconds since training began in this process). On resume, lines from steps after the
    checkpoint (and a last line cut short by a killed job) are dropped first, so the file never holds
    a step twice.
    """

    def __init__(self, path: Path):
        self.path = path
        self.start = time.monotonic()
        self.first: dict[str, Any] | None = None
        self.last: dict[str, Any] | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.monotonic()
        if _is_main(state) and self.path.exists():
            records = read_jsonl(self.path).records
            kept = [r for r in records if r.get("step", math.inf) <= state.global_step]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
            if kept:
                self.first, self.last = kept[0], kept[-1]

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not _is_main(state) or not logs or "train_runtime" in logs:  # the last is the run's aggregate
            return
        record = {"step": state.global_step, "epoch": state.epoch, "time": round(time.monotonic() - self.start, 3)}
        record.update({k: v for k, v in logs.items() if isinstance(v, (int, float)) and not math.isnan(float(v))})
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.first is None:
            self.first = record
        self.last = record


class GracefulStop(TrainerCallback):
    """On SIGTERM or SIGUSR1, finish the current step, save a checkpoint and stop training.

    The request is agreed across ranks at the end of every step (a max all-reduce of one flag), so
    every process stops at the same step even when the signal reaches them at different times; this
    costs one tiny collective per step. Handlers can only be installed from the main thread; elsewhere
    the callback warns and does nothing.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self) -> None:
        self.requested: int | None = None
        self.stopped_at: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum, frame) -> None:
        if self.requested is None:
            logger.warning("received %s: saving a checkpoint after this step, then stopping", signal.Signals(signum).name)
        self.requested = signum

    def on_train_begin(self, args, state, control, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            logger.warning("training runs outside the main thread: SIGTERM/SIGUSR1 will not save a checkpoint")
            return
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handler)

    def on_step_end(self, args, state, control, **kwargs):
        if self._agreed():
            self.stopped_at = state.global_step
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_train_end(self, args, state, control, **kwargs):
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def _agreed(self) -> bool:
        import torch
        import torch.distributed as dist

        local = 1 if self.requested is not None else 0
        if not (dist.is_available() and dist.is_initialized()):
            return bool(local)
        device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
        flag = torch.tensor([local], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())


class CheckpointMarker(TrainerCallback):
    """After every rank has written its part of a checkpoint, mark it complete, then rotate.

    Resume only ever picks a marked checkpoint whose files still match the marker, so a job killed
    mid-save restarts from the previous one. The marker and the deletions are written by the processes
    the Trainer lets save (``args.should_save``: the world's first rank, or each node's with
    ``save_on_each_node``), after a barrier; the Trainer itself is given no ``save_total_limit`` (see
    :func:`rltrain.run.trainer.trl_config`), so nothing older is deleted before the new checkpoint is marked.
    Under ZeRO-3 the barrier also waits for every rank's ``global_step*/`` shards.
    """

    def __init__(self, save_total_limit: int | None = None) -> None:
        self.save_total_limit = save_total_limit
        # The checkpoint being written, from the step end that asks for it until its marker: what a
        # failed write names (rltrain.run.checkpoints.write_errors).
        self.saving: Path | None = None

    def on_step_end(self, args, state, control, **kwargs):
        if not control.should_save:
            return
        self.saving = RunLayout.of(args.output_dir).checkpoint(state.global_step)
        # A marker left from an earlier attempt must not vouch for files about to be rewritten.
        if args.should_save and remove_marker(self.saving):
            logger.info("%s is written again: its old marker is withdrawn first", self.saving)
        _barrier()

    def on_save(self, args, state, control, **kwargs):
        checkpoint = RunLayout.of(args.output_dir).checkpoint(state.global_step)
        self.saving = checkpoint
        _barrier()
        if args.should_save:
            mark_complete(checkpoint, state.global_step)
            best = [state.best_model_checkpoint] if getattr(state, "best_model_checkpoint", None) else []
            rotate_checkpoints(Path(args.output_dir), self.save_total_limit, checkpoint, protected=best)
        self.saving = None

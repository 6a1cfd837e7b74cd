"""The files of a run folder, named once, and the one reader of its JSON-lines files.

A stage's ``output_dir`` is read by the trainer (resume), the stage and pipeline (skip what is done),
the SLURM plan and the run report, and written by ranks that may be killed at any moment. Naming each
file here keeps writers and readers agreeing; :func:`read_jsonl` is how every one of them reads
``metrics.jsonl``, because a job killed while appending leaves a last line cut short, and that must cost
one line and a warning rather than the whole history.

Layout of a stage::

    <output_dir>/
      recipe.yaml                the resolved recipe (written before training: the stage has started)
      metrics.jsonl              one JSON object per logging step
      checkpoint-<step>/         the Trainer's checkpoints, complete once rltrain_complete.json is in them
      final/                     the trained weights (Hugging Face format; with adapters: merged, and
                                 final/adapter/ the adapter alone)
      start/                     with model.adapter set: the base with that adapter merged, which the
                                 ranks load (start.node<R>/ on node R); rltrain_start.json names both
      train_result.json          the head node's first rank's result (train_result.node<R>.json on node R)
      summary.json               evaluations before/after, counts, resume origin (the stage is done when
                                 it says "completed")
      eval.json                  what `rltrain eval` writes by default
      benchmarks/before|after/   eval.benchmarks' evaluation directories (samples.jsonl, results.json)
      report/                    what `rltrain report` writes by default

A pipeline's ``output_dir`` holds one such folder per stage and ``pipeline_summary.json``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

RECIPE_FILE = "recipe.yaml"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
TRAIN_RESULT_FILE = "train_result.json"
FINAL_DIR = "final"
CHECKPOINT_PREFIX = "checkpoint-"
CHECKPOINT_MARKER = "rltrain_complete.json"
EVAL_FILE = "eval.json"
BENCHMARKS_DIR = "benchmarks"
REPORT_DIR = "report"
START_DIR = "start"
PIPELINE_SUMMARY_FILE = "pipeline_summary.json"


@dataclass(frozen=True)
class RunLayout:
    """The paths of one stage's output folder (``root``), or of a pipeline's (then :meth:`stage` gives each
    stage's layout)."""

    root: Path

    @classmethod
    def of(cls, output_dir: str | Path) -> RunLayout:
        return cls(Path(output_dir))

    @property
    def recipe(self) -> Path:
        return self.root / RECIPE_FILE

    @property
    def metrics(self) -> Path:
        return self.root / METRICS_FILE

    @property
    def summary(self) -> Path:
        return self.root / SUMMARY_FILE

    @property
    def final(self) -> Path:
        return self.root / FINAL_DIR

    @property
    def eval(self) -> Path:
        return self.root / EVAL_FILE

    @property
    def benchmarks(self) -> Path:
        return self.root / BENCHMARKS_DIR

    @property
    def report(self) -> Path:
        return self.root / REPORT_DIR

    @property
    def pipeline_summary(self) -> Path:
        return self.root / PIPELINE_SUMMARY_FILE

    def train_result(self, machine_rank: int = 0) -> Path:
        """Where a node's first rank writes its train result: ``train_result.json`` on the head (machine
        rank 0), ``train_result.node<R>.json`` on the other nodes of a multi-node run."""
        if machine_rank == 0:
            return self.root / TRAIN_RESULT_FILE
        return self.root / f"train_result.node{machine_rank}.json"

    def start(self, machine_rank: int = 0) -> Path:
        """Where the starting weights (``model.name_or_path`` + ``model.adapter`` merged) are written for
        the ranks of node ``machine_rank`` to load: each node its own, so no two nodes write one file."""
        return self.root / (START_DIR if machine_rank == 0 else f"{START_DIR}.node{machine_rank}")

    def checkpoint(self, step: int) -> Path:
        return self.root / f"{CHECKPOINT_PREFIX}{step}"

    def stage(self, name: str) -> RunLayout:
        """The layout of a pipeline's stage ``name``."""
        return RunLayout(self.root / name)


@dataclass
class JsonlRecords:
    """What :func:`read_jsonl` found: the JSON objects in file order, and the 1-based numbers of the
    non-blank lines it skipped."""

    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)


def read_jsonl(path: Path) -> JsonlRecords:
    """The JSON objects of a JSON-lines file written by a run, tolerating what a killed job leaves.

    A line that is not a JSON object is skipped with a warning naming the file and the line (the last
    one is called a truncated last line: a job killed while appending leaves exactly that); invalid
    UTF-8 is replaced rather than raised. Blank lines are ignored. A missing file reads as empty.
    """
    found = JsonlRecords()
    if not path.is_file():
        return found
    lines = path.read_text(errors="replace").splitlines()
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            found.skipped.append(i + 1)
            what = "truncated last line" if i == last else "unreadable line"
            logger.warning("%s: skipped %s %d (not a JSON object; a run killed while writing leaves one)",
                           path, what, i + 1)
            continue
        found.records.append(record)
    return found

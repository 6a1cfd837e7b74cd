"""The run folder's file names, declared once, and the one tolerant reader of its JSON-lines files."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from rltrain.errors import RecipeError
from rltrain.recipe import recipe_from_dict
from rltrain.run.layout import RunLayout, read_jsonl


def test_layout_names_every_file_of_a_stage(tmp_path):
    layout = RunLayout.of(tmp_path)
    assert layout.metrics == tmp_path / "metrics.jsonl" and layout.summary == tmp_path / "summary.json"
    assert layout.recipe == tmp_path / "recipe.yaml" and layout.final == tmp_path / "final"
    assert layout.train_result() == tmp_path / "train_result.json"
    assert layout.train_result(2) == tmp_path / "train_result.node2.json"
    assert layout.checkpoint(40) == tmp_path / "checkpoint-40"
    assert layout.start() == tmp_path / "start" and layout.start(3) == tmp_path / "start.node3"
    assert layout.stage("sft").final == tmp_path / "sft" / "final"
    assert layout.pipeline_summary == tmp_path / "pipeline_summary.json"


def test_writers_and_readers_use_the_layout(tmp_path):
    from rltrain.run.checkpoints import checkpoint_step, mark_complete
    from rltrain.run.trainer import train_result_path

    layout = RunLayout.of(tmp_path)
    assert train_result_path(tmp_path, 1) == layout.train_result(1)
    checkpoint = layout.checkpoint(7)
    checkpoint.mkdir()
    mark_complete(checkpoint, 7)
    assert (checkpoint / "rltrain_complete.json").is_file() and checkpoint_step(checkpoint) == 7


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines).rstrip("\n"))
    return path


def test_a_last_line_cut_short_is_dropped_with_a_warning(tmp_path, caplog):
    path = write_lines(tmp_path / "metrics.jsonl", '{"step": 1}', "", '{"step": 2}', '{"step": 3, "rew')
    with caplog.at_level(logging.WARNING, logger="rltrain.run.layout"):
        found = read_jsonl(path)
    assert [r["step"] for r in found.records] == [1, 2]
    assert found.skipped == [4]
    assert "truncated last line 4" in caplog.text and str(path) in caplog.text


def test_lines_that_are_not_objects_and_bad_bytes_are_skipped_not_raised(tmp_path, caplog):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'[1, 2]\n{"step": 1}\n{"step": 2, "note": "\xff\xfe"}\nnull\n{"step": 3}\n')
    with caplog.at_level(logging.WARNING, logger="rltrain.run.layout"):
        found = read_jsonl(path)
    assert [r["step"] for r in found.records] == [1, 2, 3]
    assert found.skipped == [1, 4] and "unreadable line 1" in caplog.text


def test_a_missing_file_reads_as_empty(tmp_path):
    found = read_jsonl(tmp_path / "absent.jsonl")
    assert found.records == [] and found.skipped == []


def test_metrics_logger_resumes_through_the_same_reader(tmp_path, caplog):
    from rltrain.run.callbacks import MetricsLogger

    path = write_lines(tmp_path / "metrics.jsonl", '{"step": 1}', '{"step": 2}', '{"step": 3}', '{"step": 4, "lo')
    logger = MetricsLogger(path)
    state = SimpleNamespace(is_world_process_zero=True, global_step=2)
    with caplog.at_level(logging.WARNING, logger="rltrain.run.layout"):
        logger.on_train_begin(None, state, None)
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2]
    assert logger.first == {"step": 1} and logger.last == {"step": 2}
    assert "truncated last line 4" in caplog.text


def recipe(tmp_path: Path, model: str) -> dict:
    return {"model": {"name_or_path": model}, "data": {"source": "synthetic:arithmetic"},
            "rewards": [{"name": "math_accuracy"}], "output_dir": str(tmp_path / "out")}


def test_a_pending_model_keeps_its_path_and_is_not_looked_for(tmp_path):
    final = tmp_path / "pipe" / "sft" / "final"
    checked = recipe_from_dict(recipe(tmp_path, str(final)), base_dir=tmp_path,
                               pending_model="the final weights of stage sft")
    assert checked.model.name_or_path == str(final)
    with pytest.raises(RecipeError, match=r"model.name_or_path: directory not found: .*sft/final"):
        recipe_from_dict(recipe(tmp_path, str(final)), base_dir=tmp_path)


def test_a_pipeline_stage_from_the_previous_stage_validates_without_a_stand_in(tmp_path):
    """The stage's recipe is validated with its real model path; only that path's existence is deferred."""
    from rltrain.run.pipeline import load_pipeline

    (tmp_path / "stage.yaml").write_text(json.dumps(recipe(tmp_path, "tiny")))
    (tmp_path / "pipeline.yaml").write_text(json.dumps({
        "output_dir": str(tmp_path / "pipe"),
        "stages": [{"name": "one", "recipe": "stage.yaml"},
                   {"name": "two", "recipe": "stage.yaml", "set": {"model.rope_scaling": {"rope_type": "yarn", "factor": 2.0}}}],
    }))
    _, recipes = load_pipeline(tmp_path / "pipeline.yaml")
    assert recipes[0].model.is_tiny
    assert recipes[1].model.name_or_path == str((tmp_path / "pipe" / "one" / "final").resolve())
    assert recipes[1].model.rope_scaling == {"rope_type": "yarn", "factor": 2.0}

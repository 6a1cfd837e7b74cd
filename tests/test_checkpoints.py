"""Resume picks only complete checkpoints."""

import json

import pytest

from rltrain.checkpoints import latest_checkpoint, mark_complete, resolve_resume
from rltrain.errors import RecipeError


def make(out, step, complete=True):
    ckpt = out / f"checkpoint-{step}"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    if complete:
        mark_complete(ckpt, step)
    return ckpt


def test_newest_complete_checkpoint_wins_over_a_half_written_one(tmp_path):
    make(tmp_path, 5)
    ten = make(tmp_path, 10)
    make(tmp_path, 15, complete=False)  # killed while saving
    assert latest_checkpoint(tmp_path) == ten
    assert resolve_resume(tmp_path, True) == ten


def test_numeric_not_lexical_order(tmp_path):
    make(tmp_path, 9)
    hundred = make(tmp_path, 100)
    assert latest_checkpoint(tmp_path) == hundred


def test_bare_resume_without_checkpoints_starts_fresh(tmp_path):
    assert resolve_resume(tmp_path, True) is None
    assert resolve_resume(tmp_path, None) is None


def test_explicit_resume_must_be_complete(tmp_path):
    half = make(tmp_path, 3, complete=False)
    with pytest.raises(RecipeError, match="incomplete"):
        resolve_resume(tmp_path, str(half))
    with pytest.raises(RecipeError, match="no such checkpoint"):
        resolve_resume(tmp_path, str(tmp_path / "checkpoint-99"))


def test_metrics_log_on_resume_drops_later_steps_and_a_line_cut_short(tmp_path):
    from types import SimpleNamespace

    from rltrain.callbacks import MetricsLogger

    path = tmp_path / "metrics.jsonl"
    lines = [json.dumps({"step": s, "reward": s / 10}) for s in (5, 10, 15)]
    path.write_text("\n".join(lines) + '\n{"step": 20, "rew')  # a job killed mid-write
    logger = MetricsLogger(path)
    logger.on_train_begin(None, SimpleNamespace(is_world_process_zero=True, global_step=10), None)
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [5, 10]
    assert logger.first["step"] == 5 and logger.last["step"] == 10

"""Resume picks only complete checkpoints."""

import json

import pytest

from rltrain.errors import RecipeError
from rltrain.run.checkpoints import latest_checkpoint, mark_complete, resolve_resume


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

    from rltrain.run.callbacks import MetricsLogger

    path = tmp_path / "metrics.jsonl"
    lines = [json.dumps({"step": s, "reward": s / 10}) for s in (5, 10, 15)]
    path.write_text("\n".join(lines) + '\n{"step": 20, "rew')  # a job killed mid-write
    logger = MetricsLogger(path)
    logger.on_train_begin(None, SimpleNamespace(is_world_process_zero=True, global_step=10), None)
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [5, 10]
    assert logger.first["step"] == 5 and logger.last["step"] == 10


# --- What a marker records, and what resume does with a checkpoint that no longer matches it ---

def make_with_files(out, step, files=None, complete=True):
    """A checkpoint with a few files of known sizes (a DeepSpeed-style shard in a subfolder)."""
    ckpt = make(out, step, complete=False)
    for name, size in (files or {"model.safetensors": 300, "optimizer.pt": 200,
                                  f"global_step{step}/zero_pp_rank_0_model_states.pt": 100}).items():
        (ckpt / name).parent.mkdir(parents=True, exist_ok=True)
        (ckpt / name).write_bytes(b"x" * size)
    if complete:
        mark_complete(ckpt, step)
    return ckpt


def truncate(path, size):
    with path.open("r+b") as f:
        f.truncate(size)


def test_the_marker_lists_every_file_with_its_size(tmp_path):
    ckpt = make_with_files(tmp_path, 4)
    marker = json.loads((ckpt / "rltrain_complete.json").read_text())
    assert marker["step"] == 4
    assert marker["files"] == {"model.safetensors": 300, "optimizer.pt": 200,
                               "trainer_state.json": (ckpt / "trainer_state.json").stat().st_size,
                               "global_step4/zero_pp_rank_0_model_states.pt": 100}


def test_a_truncated_or_missing_file_fails_the_check_naming_the_file(tmp_path):
    from rltrain.run.checkpoints import checkpoint_problem

    ckpt = make_with_files(tmp_path, 4)
    assert checkpoint_problem(ckpt) is None
    truncate(ckpt / "global_step4" / "zero_pp_rank_0_model_states.pt", 10)
    problem = checkpoint_problem(ckpt)
    assert "global_step4/zero_pp_rank_0_model_states.pt" in problem and "10" in problem and "100" in problem
    (ckpt / "optimizer.pt").unlink()
    assert "optimizer.pt" in checkpoint_problem(ckpt)


def test_bare_resume_skips_a_corrupt_newest_checkpoint_with_a_warning(tmp_path, caplog):
    two = make_with_files(tmp_path, 2)
    four = make_with_files(tmp_path, 4)
    truncate(four / "model.safetensors", 0)
    with caplog.at_level("WARNING", logger="rltrain"):
        assert resolve_resume(tmp_path, True) == two
    warning = caplog.records[-1].getMessage()
    assert "checkpoint-4" in warning and "model.safetensors" in warning and "checkpoint-2" in warning


def test_bare_resume_with_only_corrupt_checkpoints_starts_fresh_and_says_so(tmp_path, caplog):
    four = make_with_files(tmp_path, 4)
    (four / "optimizer.pt").unlink()
    with caplog.at_level("WARNING", logger="rltrain"):
        assert resolve_resume(tmp_path, True) is None
    assert "optimizer.pt" in caplog.text and "from scratch" in caplog.text


def test_explicit_resume_of_a_corrupt_checkpoint_names_the_file(tmp_path):
    four = make_with_files(tmp_path, 4)
    truncate(four / "model.safetensors", 7)
    with pytest.raises(RecipeError, match=r"checkpoint-4.*model\.safetensors"):
        resolve_resume(tmp_path, str(four))


def test_a_marker_without_a_file_list_still_counts_as_complete(tmp_path):
    ckpt = make_with_files(tmp_path, 3, complete=False)
    (ckpt / "rltrain_complete.json").write_text(json.dumps({"step": 3, "time": 0.0}))  # earlier versions
    assert resolve_resume(tmp_path, True) == ckpt


# --- Rotation: rltrain's own, after the marker ---

def test_rotation_keeps_the_newest_complete_and_drops_older_and_half_written_ones(tmp_path):
    from rltrain.run.checkpoints import rotate_checkpoints

    make(tmp_path, 2)
    make(tmp_path, 3, complete=False)  # killed mid-save in an earlier attempt
    make(tmp_path, 4)
    six = make(tmp_path, 6)
    make(tmp_path, 8, complete=False)  # newer than the newest complete one: left alone
    deleted = rotate_checkpoints(tmp_path, limit=1, saved=six)
    assert sorted(p.name for p in deleted) == ["checkpoint-2", "checkpoint-3", "checkpoint-4"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-6", "checkpoint-8"]


def test_rotation_keeps_the_best_checkpoint_and_never_the_just_saved_one(tmp_path):
    from rltrain.run.checkpoints import rotate_checkpoints

    best = make(tmp_path, 2)
    make(tmp_path, 4)
    six = make(tmp_path, 6)
    make(tmp_path, 9)  # from a run that was later resumed from an earlier checkpoint
    rotate_checkpoints(tmp_path, limit=2, saved=six, protected=[best])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2", "checkpoint-6"]
    rotate_checkpoints(tmp_path, limit=None, saved=six)  # no limit: nothing deleted
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2", "checkpoint-6"]


def _hook_arguments(out, step, should_save=True):
    from types import SimpleNamespace

    args = SimpleNamespace(output_dir=str(out), should_save=True)
    state = SimpleNamespace(global_step=step, is_world_process_zero=True, best_model_checkpoint=None)
    control = SimpleNamespace(should_save=should_save)
    return args, state, control


def test_the_marker_hook_marks_then_rotates_to_the_limit(tmp_path):
    from rltrain.run.callbacks import CheckpointMarker

    make(tmp_path, 2)
    four = make_with_files(tmp_path, 4, complete=False)  # what the Trainer just wrote
    hook = CheckpointMarker(save_total_limit=1)
    hook.on_step_end(*_hook_arguments(tmp_path, 4))
    assert hook.saving == four
    hook.on_save(*_hook_arguments(tmp_path, 4))
    assert latest_checkpoint(tmp_path) == four and [p.name for p in tmp_path.iterdir()] == ["checkpoint-4"]
    assert hook.saving is None


def test_a_stale_marker_is_removed_before_its_checkpoint_is_written_again(tmp_path):
    """A run resumed from checkpoint-2 while a marked checkpoint-4 of an earlier attempt exists writes
    checkpoint-4 again; killed halfway, the old marker must not vouch for the new, partial files."""
    from rltrain.run.callbacks import CheckpointMarker

    make(tmp_path, 2)
    four = make(tmp_path, 4)
    hook = CheckpointMarker(save_total_limit=2)
    hook.on_step_end(*_hook_arguments(tmp_path, 3, should_save=False))
    assert (four / "rltrain_complete.json").is_file()
    hook.on_step_end(*_hook_arguments(tmp_path, 4))
    assert not (four / "rltrain_complete.json").exists()


def test_the_trainer_itself_never_rotates(tmp_path):
    """The Trainer deletes old checkpoints right after writing a new one, before rltrain marks it
    complete; rltrain rotates after the marker instead, with the recipe's limit."""
    from rltrain.recipe import recipe_from_dict
    from rltrain.run.trainer import trl_config

    recipe = recipe_from_dict({"stage": "sft", "model": {"name_or_path": "tiny"}, "output_dir": str(tmp_path),
                               "data": {"source": "synthetic:arithmetic", "completion_column": "solution"},
                               "sft": {"save_total_limit": 3}})
    assert trl_config(recipe).save_total_limit is None
    assert recipe.trl_options()["save_total_limit"] == 3


# --- A full disk while saving ---

DISK_FULL = [
    OSError(28, "No space left on device"),
    RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file data/0: "
                 "file write failed"),
    RuntimeError("basic_ios::clear: iostream error"),
    RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"),  # seen on a full tmpfs
    Exception("Error while serializing: I/O error: No space left on device (os error 28)"),  # safetensors
]


@pytest.mark.parametrize("raised", DISK_FULL,
                         ids=["oserror", "stream_writer", "iostream", "unexpected_pos", "safetensors"])
def test_a_full_disk_becomes_one_error_naming_the_checkpoint(tmp_path, monkeypatch, raised):
    import shutil

    from rltrain.run.checkpoints import CheckpointWriteError, write_errors

    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(100, 100, 0))
    target = tmp_path / "checkpoint-7"
    with pytest.raises(CheckpointWriteError) as caught:
        with write_errors(lambda: target):
            raise raised
    message = str(caught.value)
    assert str(target) in message and "No space left on device" in message and "0 bytes free" in message
    assert caught.value.exit_status == 1


def test_a_stream_writer_failure_with_space_left_does_not_claim_a_full_disk(tmp_path):
    from rltrain.run.checkpoints import CheckpointWriteError, write_errors

    with pytest.raises(CheckpointWriteError) as caught:  # tmp_path has space: quota, or an I/O error
        with write_errors(lambda: tmp_path / "checkpoint-7"):
            raise RuntimeError("basic_ios::clear: iostream error")
    assert "No space left" not in str(caught.value) and "bytes free" in str(caught.value)


def test_other_errors_pass_through_unchanged(tmp_path):
    from rltrain.run.checkpoints import write_errors

    with pytest.raises(RuntimeError, match="CUDA out of memory"):
        with write_errors(lambda: tmp_path):
            raise RuntimeError("CUDA out of memory")

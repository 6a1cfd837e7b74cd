"""Multi-node placement, recipe environment references and stop signals outside training (fast)."""

import json
import os
import signal
from pathlib import Path

import pytest
import yaml

from rltrain.cli.app import _stoppable
from rltrain.errors import RecipeError
from rltrain.recipe import expand_env, load_recipe
from rltrain.run import distributed
from rltrain.run.distributed import NodePlacement, launch_command, needs_launcher
from rltrain.run.pipeline import run_pipeline, stage_status
from rltrain.run.stage import finished_training
from rltrain.run.trainer import EXIT_INTERRUPTED, TrainResult, train_result_path

REPO = Path(__file__).resolve().parents[1]


def test_placement_is_validated():
    assert NodePlacement().is_head and not NodePlacement().multi_node
    with pytest.raises(ValueError, match="--main-process-ip"):
        NodePlacement(num_machines=2, machine_rank=1)
    with pytest.raises(ValueError, match="0..1"):
        NodePlacement(num_machines=2, machine_rank=2, main_process_ip="head")
    with pytest.raises(ValueError, match="at least 1"):
        NodePlacement(num_machines=0)


def test_multi_node_launch_command_parses_with_accelerate(monkeypatch):
    from accelerate.commands.launch import launch_command_parser

    monkeypatch.setattr(distributed, "has_gpu", lambda: False)
    placement = NodePlacement(num_machines=3, machine_rank=2, main_process_ip="node-a", rendezvous_timeout=99)
    cmd = launch_command("zero3", 8, ["train", "r.yaml"], main_process_port=29400, placement=placement)
    args = launch_command_parser().parse_args(cmd[3:])
    assert args.num_processes == 24 and args.num_machines == 3 and args.machine_rank == 2
    assert args.main_process_ip == "node-a" and args.main_process_port == 29400
    assert args.rdzv_conf == "timeout=99"
    with pytest.raises(ValueError, match="fixed rendezvous port"):
        launch_command("zero3", 8, ["train", "r.yaml"], placement=placement)
    assert needs_launcher("single", 1, NodePlacement(num_machines=2, main_process_ip="a")) is True


def test_env_references_expand_with_defaults_and_name_the_field(monkeypatch):
    env = {"URL": "http://sandbox:8600"}
    raw = {"rewards": [{"params": {"server_url": "${URL}", "other": "${MISSING:-}", "price": "$$5 at ${URL}"}}]}
    out = expand_env(raw, source="r.yaml", environ=env)
    assert out["rewards"][0]["params"] == {"server_url": "http://sandbox:8600", "other": "",
                                           "price": "$5 at http://sandbox:8600"}
    with pytest.raises(RecipeError, match=r"r.yaml: rewards.0.params.x: environment variable NOPE is not set"):
        expand_env({"rewards": [{"params": {"x": "${NOPE}"}}]}, source="r.yaml", environ=env)


def test_recipe_files_expand_references_at_load(tmp_path, monkeypatch):
    recipe = yaml.safe_load((REPO / "recipes/smoke/stage1.yaml").read_text())
    recipe["model"]["name_or_path"] = "tiny"
    recipe["eval"].pop("retention")  # names a file beside the original
    recipe["output_dir"] = "${RUN_ROOT}/stage1"
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    monkeypatch.setenv("RUN_ROOT", str(tmp_path / "runs"))
    assert load_recipe(path).output_dir == f"{tmp_path}/runs/stage1"
    monkeypatch.delenv("RUN_ROOT")
    with pytest.raises(RecipeError, match="output_dir: environment variable RUN_ROOT"):
        load_recipe(path)


def _result(out: Path, *, interrupted: bool, final: bool) -> TrainResult:
    final_dir = out / "final"
    if final:
        final_dir.mkdir(parents=True, exist_ok=True)
    return TrainResult(output_dir=str(out), global_step=4, interrupted=interrupted, resumed_from=None,
                       final_dir=str(final_dir) if final else None, train_seconds=1.0, first_log=None,
                       last_log=None, rewards={})


def test_finished_training_is_per_node_and_needs_the_final_weights(tmp_path):
    from dataclasses import asdict

    recipe = load_recipe(REPO / "recipes/smoke/stage1.yaml",
                         ["model.name_or_path=tiny", f"output_dir={tmp_path}", "grpo.max_steps=4"])
    worker = NodePlacement(num_machines=2, machine_rank=1, main_process_ip="head")
    assert finished_training(recipe) is None
    train_result_path(tmp_path, 1).write_text(json.dumps(asdict(_result(tmp_path, interrupted=True, final=False))))
    assert finished_training(recipe, worker) is None  # stopped early: train again
    train_result_path(tmp_path, 1).write_text(json.dumps(asdict(_result(tmp_path, interrupted=False, final=True))))
    assert finished_training(recipe, worker).global_step == 4
    assert finished_training(recipe) is None, "the head goes by its own result file"
    assert stage_status(recipe, worker) == "done" and stage_status(recipe) == "new"
    longer = load_recipe(REPO / "recipes/smoke/stage1.yaml",
                         ["model.name_or_path=tiny", f"output_dir={tmp_path}", "grpo.max_steps=10"])
    assert finished_training(longer, worker) is None, "max_steps raised: more steps to train"


def test_pipeline_only_runs_one_stage_after_the_earlier_ones(tmp_path):
    pipeline = {"name": "p", "output_dir": str(tmp_path / "out"),
                "stages": [{"name": "a", "recipe": str(REPO / "recipes/smoke/stage1.yaml"), "from_previous": False,
                            "set": {"model.name_or_path": "tiny"}},
                           {"name": "b", "recipe": str(REPO / "recipes/smoke/stage1.yaml")}]}
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(pipeline))
    with pytest.raises(RecipeError, match="earlier stage 'a' has not finished"):
        run_pipeline(path, only="b")
    with pytest.raises(RecipeError, match=r"has stages \['a', 'b'\]"):
        run_pipeline(path, only="c")


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGTERM])
def test_a_stop_signal_outside_training_exits_resumable(sig, monkeypatch):
    for name in ("WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    reached = []

    def evaluating(args):
        os.kill(os.getpid(), sig)  # arrives "during evaluation"
        reached.append("after the signal")
        return 0

    class Args:
        command = "train"
        func = staticmethod(evaluating)

    before = signal.getsignal(sig)
    assert _stoppable(Args()) == EXIT_INTERRUPTED
    assert reached == [] and signal.getsignal(sig) == before


def test_cli_rejects_a_bad_placement(capsys):
    from rltrain.cli import main

    code = main(["train", str(REPO / "recipes/smoke/stage1.yaml"), "--set", "model.name_or_path=tiny",
                 "--num-machines", "2", "--machine-rank", "1"])
    assert code == 2 and "--main-process-ip" in capsys.readouterr().err

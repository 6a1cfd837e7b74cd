"""`rltrain plan` on the QwQ recipes at their documented hardware (docs/qwq.md), a recipe made not to fit,
and the verdict line `rltrain train` prints at launch. Nothing is downloaded: the models' config.json
files are the shipped ones (rltrain/models/model_configs)."""

import json
import socket
from pathlib import Path

import pytest

from rltrain.cli.app import main
from rltrain.models.shipped import MODEL_CONFIG_DIR

ROOT = Path(__file__).resolve().parents[1]
QWQ = ROOT / "recipes" / "qwq"
CONFIGS = MODEL_CONFIG_DIR

DOCUMENTED_NODES = {"32b": 4}
"""Training nodes of 8 GPUs each that docs/qwq.md gives a recipe (one unless listed)."""

QWQ_FILES = sorted(p.name for p in QWQ.glob("*.yaml"))


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No network, an empty Hugging Face cache, and none of the servers' variables: plans read config.json
    files only, and recipes leniently (data files and server URLs need not exist)."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"planning tried to reach the network: {args[1:] or kwargs}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("RLTRAIN_MODEL_CONFIGS", str(CONFIGS))
    for name in ("RLTRAIN_RM_URL", "RLTRAIN_STAGE1_DATA", "RLTRAIN_SANDBOX_URL"):
        monkeypatch.delenv(name, raising=False)


def nodes_for(name: str) -> int:
    return next((n for size, n in DOCUMENTED_NODES.items() if f"_{size}" in name), 1)


@pytest.mark.parametrize("name", QWQ_FILES)
def test_every_qwq_recipe_fits_its_documented_hardware(name, tmp_path, capsys):
    out = tmp_path / "plan.json"
    code = main(["plan", str(QWQ / name), "--nodes", str(nodes_for(name)), "--gpus-per-node", "8",
                 "--gpu-memory-gib", "80", "--json", str(out)])
    err = capsys.readouterr().err
    plan = json.loads(out.read_text())
    assert code == 0, err
    assert plan["fits"] and plan["stages"]
    for stage in plan["stages"]:
        assert stage["fits"] and stage["verdict"] in ("fits", "tight")
        assert stage["peak_bytes"] <= stage["capacity_bytes"]
        assert stage["hardware"] == {"nodes": nodes_for(name), "gpus_per_node": 8, "memory_bytes": 80 * 2**30,
                                     "device": "cuda"}
        keys = {t["key"] for t in stage["terms"]}
        assert {"weights", "gradients", "optimizer", "activations", "backward_peak", "runtime"} <= keys
        assert stage["largest_term"]["key"] in keys
        peak = stage["peak_phase"]
        assert stage["phases"][peak] == stage["peak_bytes"] == sum(t["bytes"] for t in stage["terms"] if peak in t["phases"])
    assert "largest term" in err and ("FITS" in err or "TIGHT" in err)


def test_pipeline_stages_are_planned_in_order_with_their_own_settings(tmp_path):
    out = tmp_path / "plan.json"
    assert main(["plan", str(QWQ / "pipeline_7b.yaml"), "--json", str(out)]) == 0
    one, two = json.loads(out.read_text())["stages"]
    assert (one["stage"], two["stage"]) == ("stage1_math_code", "stage2_general")
    assert one["model"]["name"] == two["model"]["name"] == "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"
    assert "reference" not in {t["key"] for t in one["terms"]}  # beta 0
    assert {"reference", "reward_model", "reward_forward"} <= {t["key"] for t in two["terms"]}
    assert two["settings"]["reward_models"] == ["Skywork/Skywork-Reward-V2-Qwen3-1.7B"]


def test_a_long_context_micro_batch_does_not_fit_and_the_largest_term_is_named(tmp_path, capsys):
    out = tmp_path / "plan.json"
    code = main(["plan", str(QWQ / "stage1_7b.yaml"), "--set", "grpo.per_device_train_batch_size=16",
                 "--set", "grpo.gradient_checkpointing=false", "--json", str(out)])
    err = capsys.readouterr().err
    stage = json.loads(out.read_text())["stages"][0]
    assert code == 1
    assert stage["verdict"] == "does not fit" and not stage["fits"]
    assert stage["largest_term"]["key"] == "activations"
    assert "DOES NOT FIT" in err and "largest term: activations (saved)" in err
    advice = [a["change"] for a in stage["advice"]]
    assert any("gradient_checkpointing: true" in a and "per_device_train_batch_size" in a for a in advice)
    assert any(a["fits"] for a in stage["advice"])


def test_json_to_stdout_and_a_missing_config_is_a_clear_error(tmp_path, capsys, monkeypatch):
    assert main(["plan", str(QWQ / "stage1_1p5b.yaml"), "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["stages"][0]["model"]["num_params"] == 1_777_088_000
    unknown = tmp_path / "unknown_model.yaml"
    unknown.write_text((QWQ / "stage1_1p5b.yaml").read_text().replace(
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "nobody/nothing-1.5B"))
    assert main(["plan", str(unknown)]) == 2
    err = capsys.readouterr().err
    assert "nobody__nothing-1.5B/config.json" in err and "--model-configs" in err


def test_the_recipes_models_plan_from_the_shipped_configs_alone(tmp_path, capsys, monkeypatch):
    """No --model-configs, no RLTRAIN_MODEL_CONFIGS, an empty hub cache: the package's own configs answer."""
    monkeypatch.delenv("RLTRAIN_MODEL_CONFIGS")
    out = tmp_path / "plan.json"
    assert main(["plan", str(QWQ / "stage2_1p5b.yaml"), "--json", str(out)]) == 0
    stage = json.loads(out.read_text())["stages"][0]
    assert stage["model"]["num_params"] == 1_777_088_000
    assert "reward_model" in {t["key"] for t in stage["terms"]}


def _tiny_recipe(tmp_path: Path) -> Path:
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        "name: tiny_plan\nstage: grpo\nmodel: {name_or_path: tiny}\n"
        "data: {source: 'synthetic:arithmetic', synthetic: {size: 16}}\n"
        "rewards: [{name: math_accuracy}]\n"
        "grpo: {max_steps: 1, per_device_train_batch_size: 4, num_generations: 4, max_completion_length: 16}\n"
        f"output_dir: {tmp_path / 'out'}\n"
    )
    return recipe


def test_train_prints_the_verdict_at_launch(tmp_path, capsys, monkeypatch):
    import rltrain.run.stage as stage

    def no_training(recipe, resume, placement):
        return {"interrupted": False, "steps": 0, "completed": True}

    monkeypatch.setattr(stage, "run_stage", no_training)
    monkeypatch.setattr(stage, "exit_status", lambda summary: 0)
    monkeypatch.setattr("rltrain.reporting.table.print_table", lambda *a, **k: None)
    assert main(["train", str(_tiny_recipe(tmp_path))]) == 0
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if line.startswith("memory plan:"))
    assert "fits: peak" in line and "per process" in line and "largest term" in line


def test_pipeline_prints_each_stages_verdict_before_it_starts(tmp_path, capsys, monkeypatch):
    """Stage two's model is stage one's final weights: planned when stage two starts, from that directory."""
    import rltrain.run.stage as stage
    from rltrain.models.tiny import write_tiny
    from rltrain.recipe.schema import TinyModelConfig

    started: list[str] = []

    def no_training(recipe, resume, placement):
        started.append(recipe.name)
        final = Path(recipe.output_dir) / "final"
        write_tiny(final, TinyModelConfig(num_hidden_layers=3))
        (Path(recipe.output_dir) / "summary.json").write_text(json.dumps({"completed": True, "steps": 0}))
        return {"interrupted": False, "steps": 0, "completed": True}

    monkeypatch.setattr(stage, "run_stage", no_training)
    monkeypatch.setattr("rltrain.reporting.table.print_table", lambda *a, **k: None)
    recipe = _tiny_recipe(tmp_path)
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(f"name: two\noutput_dir: {tmp_path / 'runs'}\nstages:\n"
                        f"  - {{name: one, recipe: {recipe.name}}}\n  - {{name: two, recipe: {recipe.name}}}\n")
    assert main(["pipeline", str(pipeline)]) == 0
    assert started == ["tiny_plan", "tiny_plan"]
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("memory plan:")]
    assert len(lines) == 2 and all("fits: peak" in line and str(pipeline) in line for line in lines)


def test_train_warns_loudly_when_the_plan_does_not_fit(tmp_path, capsys, monkeypatch):
    import rltrain.cli.plan as cli_plan
    import rltrain.run.stage as stage
    from rltrain.planning.plan import PlanRequest

    monkeypatch.setattr(stage, "run_stage", lambda recipe, resume, placement: {"interrupted": False, "steps": 0})
    monkeypatch.setattr(stage, "exit_status", lambda summary: 0)
    monkeypatch.setattr("rltrain.reporting.table.print_table", lambda *a, **k: None)
    monkeypatch.setattr(cli_plan, "_launch_hardware",
                        lambda recipe, placement: (PlanRequest(gpus_per_node=1, memory_bytes=1024**2, device="cpu"), "cpu"))
    assert main(["train", str(_tiny_recipe(tmp_path))]) == 0  # a warning, never a refusal
    err = capsys.readouterr().err
    assert "MEMORY PLAN: DOES NOT FIT" in err and "may die with out-of-memory" in err


def test_a_plan_that_cannot_be_made_never_stops_the_launch(tmp_path, caplog):
    from rltrain.cli.plan import launch_verdict
    from rltrain.recipe.loading import load_recipe
    from rltrain.run.distributed import SINGLE_NODE

    recipe = load_recipe(_tiny_recipe(tmp_path))
    broken = recipe.model_copy(update={"model": recipe.model.model_copy(update={"name_or_path": "nobody/nothing"})})
    with caplog.at_level("INFO", logger="rltrain.cli.plan"):
        launch_verdict(broken, SINGLE_NODE, "tiny.yaml")
    assert "memory plan skipped" in caplog.text and "nobody__nothing" in caplog.text


def test_a_reward_model_without_config_is_left_out_with_a_note(tmp_path):
    recipe = tmp_path / "stage2.yaml"
    text = (QWQ / "stage2_1p5b.yaml").read_text()
    assert "Skywork/Skywork-Reward-V2-Qwen3-0.6B" in text
    recipe.write_text(text.replace("Skywork/Skywork-Reward-V2-Qwen3-0.6B", "nobody/reward-model"))
    out = tmp_path / "plan.json"
    assert main(["plan", str(recipe), "--json", str(out)]) == 0
    stage = json.loads(out.read_text())["stages"][0]
    assert "reward_model" not in {t["key"] for t in stage["terms"]}
    assert any("nobody__reward-model/config.json" in note for note in stage["notes"])

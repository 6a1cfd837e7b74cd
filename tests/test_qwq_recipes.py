"""The QwQ recipes (recipes/qwq): every recipe and pipeline validates, with the settings docs/qwq.md
describes. Validation must not touch the network: hub names stay names until training starts."""

import json
import socket
from pathlib import Path

import pytest

from rltrain.errors import RecipeError
from rltrain.recipe import load_recipe
from rltrain.run.pipeline import load_pipeline

QWQ = Path(__file__).resolve().parents[1] / "recipes" / "qwq"
SIZES = ("32b", "7b", "1p5b")
RECIPES = [f"stage{n}_{size}.yaml" for size in SIZES for n in (1, 2)] + ["agentic_8b.yaml", "stage1_7b_lora.yaml"]
PIPELINES = [f"pipeline_{size}.yaml" for size in SIZES]
SERVER_VARS = ("RLTRAIN_SANDBOX_URL", "RLTRAIN_RM_URL", "RLTRAIN_VLLM_HOST", "RLTRAIN_VLLM_PORT", "RLTRAIN_STAGE1_DATA")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Any connection attempt (a hub download, a server probe, a DNS lookup) fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"recipe validation tried to reach the network: {args[1:] or kwargs}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture
def env(monkeypatch, tmp_path):
    """The environment of a cluster launch: the reward-model and sandbox URLs set, the vLLM address
    left to its default, and a stand-in for the mixed stage-one data file (users build it, docs/qwq.md).
    With a sandbox URL, loading does not depend on this machine's sandbox isolation."""
    for name in SERVER_VARS:
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "stage1_math_code.jsonl"
    rows = [
        {"problem": "What is 1 + 1?", "answer": "2", "tests": None, "format_instruction": "Box it."},
        {"problem": "Print the sum of two integers.", "answer": None,
         "tests": json.dumps([{"type": "stdin_stdout", "input": "1 2\n", "output": "3\n"}]),
         "format_instruction": "Answer with a ```python block."},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("RLTRAIN_STAGE1_DATA", str(data))
    monkeypatch.setenv("RLTRAIN_RM_URL", "http://rm-node:8081")
    monkeypatch.setenv("RLTRAIN_SANDBOX_URL", "http://sandbox-node:8600")
    return monkeypatch


def load(name: str, overrides: list[str] | None = None):
    return load_recipe(QWQ / name, overrides)


def reward(recipe, name: str):
    return next(r for r in recipe.rewards if r.name == name)


def test_the_recipe_set_is_complete():
    assert sorted(p.name for p in QWQ.glob("*.yaml")) == sorted(RECIPES + PIPELINES)


def test_the_agentic_recipe_runs_its_python_tool_on_the_sandbox_server(env):
    recipe = load("agentic_8b.yaml")
    (tool,) = recipe.tools
    assert tool.name == "python" and tool.params["server_url"] == "http://sandbox-node:8600"
    assert recipe.trl_options()["max_tool_calling_iterations"] == 8
    assert recipe.eval.max_new_tokens == recipe.grpo["max_completion_length"]


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_validates(env, name):
    recipe = load(name)
    assert recipe.stage == "grpo"
    assert recipe.output_dir.startswith("runs/qwq/")


@pytest.mark.parametrize("size", SIZES)
def test_pipeline_runs_stage_two_from_stage_one(env, size):
    pipeline, recipes = load_pipeline(QWQ / f"pipeline_{size}.yaml")
    assert [s.recipe for s in pipeline.stages] == [f"stage1_{size}.yaml", f"stage2_{size}.yaml"]
    stage1, stage2 = recipes
    assert stage1.model.name_or_path == load(f"stage1_{size}.yaml").model.name_or_path  # the cold start
    first_dir = Path(pipeline.output_dir).resolve() / pipeline.stages[0].name
    assert stage2.model.name_or_path == str(first_dir / "final")


def test_32b_runs_zero3_with_a_vllm_server(env):
    for name in ("stage1_32b.yaml", "stage2_32b.yaml"):
        recipe = load(name)
        assert recipe.distributed.mode == "zero3"
        assert recipe.distributed.num_processes == 8  # per node; the node count comes from the launch
        assert recipe.grpo["use_vllm"] is True and recipe.grpo["vllm_mode"] == "server"
        assert (recipe.grpo["vllm_server_host"], recipe.grpo["vllm_server_port"]) == ("localhost", 8000)
    env.setenv("RLTRAIN_VLLM_HOST", "gpu-node-7")
    env.setenv("RLTRAIN_VLLM_PORT", "8123")
    recipe = load("stage1_32b.yaml")
    assert (recipe.grpo["vllm_server_host"], recipe.grpo["vllm_server_port"]) == ("gpu-node-7", 8123)
    assert load("stage1_32b.yaml", ["grpo.vllm_server_host=vllm-42"]).grpo["vllm_server_host"] == "vllm-42"


@pytest.mark.parametrize("size", ["7b", "1p5b"])
def test_one_node_recipes_colocate_vllm(env, size):
    for n in (1, 2):
        recipe = load(f"stage{n}_{size}.yaml")
        assert recipe.grpo["use_vllm"] is True and recipe.grpo["vllm_mode"] == "colocate"
        assert 0 < recipe.grpo["vllm_gpu_memory_utilization"] <= 0.5
        assert recipe.grpo["vllm_max_model_length"] > recipe.grpo["max_completion_length"]
        assert recipe.distributed.mode in ("zero2", "zero3") and recipe.distributed.num_processes <= 8


@pytest.mark.parametrize("name", RECIPES)
def test_eval_follows_qwq_usage_guidelines(env, name):
    recipe = load(name)
    ev = recipe.eval
    assert not ev.greedy
    assert (ev.temperature, ev.top_p) == (0.6, 0.95)
    assert 20 <= ev.top_k <= 40
    assert ev.max_new_tokens == recipe.grpo["max_completion_length"]  # judged on the budget it trained with
    assert ev.num_prompts <= recipe.data.eval_size


@pytest.mark.parametrize("name", RECIPES)
def test_grpo_settings(env, name):
    recipe = load(name)
    g = recipe.grpo
    completions = g["per_device_train_batch_size"] * recipe.distributed.num_processes * g["gradient_accumulation_steps"]
    assert completions % g["num_generations"] == 0  # whole groups in every optimizer step, on any node count
    assert g["num_generations"] >= 8
    assert g["loss_type"] == "dapo" and g["scale_rewards"] == "group"
    assert g["epsilon_high"] > g["epsilon"]  # clip-higher
    assert g["mask_truncated_completions"] is True
    assert g["bf16"] is True and g["gradient_checkpointing"] is True
    assert g["temperature"] == 1.0  # training samples the policy itself; T=0.6 is for evaluation
    assert g["beta"] == (0.001 if name.startswith("stage2") else 0.0)


@pytest.mark.parametrize("size", ["32b", "7b"])
def test_stage_one_rewards_math_and_code(env, size):
    recipe = load(f"stage1_{size}.yaml")
    assert [r.name for r in recipe.rewards] == ["math_accuracy", "code_pass_rate", "think_format"]
    code = reward(recipe, "code_pass_rate")
    assert code.params["tests_column"] == "tests"
    assert code.params["server_url"] == "http://sandbox-node:8600"
    assert reward(recipe, "math_accuracy").params["answer_column"] == "answer"
    assert "{format_instruction}" in recipe.data.prompt_template


def test_without_a_sandbox_server_programs_run_in_process(env):
    from sandbox import self_test

    env.delenv("RLTRAIN_SANDBOX_URL")
    if self_test().level != "bwrap+seccomp":  # the code reward refuses an unisolated local sandbox
        with pytest.raises(RecipeError, match="server_url"):
            load("stage1_7b.yaml")
        return
    assert reward(load("stage1_7b.yaml"), "code_pass_rate").params["server_url"] == ""


def test_stage_one_1p5b_is_math_on_a_hub_dataset(env):
    recipe = load("stage1_1p5b.yaml")
    assert [r.name for r in recipe.rewards] == ["math_accuracy", "think_format"]
    assert recipe.data.source == "agentica-org/DeepScaleR-Preview-Dataset"


def test_stage_one_data_file_defaults_next_to_the_checkout(env):
    env.delenv("RLTRAIN_STAGE1_DATA")
    with pytest.raises(RecipeError, match=r"data.source: file not found: .*data/qwq/stage1_math_code.jsonl"):
        load("stage1_7b.yaml")


@pytest.mark.parametrize("size", SIZES)
def test_stage_two_rewards_and_retention(env, size):
    recipe = load(f"stage2_{size}.yaml")
    names = [r.name for r in recipe.rewards]
    assert names == ["reward_model", "ifeval", "answer_format", "length_limit"]
    assert reward(recipe, "reward_model").gate == ["answer_format"] == reward(recipe, "ifeval").gate
    assert recipe.eval.metric == "ifeval"
    assert recipe.resolve_input(recipe.eval.retention.recipe).resolve() == QWQ / f"stage1_{size}.yaml"
    assert recipe.data.prompt_template == "{prompt}"  # prose answers: no \boxed{} instruction


def test_stage_two_retention_recipe_loads(env, tmp_path):
    from rltrain.evaluation.runner import retention_recipe

    recipe = load("stage2_7b.yaml", [f"model.name_or_path={tmp_path}"])  # stands in for stage one's weights
    other = retention_recipe(recipe)
    assert [r.name for r in other.rewards] == ["math_accuracy", "code_pass_rate", "think_format"]
    assert other.model.name_or_path == str(tmp_path)


def test_32b_reward_model_is_served(env):
    rm = reward(load("stage2_32b.yaml"), "reward_model")
    assert rm.params["mode"] == "remote" and rm.params["url"] == "http://rm-node:8081"
    env.delenv("RLTRAIN_RM_URL")
    with pytest.raises(RecipeError, match=r"rewards.0.params.url: environment variable RLTRAIN_RM_URL is not set"):
        load("stage2_32b.yaml")


@pytest.mark.parametrize("size", ["7b", "1p5b"])
def test_small_reward_models_run_in_process(env, size):
    rm = reward(load(f"stage2_{size}.yaml"), "reward_model")
    assert rm.params.get("mode", "in_process") == "in_process" and rm.params["model_path"].startswith("Skywork/")


def test_32b_yarn_opt_in_validates(env):
    assert "# rope_scaling:" in (QWQ / "stage1_32b.yaml").read_text()  # offered, commented out
    assert load("stage1_32b.yaml").model.rope_scaling is None
    on = load("stage1_32b.yaml", ["model.rope_scaling={type: yarn, factor: 4.0, original_max_position_embeddings: 32768}"])
    assert on.model.rope_scaling == {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}


@pytest.mark.parametrize("name", RECIPES)
def test_trl_config_builds(env, name, tmp_path):
    """TRL accepts the options together (batch arithmetic included), here on one CPU process."""
    from rltrain.run.trainer import trl_config

    cpu = [f"output_dir={tmp_path}", "grpo.bf16=false", "distributed.mode=single", "distributed.num_processes=1"]
    config = trl_config(load(name, cpu))
    assert config.generation_batch_size % config.num_generations == 0
    assert config.use_vllm and config.loss_type == "dapo"

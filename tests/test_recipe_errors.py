"""Invalid recipes end in exit status 2 with a one-screen message naming the field (or file:line) at
fault, before any model is loaded; the built-in tiny model trains with a KL reference model."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from rltrain.cli import EXIT_RECIPE, main
from rltrain.errors import RecipeError


def base(tmp_path: Path) -> dict[str, Any]:
    """A valid one-step GRPO recipe on the tiny model (4 prompts x 4 completions)."""
    return {
        "model": {"name_or_path": "tiny"},
        "data": {"source": "synthetic:arithmetic", "synthetic": {"size": 16}},
        "rewards": [{"name": "math_accuracy"}, {"name": "think_format"}],
        "grpo": {"max_steps": 1, "per_device_train_batch_size": 4, "num_generations": 4, "max_completion_length": 8},
        "logging": {"progress": False},
        "output_dir": str(tmp_path / "out"),
    }


@pytest.fixture
def no_model_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything builds or loads a model (policy, tiny or reference)."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a model was loaded before the recipe error was reported")

    import rltrain.models.loading
    import rltrain.run.trainer

    monkeypatch.setattr(rltrain.models.loading, "load_model", refuse)
    monkeypatch.setattr(rltrain.run.trainer, "_model_argument", refuse)


def run_train(tmp_path: Path, raw: dict[str, Any], capsys: pytest.CaptureFixture[str], *overrides: str) -> tuple[int, str]:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    args = ["train", str(path)]
    for override in overrides:
        args += ["--set", override]
    code = main(args)
    return code, capsys.readouterr().err


def assert_recipe_error(code: int, err: str, *expected: str) -> None:
    assert code == EXIT_RECIPE, err
    flat = " ".join(err.split())  # the console wraps long lines
    for text in expected:
        assert text in flat, f"{text!r} not in:\n{err}"
    assert "Traceback" not in err
    assert len(err.splitlines()) <= 25, "the message must fit on one screen"


# --- TRL options ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("grpo.learning_rate=-1e-5", ["grpo.learning_rate", "-1e-05"]),
        ("grpo.learning_rate=.nan", ["grpo.learning_rate", "nan"]),
        ("grpo.per_device_train_batch_size=0", ["grpo.per_device_train_batch_size", "at least 1"]),
        ("grpo.gradient_accumulation_steps=0", ["grpo.gradient_accumulation_steps", "at least 1"]),
        ("grpo.max_completion_length=0", ["grpo.max_completion_length", "at least 1"]),
        ("grpo.temperature=-0.5", ["grpo.temperature", "greater than 0"]),
        ("grpo.num_generations=1", ["grpo.num_generations", "at least 2"]),
        ("grpo.beta=-0.1", ["grpo.beta", "-0.1"]),
    ],
)
def test_out_of_range_trl_option_is_named(tmp_path, capsys, no_model_loads, override, expected):
    code, err = run_train(tmp_path, base(tmp_path), capsys, override)
    assert_recipe_error(code, err, *expected)
    assert not (tmp_path / "out").exists(), "nothing may run before the recipe is valid"


def test_sft_learning_rate_is_checked_too(tmp_path, capsys, no_model_loads):
    raw = base(tmp_path)
    raw.update(stage="sft", rewards=[], grpo={})
    raw["data"]["completion_column"] = "solution"
    code, err = run_train(tmp_path, raw, capsys, "sft.learning_rate=-0.001")
    assert_recipe_error(code, err, "sft.learning_rate")


def test_num_generations_not_dividing_the_batch_names_fields_and_fix(tmp_path, capsys, no_model_loads):
    code, err = run_train(tmp_path, base(tmp_path), capsys, "grpo.num_generations=3")
    assert_recipe_error(code, err, "grpo.num_generations", "per_device_train_batch_size", "generation batch",
                        "per_device_train_batch_size to 6")


def test_gradient_accumulation_counts_in_the_generation_batch(tmp_path, capsys):
    """TRL's rule: per_device_train_batch_size x processes x steps_per_generation (default:
    gradient_accumulation_steps) must be a multiple of num_generations; 2 x 1 x 2 = 4 is."""
    from rltrain.recipe import load_recipe

    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(base(tmp_path)))
    recipe = load_recipe(path, ["grpo.per_device_train_batch_size=2", "grpo.gradient_accumulation_steps=2"])
    assert recipe.grpo["gradient_accumulation_steps"] == 2
    code, err = run_train(tmp_path, base(tmp_path), capsys, "grpo.per_device_train_batch_size=2")
    assert_recipe_error(code, err, "grpo.num_generations", "generation batch of 2")


def test_generation_batch_size_must_fill_whole_steps(tmp_path, capsys, no_model_loads):
    code, err = run_train(tmp_path, base(tmp_path), capsys, "grpo.generation_batch_size=6")
    assert_recipe_error(code, err, "grpo.generation_batch_size", "multiple of 4")


def test_generation_batch_size_and_steps_per_generation_exclude_each_other(tmp_path, capsys, no_model_loads):
    code, err = run_train(tmp_path, base(tmp_path), capsys,
                          "grpo.generation_batch_size=8", "grpo.steps_per_generation=2")
    assert_recipe_error(code, err, "grpo.generation_batch_size", "grpo.steps_per_generation")


def test_batch_rule_counts_every_node(tmp_path, capsys, no_model_loads):
    """1 prompt row per process x 2 processes x 2 nodes = 4 completions: a group of 4 fits only with both nodes."""
    from rltrain.recipe import load_recipe

    path = tmp_path / "recipe.yaml"
    raw = base(tmp_path)
    raw["grpo"]["per_device_train_batch_size"] = 1
    raw["distributed"] = {"mode": "zero2", "num_processes": 2}
    path.write_text(yaml.safe_dump(raw))
    load_recipe(path, num_machines=2)
    with pytest.raises(RecipeError, match="grpo.num_generations"):
        load_recipe(path, num_machines=1)


# --- rewards ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [".nan", ".inf"])
def test_non_finite_reward_weight_is_named(tmp_path, capsys, no_model_loads, value):
    code, err = run_train(tmp_path, base(tmp_path), capsys, f"rewards.1.weight={value}")
    assert_recipe_error(code, err, "rewards.1.weight", "finite")


# --- output_dir -------------------------------------------------------------------------------------


def test_output_dir_that_is_a_file(tmp_path, capsys, no_model_loads):
    (tmp_path / "taken").write_text("not a directory")
    code, err = run_train(tmp_path, base(tmp_path), capsys, f"output_dir={tmp_path / 'taken'}")
    assert_recipe_error(code, err, "output_dir", "taken", "is a file")


def test_output_dir_below_a_file(tmp_path, capsys, no_model_loads):
    (tmp_path / "taken").write_text("not a directory")
    code, err = run_train(tmp_path, base(tmp_path), capsys, f"output_dir={tmp_path / 'taken' / 'run'}")
    assert_recipe_error(code, err, "output_dir", "taken", "is a file")


@pytest.mark.parametrize("where", ["/proc/rltrain-run", "/sys/rltrain-run", "/proc/self/../rltrain-run"])
def test_output_dir_on_a_kernel_filesystem(tmp_path, capsys, no_model_loads, where):
    code, err = run_train(tmp_path, base(tmp_path), capsys, f"output_dir={where}")
    assert_recipe_error(code, err, "output_dir", where.split("/")[1])


# --- data -------------------------------------------------------------------------------------------


def test_path_looking_source_that_does_not_exist_is_not_looked_up_on_the_hub(tmp_path, capsys, no_model_loads):
    (tmp_path / "data.jsonl").write_text('{"problem": "1+1", "answer": "2"}\n')
    raw = base(tmp_path)
    raw["data"]["source"] = "data.jsonll"
    code, err = run_train(tmp_path, raw, capsys)
    assert_recipe_error(code, err, "data.source", "data.jsonll", "not found", "data.jsonl")


def test_existing_file_of_an_unknown_type_is_refused(tmp_path, capsys, no_model_loads):
    (tmp_path / "rows.txt").write_text("1+1\n")
    raw = base(tmp_path)
    raw["data"]["source"] = "rows.txt"
    code, err = run_train(tmp_path, raw, capsys)
    assert_recipe_error(code, err, "data.source", "rows.txt", ".jsonl")


@pytest.mark.parametrize("name", ["org/dataset", "AI-MO/NuminaMath-1.5", "gsm8k"])
def test_hub_names_are_not_taken_for_paths(name):
    from rltrain.recipe import looks_like_local_path

    assert not looks_like_local_path(name)


@pytest.mark.parametrize("name", ["data.jsonll", "./data", "../x/train", "~/d.json", "/abs/d", "a/b/c.parquet"])
def test_paths_are_recognised(name):
    from rltrain.recipe import looks_like_local_path

    assert looks_like_local_path(name)


@pytest.mark.parametrize(("name", "content"), [("empty.jsonl", ""), ("blank.jsonl", "\n\n"), ("empty.json", "[]"),
                                               ("empty.csv", "")])
def test_empty_dataset_names_the_file(tmp_path, capsys, no_model_loads, name, content):
    (tmp_path / name).write_text(content)
    raw = base(tmp_path)
    raw["data"]["source"] = name
    code, err = run_train(tmp_path, raw, capsys)
    assert_recipe_error(code, err, "data.source", name, "no rows")


def test_malformed_jsonl_line_names_file_and_line(tmp_path, capsys, no_model_loads):
    lines = ['{"problem": "1+1", "answer": "2"}', "", '{"problem": "2+2", answer: "4"}', '{"problem": "3", "answer": "3"}']
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n")
    raw = base(tmp_path)
    raw["data"]["source"] = "train.jsonl"
    code, err = run_train(tmp_path, raw, capsys)
    assert_recipe_error(code, err, "train.jsonl:3:", "Expecting property name enclosed in double quotes", "column 20")


def test_jsonl_line_that_is_not_an_object(tmp_path, capsys, no_model_loads):
    (tmp_path / "train.jsonl").write_text('{"problem": "1+1", "answer": "2"}\n[1, 2]\n')
    raw = base(tmp_path)
    raw["data"]["source"] = "train.jsonl"
    code, err = run_train(tmp_path, raw, capsys)
    assert_recipe_error(code, err, "train.jsonl:2:", "JSON object", "array")


def test_jsonl_line_that_is_not_utf8(tmp_path, capsys, no_model_loads):
    (tmp_path / "train.jsonl").write_bytes(b'{"problem": "1+1", "answer": "2"}\n{"problem": "\xff"}\n')
    raw = base(tmp_path)
    raw["data"]["source"] = "train.jsonl"
    code, err = run_train(tmp_path, raw, capsys)
    assert_recipe_error(code, err, "train.jsonl:2:", "UTF-8")


def test_corrupt_parquet_names_the_file(tmp_path, capsys, no_model_loads):
    (tmp_path / "train.parquet").write_bytes(b"garbage")
    raw = base(tmp_path)
    raw["data"]["source"] = "train.parquet"
    code, err = run_train(tmp_path, raw, capsys)
    assert_recipe_error(code, err, "data.source", "train.parquet")


def test_data_error_surfaces_before_evaluation_loads_a_model(tmp_path, capsys, no_model_loads):
    (tmp_path / "train.jsonl").write_text('{"problem": "1+1", "answer": "2"}\nnot json\n')
    raw = base(tmp_path)
    raw["data"].update(source="train.jsonl", eval_size=1)
    raw["eval"] = {"num_prompts": 1, "num_samples": 1}
    code, err = run_train(tmp_path, raw, capsys)
    assert_recipe_error(code, err, "train.jsonl:2:")


def test_recipe_error_in_a_subprocess_has_no_traceback(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"problem": "1+1", "answer": "2"}\n{"problem": \n')
    raw = base(tmp_path)
    raw["data"]["source"] = "train.jsonl"
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    done = subprocess.run([sys.executable, "-m", "rltrain", "train", str(path)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == EXIT_RECIPE, done.stderr
    assert "train.jsonl:2:" in done.stderr and "Traceback" not in done.stderr


# --- KL reference model of the tiny model -----------------------------------------------------------


def test_tiny_model_with_kl_builds_a_reference_equal_to_the_policy(tmp_path):
    import torch

    from rltrain.recipe import recipe_from_dict
    from rltrain.run.trainer import build_trainer

    raw = base(tmp_path)
    raw["grpo"]["beta"] = 0.04
    trainer = build_trainer(recipe_from_dict(raw, base_dir=tmp_path), [])
    assert trainer.ref_model is not None
    policy, reference = dict(trainer.model.named_parameters()), dict(trainer.ref_model.named_parameters())
    assert policy.keys() == reference.keys()
    assert all(torch.equal(policy[name], reference[name]) for name in policy)
    assert trainer.ref_model is not trainer.model


def test_tiny_model_with_kl_trains(tmp_path, capsys):
    raw = base(tmp_path)
    raw["grpo"]["beta"] = 0.04
    code, err = run_train(tmp_path, raw, capsys)
    assert code == 0, err
    logs = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert any("kl" in log and math.isfinite(log["kl"]) for log in logs), logs


def test_launched_run_reports_data_errors_before_starting_ranks(tmp_path, monkeypatch, no_model_loads):
    import rltrain.run.stage
    from rltrain.recipe import recipe_from_dict

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("ranks were launched before the data was checked")

    monkeypatch.setattr(rltrain.run.stage, "launch_training", refuse)
    (tmp_path / "train.jsonl").write_text('{"problem": "1+1", "answer": "2"}\n{"problem": 3\n')
    raw = base(tmp_path)
    raw["data"]["source"] = "train.jsonl"
    raw["distributed"] = {"mode": "zero2", "num_processes": 2}
    with pytest.raises(RecipeError, match=r"train\.jsonl:2: not valid JSON"):
        rltrain.run.stage.train_stage(recipe_from_dict(raw, base_dir=tmp_path), None)


def test_hub_dataset_without_rows_is_named(tmp_path, no_model_loads):
    import datasets

    from rltrain.data import prepare
    from rltrain.recipe import recipe_from_dict

    recipe = recipe_from_dict({**base(tmp_path), "data": {"source": "org/dataset", "split": "test"}}, base_dir=tmp_path)
    with pytest.raises(RecipeError, match="data.source: org/dataset has no rows .split 'test'."):
        prepare(recipe, datasets.Dataset.from_dict({"problem": []}))


def test_generation_batch_rule_agrees_with_trl(tmp_path):
    """On one process, the recipe-time rule refuses exactly what TRL's GRPOConfig refuses."""
    import itertools

    from trl import GRPOConfig

    from rltrain.recipe.trl_rules import generation_batch_problem

    grid = itertools.product([1, 2, 3, 4, 6], [1, 2, 3], [2, 3, 4, 8], [None, 6, 8, 12], [None, 2])
    checked = 0
    for per_device, accumulation, generations, batch, steps in grid:
        options = {"per_device_train_batch_size": per_device, "gradient_accumulation_steps": accumulation,
                   "num_generations": generations, "generation_batch_size": batch, "steps_per_generation": steps}
        try:
            GRPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", **options)
            trl_refuses = False
        except ValueError:
            trl_refuses = True
        assert (generation_batch_problem(options, 1) is not None) == trl_refuses, options
        checked += 1
    assert checked == 480


def test_malformed_json_document_names_its_line(tmp_path, capsys, no_model_loads):
    (tmp_path / "train.json").write_text('[\n  {"problem": "1+1", "answer": "2"},\n  {"problem": "2+2" "answer": "4"}\n]\n')
    raw = base(tmp_path)
    raw["data"]["source"] = "train.json"
    code, err = run_train(tmp_path, raw, capsys)
    assert_recipe_error(code, err, "train.json:3:", "Expecting ',' delimiter")

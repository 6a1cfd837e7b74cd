"""The command line: help everywhere, recipe errors before any model loads, init-tiny, rewards."""

import subprocess
import sys
import time

import pytest
import yaml

from rltrain.cli import EXIT_RECIPE, main


@pytest.mark.parametrize("command", [[], ["train"], ["pipeline"], ["eval"], ["init-tiny"], ["rewards"]])
def test_help_on_every_command(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    assert "usage: rltrain" in capsys.readouterr().out


def test_bad_recipe_exits_2_naming_the_field_before_loading_a_model(tmp_path):
    recipe = {"model": {"name_or_path": "tiny"}, "data": {"source": "synthetic:arithmetic"},
              "rewards": [{"name": "math_accuracy"}], "grpo": {"num_generations": "eight"}, "output_dir": "x"}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(recipe))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "rltrain", "train", str(path)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == EXIT_RECIPE
    assert "grpo: 'num_generations' expects" in done.stderr
    assert not (tmp_path / "x").exists(), "nothing may run before the recipe is valid"
    assert time.monotonic() - started < 60


def test_unknown_override_path_is_reported(tmp_path, capsys):
    recipe = {"model": {"name_or_path": "tiny"}, "data": {"source": "synthetic:arithmetic"},
              "rewards": [{"name": "math_accuracy"}], "output_dir": str(tmp_path / "x")}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["train", str(path), "--set", "grpo.lerning_rate=1e-5"]) == EXIT_RECIPE
    assert "did you mean learning_rate" in capsys.readouterr().err


def test_init_tiny_writes_a_loadable_model(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert main(["init-tiny", str(tmp_path / "m"), "--hidden-size", "32", "--layers", "1"]) == 0
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "m")
    assert model.config.hidden_size == 32 and model.config.num_hidden_layers == 1
    assert tokenizer.chat_template


def test_rewards_lists_the_registry(capsys):
    assert main(["rewards"]) == 0
    out = capsys.readouterr().out
    assert "math_accuracy" in out and "think_format" in out

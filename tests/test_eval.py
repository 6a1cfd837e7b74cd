"""`rltrain eval`: sampled held-out accuracy with the recipe's rewards, written as JSON."""

import json

import yaml

from rltrain.cli import main


def test_eval_scores_a_saved_model_and_writes_json(tmp_path):
    assert main(["init-tiny", str(tmp_path / "m"), "--hidden-size", "32", "--layers", "1"]) == 0
    recipe = {
        "model": {"name_or_path": str(tmp_path / "m")},
        "data": {"source": "synthetic:arithmetic", "synthetic": {"size": 50}, "eval_size": 10},
        "rewards": [{"name": "math_accuracy"}, {"name": "think_format"}],
        "eval": {"num_prompts": 4, "num_samples": 3, "max_new_tokens": 6},
        "output_dir": str(tmp_path / "out"),
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["eval", str(path), "--num-samples", "2", "--output", str(tmp_path / "e.json")]) == 0
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["num_prompts"] == 4 and result["num_samples"] == 2
    assert result["metric"] == "math_accuracy"
    assert result["accuracy"] == 0.0  # a random model never boxes the right sum
    assert set(result["rewards"]) == {"math_accuracy", "think_format"}
    assert len(result["examples"]) == 3


def test_eval_takes_a_model_directory_with_a_recipe(tmp_path, capsys):
    assert main(["init-tiny", str(tmp_path / "m"), "--hidden-size", "32", "--layers", "1"]) == 0
    recipe = {
        "model": {"name_or_path": "tiny"},
        "data": {"source": "synthetic:arithmetic", "synthetic": {"size": 50}, "eval_size": 10},
        "rewards": [{"name": "think_format"}],
        "eval": {"num_prompts": 2, "num_samples": 1, "max_new_tokens": 4},
        "output_dir": str(tmp_path / "out"),
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["eval", str(tmp_path / "m")]) == 2
    assert "also pass --recipe" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "m"), "--recipe", str(path), "--greedy"]) == 0
    result = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert result["model"] == str(tmp_path / "m") and result["num_samples"] == 1

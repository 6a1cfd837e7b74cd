"""Recipe validation: every error names the field at fault, before any model is loaded."""

from pathlib import Path

import pytest
import yaml

from rltrain.errors import RecipeError
from rltrain.recipe import load_recipe, parse_overrides

SMOKE = Path(__file__).resolve().parents[1] / "recipes" / "smoke"


def write(tmp_path: Path, recipe: dict) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def base() -> dict:
    return {
        "model": {"name_or_path": "tiny"},
        "data": {"source": "synthetic:arithmetic", "eval_size": 10},
        "rewards": [{"name": "math_accuracy"}],
        "output_dir": "out",
    }


@pytest.mark.parametrize("name", ["reward_model.yaml", "cold_start.yaml", "stage1.yaml", "stage2.yaml"])
def test_shipped_smoke_recipes_validate(name):
    recipe = load_recipe(SMOKE / name, ["model.name_or_path=tiny"])
    assert recipe.output_dir.startswith("runs/smoke/")


def test_unknown_key_is_named(tmp_path):
    raw = base()
    raw["data"]["promt_column"] = "q"
    with pytest.raises(RecipeError) as err:
        load_recipe(write(tmp_path, raw))
    assert "data.promt_column: unknown field" in str(err.value)


def test_wrong_type_is_named(tmp_path):
    raw = base()
    raw["rewards"][0]["weight"] = "heavy"
    with pytest.raises(RecipeError, match=r"rewards\.0\.weight"):
        load_recipe(write(tmp_path, raw))


def test_missing_required_field(tmp_path):
    raw = base()
    del raw["output_dir"]
    with pytest.raises(RecipeError, match="output_dir: required field is missing"):
        load_recipe(write(tmp_path, raw))


def test_missing_data_file_is_reported(tmp_path):
    raw = base()
    raw["data"]["source"] = "nope.jsonl"
    with pytest.raises(RecipeError, match=r"data.source: file not found: .*nope.jsonl"):
        load_recipe(write(tmp_path, raw))


def test_missing_local_model_dir(tmp_path):
    raw = base()
    raw["model"]["name_or_path"] = "./no-such-model"
    with pytest.raises(RecipeError, match="model.name_or_path: directory not found"):
        load_recipe(write(tmp_path, raw))


def test_grpo_option_typo_suggests_the_real_one(tmp_path):
    raw = base()
    raw["grpo"] = {"num_generation": 4}
    with pytest.raises(RecipeError) as err:
        load_recipe(write(tmp_path, raw))
    assert "grpo: 'num_generation' is not an option of trl.GRPOConfig; did you mean num_generations" in str(err.value)


def test_grpo_option_type_checked(tmp_path):
    raw = base()
    raw["grpo"] = {"num_generations": "many"}
    with pytest.raises(RecipeError, match="'num_generations' expects"):
        load_recipe(write(tmp_path, raw))


def test_options_owned_by_rltrain_are_refused(tmp_path):
    raw = base()
    raw["grpo"] = {"output_dir": "x"}
    with pytest.raises(RecipeError, match="use output_dir .top level. instead"):
        load_recipe(write(tmp_path, raw))


def test_unknown_reward_lists_known(tmp_path):
    raw = base()
    raw["rewards"] = [{"name": "acuracy"}]
    with pytest.raises(RecipeError, match=r"rewards.0.name: unknown reward 'acuracy'; known: .*math_accuracy"):
        load_recipe(write(tmp_path, raw))


def test_bad_reward_param_is_named(tmp_path):
    raw = base()
    raw["rewards"] = [{"name": "math_accuracy", "params": {"timout": 3}}]
    with pytest.raises(RecipeError, match=r"rewards.0 .*timout"):
        load_recipe(write(tmp_path, raw))


def test_grpo_needs_a_reward(tmp_path):
    raw = base()
    raw["rewards"] = []
    with pytest.raises(RecipeError, match="rewards: a GRPO stage needs at least one reward"):
        load_recipe(write(tmp_path, raw))


def test_overrides_set_nested_values_and_list_items(tmp_path):
    recipe = load_recipe(
        write(tmp_path, base()),
        ["grpo.learning_rate=1e-5", "rewards.0.weight=0.5", "eval.num_samples=2", "data.system_prompt=null"],
    )
    assert recipe.grpo["learning_rate"] == 1e-5
    assert recipe.rewards[0].weight == 0.5
    assert recipe.eval is not None and recipe.eval.num_samples == 2


def test_override_syntax_errors():
    with pytest.raises(RecipeError, match="expected KEY.PATH=VALUE"):
        parse_overrides(["grpo.max_steps"])


def test_override_bad_list_index(tmp_path):
    with pytest.raises(RecipeError, match="expected a list index below 1"):
        load_recipe(write(tmp_path, base()), ["rewards.3.weight=1"])


def test_relative_inputs_resolve_against_the_recipe(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text('{"problem": "1+1", "answer": "2"}\n')
    raw = base()
    raw["data"]["source"] = "data/train.jsonl"
    raw["data"]["eval_size"] = 0
    recipe = load_recipe(write(tmp_path, raw))
    assert recipe.resolve_input(recipe.data.source) == tmp_path / "data" / "train.jsonl"


def test_recipe_reference_doc_is_current():
    from rltrain.recipe.docs import render

    doc = (Path(__file__).resolve().parents[1] / "docs" / "recipes.md").read_text()
    assert doc == render(), "docs/recipes.md is stale: run python -m rltrain.recipe.docs > docs/recipes.md"

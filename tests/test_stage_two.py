"""Stage-two wiring: synthetic instruction and preference data, reward-model stage recipes, gates,
retention evaluation, the pipeline's {output_dir} substitution and the retention row of the table."""

import io
from pathlib import Path

import pytest
import yaml

from rltrain.data.synthetic.math import arithmetic, instructions, preferences
from rltrain.errors import RecipeError
from rltrain.recipe import load_recipe
from rltrain.reporting.table import print_table
from rltrain.run.pipeline import load_pipeline
from verifiers.rules import check

SMOKE = Path(__file__).resolve().parents[1] / "recipes" / "smoke"


def test_instruction_rows_keep_the_arithmetic_problems_and_are_verifiable():
    plain = arithmetic(size=200, seed=3, max_b=9)
    rows = instructions(size=200, seed=3, max_b=9, share=0.5, follow_rate=0.5)
    assert [r["answer"] for r in rows] == [r["answer"] for r in plain]
    tagged = [r for r in rows if r["instruction_id_list"]]
    assert 60 < len(tagged) < 140
    assert all(r["problem"].endswith(p["problem"]) for r, p in zip(rows, plain, strict=False))
    followed = [check(r["solution"], r["instruction_id_list"], r["kwargs"])[0] for r in tagged]
    assert 0.3 < sum(followed) / len(followed) < 0.7  # follow_rate of the SFT targets
    every = instructions(size=50, seed=3, max_b=9, share=1.0, follow_rate=1.0)
    assert all(check(r["solution"], r["instruction_id_list"], r["kwargs"]) == [True] for r in every)
    with pytest.raises(ValueError, match="kinds"):
        instructions(size=5, kinds="quote,shout")


def test_augmented_rows_keep_every_plain_row_and_the_held_out_ones_unseen():
    plain = arithmetic(size=300, seed=5, max_b=9)
    rows = instructions(size=300, seed=5, max_b=9, share=0.5, augment=True, holdout=100)
    extra = rows[: len(rows) - 300]
    assert [r["problem"] for r in rows[-300:]] == [r["problem"] for r in plain]
    assert all(r["instruction_id_list"] for r in extra) and 60 < len(extra) < 140
    held_out = {r["problem"] for r in plain[-100:]}
    assert not any(r["problem"].split(". ")[-1] in held_out for r in extra)


def test_preference_pairs_prefer_the_answer_that_follows():
    from rltrain.data.synthetic.math import INSTRUCTIONS

    by_text = {inst.text: inst for inst in INSTRUCTIONS.values()}
    for row in preferences(size=50, seed=1, max_b=9):
        inst = next(i for text, i in by_text.items() if row["problem"].startswith(text))
        assert check(row["chosen"], [inst.instruction_id], [inst.kwargs]) == [True]
        assert check(row["rejected"], [inst.instruction_id], [inst.kwargs]) == [False]


def _write(tmp_path, raw, name="recipe.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


def _reward_recipe():
    return {"stage": "reward", "model": {"name_or_path": "tiny"}, "output_dir": "out",
            "data": {"source": "synthetic:preferences", "eval_size": 10}, "rm": {"max_steps": 2}}


def test_reward_stage_recipes_check_trl_reward_options(tmp_path):
    assert load_recipe(_write(tmp_path, _reward_recipe())).trl_options()["max_steps"] == 2
    raw = _reward_recipe()
    raw["rm"] = {"max_step": 2}
    with pytest.raises(RecipeError, match=r"rm: 'max_step' is not an option of trl.RewardConfig; did you mean max_steps"):
        load_recipe(_write(tmp_path, raw))


def test_gates_and_retention_are_validated(tmp_path):
    raw = {"model": {"name_or_path": "tiny"}, "output_dir": "out", "data": {"source": "synthetic:instructions"},
           "rewards": [{"name": "ifeval", "gate": ["think_format"]}]}
    with pytest.raises(RecipeError, match=r"rewards.0.gate: 'think_format' must name another reward"):
        load_recipe(_write(tmp_path, raw))
    raw["rewards"].append({"name": "think_format"})
    raw["eval"] = {"retention": {"recipe": "missing.yaml"}}
    with pytest.raises(RecipeError, match="eval.retention.recipe: file not found"):
        load_recipe(_write(tmp_path, raw))


def test_retention_recipe_evaluates_this_stage_model_on_the_other_data(tmp_path):
    from rltrain.evaluation.runner import retention_recipe

    recipe = load_recipe(SMOKE / "stage2.yaml", ["model.name_or_path=tiny"])
    other = retention_recipe(recipe)
    assert other.name == "stage1_math" and other.data.source == "synthetic:arithmetic"
    assert other.model.name_or_path == "tiny" and other.rewards[0].name == "math_accuracy"


def test_pipeline_substitutes_output_dir_into_stage_overrides(tmp_path):
    pipeline, recipes = load_pipeline(SMOKE / "pipeline.yaml", [f"output_dir={tmp_path}"])
    assert [s.name for s in pipeline.stages] == ["reward_model", "cold_start", "stage1_math", "stage2_general"]
    rm = next(r for r in recipes[-1].rewards if r.name == "reward_model")
    assert rm.params["model_path"] == str(tmp_path.resolve() / "reward_model" / "final")
    assert rm.gate == ["answer_format"]
    assert recipes[1].model.name_or_path == "tiny"  # the cold start does not start from the reward model


def test_table_has_a_retention_row():
    out = io.StringIO()
    from rich.console import Console

    summary = {"stage": "stage2_general", "kind": "grpo", "steps": 30,
               "eval_before": {"accuracy": 0.1, "metric": "ifeval", "num_prompts": 10, "num_samples": 4},
               "eval_after": {"accuracy": 0.5, "metric": "ifeval", "num_prompts": 10, "num_samples": 4},
               "retention": {"recipe": "stage1.yaml",
                             "before": {"accuracy": 0.3, "metric": "math_accuracy", "num_prompts": 10, "num_samples": 4},
                             "after": {"accuracy": 0.275, "metric": "math_accuracy", "num_prompts": 10, "num_samples": 4}}}
    print_table([summary], console=Console(file=out, width=200))
    text = out.getvalue()
    assert "retention" in text and "math_accuracy" in text and "-2.5 pts" in text and "+40.0 pts" in text

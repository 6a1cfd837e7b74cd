"""Dataset → prompts: columns, templates, held-out split."""

import json

import pytest

from rltrain.data import load_splits
from rltrain.data.synthetic.math import arithmetic
from rltrain.errors import RecipeError
from rltrain.recipe import QWQ_MATH_INSTRUCTION, recipe_from_dict


def recipe(tmp_path, **data):
    return recipe_from_dict(
        {
            "model": {"name_or_path": "tiny"},
            "data": data,
            "rewards": [{"name": "math_accuracy"}],
            "output_dir": str(tmp_path / "out"),
        },
        base_dir=tmp_path,
    )


def test_jsonl_rename_template_and_heldout_split(tmp_path):
    rows = [{"question": f"q{i}", "solution": str(i)} for i in range(10)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    splits = load_splits(
        recipe(tmp_path, source="d.jsonl", columns={"question": "problem", "solution": "answer"},
               system_prompt="You are terse.", eval_size=3)
    )
    assert len(splits.train) == 7 and len(splits.eval) == 3
    assert set(splits.train["problem"]).isdisjoint(splits.eval["problem"])
    first = splits.train[0]
    assert first["answer"] == "0"
    assert first["prompt"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": f"q0\n{QWQ_MATH_INSTRUCTION}"},
    ]


def test_missing_prompt_column_is_named(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"q": "x"}\n{"q": "y"}\n')
    with pytest.raises(RecipeError, match="data.prompt_column: column 'problem' not in the dataset"):
        load_splits(recipe(tmp_path, source="d.jsonl"))


def test_template_field_must_exist(tmp_path):
    with pytest.raises(RecipeError, match="data.prompt_template: field 'level'"):
        load_splits(recipe(tmp_path, source="synthetic:arithmetic", synthetic={"size": 5}, prompt_template="{level}"))


def test_synthetic_arithmetic_is_distinct_and_correct():
    rows = arithmetic(size=300, seed=1, max_a=99, max_b=99)
    assert len({r["problem"] for r in rows}) == 300
    for row in rows[:50]:
        a, b = row["problem"].removeprefix("What is ").removesuffix("?").split("+")
        assert int(row["answer"]) == int(a) + int(b)
        assert row["solution"].endswith(f"</think>\n\\boxed{{{row['answer']}}}")


def test_file_type_is_read_whatever_its_case(tmp_path):
    (tmp_path / "D.JSONL").write_text("".join(json.dumps({"problem": f"q{i}", "answer": str(i)}) + "\n" for i in range(3)))
    assert len(load_splits(recipe(tmp_path, source="D.JSONL")).train) == 3

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


def test_direct_answers_are_right_only_at_their_rate_and_worked_answers_always():
    import re

    rows = arithmetic(size=1000, seed=0, max_a=99, max_b=9, skip_reasoning=0.7, direct_accuracy=0.3)
    plain = arithmetic(size=1000, seed=0, max_a=99, max_b=9, skip_reasoning=0.7)
    assert [r["problem"] for r in rows] == [r["problem"] for r in plain]  # the problems do not depend on it
    stated = [(r, re.search(r"boxed\{(-?\d+)\}", r["solution"]).group(1)) for r in rows]
    direct = [r["answer"] == s for r, s in stated if r["solution"].startswith("</think>")]
    worked = [r["answer"] == s for r, s in stated if not r["solution"].startswith("</think>")]
    assert all(worked) and 650 < len(direct) < 750
    assert 0.25 < sum(direct) / len(direct) < 0.35
    assert all(0 < abs(int(s) - int(r["answer"])) <= 9 for r, s in stated if r["answer"] != s)
    with pytest.raises(ValueError, match="direct_accuracy"):
        arithmetic(size=10, direct_accuracy=1.5)


def test_file_type_is_read_whatever_its_case(tmp_path):
    (tmp_path / "D.JSONL").write_text("".join(json.dumps({"problem": f"q{i}", "answer": str(i)}) + "\n" for i in range(3)))
    assert len(load_splits(recipe(tmp_path, source="D.JSONL")).train) == 3

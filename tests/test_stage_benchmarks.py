"""A stage's ``eval.benchmarks``: validated when the recipe loads, evaluated before and after training with
the hf backend into ``<output_dir>/benchmarks/before|after``, recorded in summary.json and shown in the
before/after table and the run report; a resumed stage generates none of its samples again."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from rltrain.errors import RecipeError
from rltrain.recipe import recipe_from_dict
from rltrain.reporting.table import print_table

TINY = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
        "intermediate_size": 64, "max_position_embeddings": 1024}


def _recipe(tmp_path: Path, **eval_options) -> dict:
    return {
        "name": "bench-stage",
        "model": {"name_or_path": "tiny", "tiny": TINY},
        "data": {"source": "synthetic:arithmetic", "synthetic": {"size": 40, "max_a": 9, "max_b": 9},
                 "prompt_template": "{prompt}", "eval_size": 0},
        "rewards": [{"name": "math_accuracy"}],
        "grpo": {"max_steps": 1, "per_device_train_batch_size": 2, "num_generations": 2, "max_completion_length": 4,
                 "save_steps": 100},
        "eval": {"max_new_tokens": 6, "batch_size": 4, **eval_options},
        "logging": {"progress": False},
        "output_dir": str(tmp_path / "out"),
    }


@pytest.fixture
def sums(tmp_path: Path) -> Path:
    """A two-item JSONL benchmark beside the recipe, scored by math_accuracy (its ``answer`` column)."""
    path = tmp_path / "data" / "sums.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps({"prompt": f"{i}+{i}=? Answer in \\boxed{{}}.", "answer": str(2 * i)}) + "\n"
                            for i in range(2)))
    return path


def test_benchmark_names_and_files_are_checked_when_the_recipe_loads(tmp_path, sums):
    def load(benchmarks, **extra):
        return recipe_from_dict({**_recipe(tmp_path, benchmarks=benchmarks), **extra}, source="r.yaml", base_dir=tmp_path)

    recipe = load(["aime24", "data/sums.jsonl", "mine=data/sums.jsonl"])
    assert recipe.eval is not None and recipe.eval.benchmarks[1] == "data/sums.jsonl"
    with pytest.raises(RecipeError, match=r"r\.yaml: eval\.benchmarks\.1: unknown benchmark 'aime2024'; known: aime24, aime25, "):
        load(["aime24", "aime2024"])
    with pytest.raises(RecipeError, match=r"eval\.benchmarks\.0: file not found: .*data/missing\.jsonl"):
        load(["data/missing.jsonl"])
    with pytest.raises(RecipeError, match=r"eval\.benchmarks\.1: benchmark 'sums' is already eval\.benchmarks\.0"):
        load(["data/sums.jsonl", str(sums)])
    with pytest.raises(RecipeError, match=r"eval\.benchmark_limit: Input should be greater than 0"):
        load(["aime24"], eval={"benchmarks": ["aime24"], "benchmark_limit": 0})


def test_resolved_recipe_names_jsonl_benchmarks_by_absolute_path(tmp_path, sums):
    from rltrain.run.stage import resolved_recipe

    recipe = recipe_from_dict(_recipe(tmp_path, benchmarks=["aime24", "data/sums.jsonl"]), base_dir=tmp_path)
    assert resolved_recipe(recipe)["eval"]["benchmarks"] == ["aime24", f"sums={sums}"]
    # the saved recipe.yaml loads from the output directory, where the relative path would not exist
    again = recipe_from_dict(yaml.safe_load(yaml.safe_dump(resolved_recipe(recipe))), base_dir=tmp_path / "out")
    assert again.eval is not None and again.eval.benchmarks[1] == f"sums={sums}"


def test_stage_evaluates_benchmarks_before_and_after_and_reports_them(tmp_path, sums, monkeypatch):
    from rltrain.evaluation.backends.hf import HfBackend
    from rltrain.reporting.run_report import write_report
    from rltrain.run.stage import run_stage

    generated: list[int] = []
    original = HfBackend.generate

    def counting(self, requests, settings):
        generated.append(len(requests))
        return original(self, requests, settings)

    monkeypatch.setattr(HfBackend, "generate", counting)
    raw = _recipe(tmp_path, benchmarks=["aime24", "data/sums.jsonl"], benchmark_n=2, benchmark_limit=2)
    recipe = recipe_from_dict(raw, base_dir=tmp_path)
    summary = run_stage(recipe)
    out = tmp_path / "out"

    assert summary["completed"] and summary["eval_before"] is None and summary["eval_after"] is None  # eval_size 0
    for when in ("before", "after"):
        rows = summary[f"benchmarks_{when}"]
        assert list(rows) == ["aime24", "sums"]
        for row in rows.values():
            assert (row["n"], row["items"], row["samples"]) == (2, 2, 4)
            assert 0.0 <= row["avg_at_n"] <= 1.0 and row["stderr"] is not None and 0.0 <= row["truncated"] <= 1.0
        results = json.loads((out / "benchmarks" / when / "results.json").read_text())
        assert results["settings"]["max_tokens"] == 6 and results["settings"]["temperature"] == 1.0
        assert results["model"] == ("tiny" if when == "before" else str((out / "final").resolve()))
        assert len((out / "benchmarks" / when / "samples.jsonl").read_text().splitlines()) == 8
    assert json.loads((out / "summary.json").read_text())["benchmarks_after"] == summary["benchmarks_after"]
    assert generated == [8, 8]

    text = io.StringIO()
    print_table([{**summary, "stage": "bench-stage"}], console=Console(file=text, width=220))
    lines = text.getvalue().splitlines()
    for name in ("aime24", "sums"):
        row = next(line for line in lines if f" {name} " in line)
        assert "bench" in row and "avg@2 (2 items)" in row and "pts" in row

    report = write_report(out)
    markdown = report.markdown.read_text()
    assert "| ↳ sums | bench |" in markdown and "avg@2 (2 items)" in markdown
    assert report.directory / "benchmarks.png" in report.plots

    # Training finished and the samples are on disk: a resumed stage trains nothing and generates nothing.
    again = run_stage(recipe, resume=True)
    assert generated == [8, 8]
    assert again["benchmarks_before"] == summary["benchmarks_before"]
    assert again["benchmarks_after"] == summary["benchmarks_after"]


def test_table_rows_of_a_summary_with_benchmarks():
    summary = {"stage": "s1", "kind": "grpo", "steps": 5,
               "benchmarks_before": {"aime24": {"avg_at_n": 0.1, "stderr": 0.05, "n": 4, "items": 30}},
               "benchmarks_after": {"aime24": {"avg_at_n": 0.25, "stderr": 0.06, "n": 4, "items": 30},
                                    "ifeval": {"avg_at_n": 0.5, "stderr": None, "n": 1, "items": 1}}}
    text = io.StringIO()
    print_table([summary], console=Console(file=text, width=220))
    lines = text.getvalue().splitlines()
    aime = next(line for line in lines if "aime24" in line)
    assert "10.0% ± 5.0" in aime and "25.0% ± 6.0" in aime and "+15.0 pts" in aime and "avg@4 (30 items)" in aime
    ifeval = next(line for line in lines if "ifeval" in line)
    assert "50.0%" in ifeval and "±" not in ifeval.split("50.0%")[1].split("│")[0]

"""``rltrain train|pipeline RECIPE --dry-run``: the QwQ recipes for two steps on CPU with stand-in models.

The fast tests dry-run one representative recipe and the broken copies (each must fail naming its field);
the slow one dry-runs every recipe and pipeline in ``recipes/qwq`` in this process, sharing stand-ins.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from rltrain.models.shipped import MODEL_CONFIG_DIR
from rltrain.models.stand_in import QWEN25, R1_DISTILL, chat_model_for, scaled_down_config, template_tokenizer
from rltrain.run.dry_run import (
    StageReport,
    dry_run_data,
    dry_run_pipeline,
    dry_run_recipe,
    reward_columns,
    synthetic_rows,
    thinking_problem,
)

QWQ_RECIPES = Path(__file__).resolve().parents[1] / "recipes" / "qwq"
MODEL_CONFIGS = MODEL_CONFIG_DIR


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stand-in models shared by every dry run of this module (one per architecture family)."""
    return tmp_path_factory.mktemp("stand_ins")


def _copy(tmp_path: Path, name: str, edit: Any) -> Path:
    """A copy of ``recipes/qwq/<name>`` in ``tmp_path`` with ``edit`` applied to its data."""
    raw = yaml.safe_load((QWQ_RECIPES / name).read_text())
    edit(raw)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _failed_with(report: Any, *needles: str) -> str:
    assert not report.passed
    error = report.stages[0].error or ""
    for needle in needles:
        assert needle in error, error
    return error


def test_stand_in_config_keeps_the_architecture() -> None:
    raw = json.loads((MODEL_CONFIGS / "Qwen__QwQ-32B" / "config.json").read_text())
    small = scaled_down_config(raw, vocab_size=300)
    assert small["model_type"] == raw["model_type"]
    assert small["num_hidden_layers"] == 2 and 64 <= small["hidden_size"] <= 128
    ratio = raw["num_attention_heads"] // raw["num_key_value_heads"]
    assert small["num_attention_heads"] // small["num_key_value_heads"] == ratio
    assert small["rope_theta" if "rope_theta" in raw else "rope_parameters"] == raw.get("rope_theta", raw.get("rope_parameters"))
    assert small["tie_word_embeddings"] == raw["tie_word_embeddings"] and small["vocab_size"] == 300


def test_model_names_map_to_their_templates() -> None:
    expected = {"Qwen/QwQ-32B": "qwq_32b", "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B": "deepseek_r1_distill_qwen",
                "Qwen/Qwen3-8B": "qwen3_8b", "Qwen/Qwen2.5-7B-Instruct": "qwen2_5_7b_instruct"}
    for name, key in expected.items():
        chat = chat_model_for(name)
        assert chat is not None and chat.key == key, name
    assert chat_model_for("meta-llama/Llama-3.1-8B") is None


def test_synthetic_rows_carry_every_declared_column() -> None:
    raw = yaml.safe_load((QWQ_RECIPES / "stage1_7b.yaml").read_text())
    rows, columns = synthetic_rows(raw["data"], "grpo", raw["rewards"])
    assert {"problem", "format_instruction", "answer", "tests"} <= set(columns)
    assert all(set(columns) <= set(row) for row in rows)
    assert reward_columns(raw["rewards"]) == {"answer": "rewards.0.params.answer_column",
                                              "tests": "rewards.1.params.tests_column"}


def test_thinking_check() -> None:
    rewards = [{"name": "math_accuracy"}, {"name": "think_format"}]
    assert thinking_problem(template_tokenizer(R1_DISTILL), rewards) is None
    problem = thinking_problem(template_tokenizer(QWEN25), rewards)
    assert problem is not None and "model.name_or_path" in problem and "rewards.1 (think_format)" in problem
    assert thinking_problem(template_tokenizer(QWEN25), rewards[:1]) is None


def test_representative_recipe_passes(tmp_path: Path, stand_ins: Path) -> None:
    report = dry_run_recipe(QWQ_RECIPES / "stage1_1p5b.yaml", output_dir=str(tmp_path / "out"), stand_ins=stand_ins)
    stage = report.stages[0]
    assert report.passed, stage.error
    text = "\n".join(stage.exercised)
    assert "stand-in for deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B" in text
    assert "deepseek_r1_distill_qwen.jinja" in text and "<think>\\n prefill" in text
    assert "resumed from checkpoint-1 to step 2" in text
    assert "reward math_accuracy" in text and "reads ['answer']" in text
    assert any("SYNTHESIZED" in w and "DeepScaleR" in w for w in stage.warnings)
    assert (tmp_path / "out" / "dry_run.json").is_file()
    assert (tmp_path / "out" / "run" / "final" / "config.json").is_file()


def test_real_rows_are_used_when_the_file_is_there(tmp_path: Path, stand_ins: Path) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"problem": f"What is {i} + 1?", "answer": str(i + 1)}) + "\n" for i in range(20)))
    path = _copy(tmp_path, "stage1_1p5b.yaml", lambda r: r["data"].update(source=str(data)))
    report = dry_run_recipe(path, output_dir=str(tmp_path / "out"), stand_ins=stand_ins)
    assert report.passed, report.stages[0].error
    assert any(f"first 6 rows of {data}" in item for item in report.stages[0].exercised)
    assert not report.stages[0].warnings


def _data_section(source: str, **extra: Any) -> dict[str, Any]:
    return {"stage": "grpo", "data": {"source": source, "prompt_column": "problem", **extra},
            "rewards": [{"name": "math_accuracy", "params": {"answer_column": "answer"}}]}


HUB_ROWS = [{"problem": f"What is {i} + 2?", "answer": str(i + 2), "level": i % 3} for i in range(10)]


def test_a_hub_dataset_gives_its_first_rows_from_the_cache_offline_or_streamed_online(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    calls: list[dict[str, Any]] = []

    def load_dataset(name: str, subset: str | None = None, *, split: str, streaming: bool = False) -> Any:
        calls.append({"name": name, "subset": subset, "split": split, "streaming": streaming})
        rows = datasets.Dataset.from_list(HUB_ROWS)
        return rows.to_iterable_dataset() if streaming else rows

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    for offline in (True, False):
        monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", offline)
        raw = _data_section("someone/math-set", subset="main", split="train[:90%]", max_samples=1000)
        report = StageReport(name="s", recipe="r.yaml")
        dry_run_data(raw, tmp_path, tmp_path / f"work{offline}", report)
        split = "train[:90%]" if offline else "train"  # a streamed split takes no slice
        assert calls[-1] == {"name": "someone/math-set", "subset": "main", "split": split, "streaming": not offline}
        written = [json.loads(line) for line in Path(raw["data"]["source"]).read_text().splitlines()]
        assert written == HUB_ROWS[:6] and not report.warnings
        assert "subset" not in raw["data"] and "max_samples" not in raw["data"] and raw["data"]["split"] == "train"
        where = "the local cache" if offline else "streamed from the hub"
        assert any(f"first 6 rows of 'someone/math-set' ({where})" in note for note in report.exercised)


def test_a_dataset_directory_gives_its_first_rows(tmp_path: Path) -> None:
    folder = tmp_path / "my_dataset"
    folder.mkdir()
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in HUB_ROWS))
    raw = _data_section("my_dataset")
    report = StageReport(name="s", recipe="r.yaml")
    dry_run_data(raw, tmp_path, tmp_path / "work", report)
    written = [json.loads(line) for line in Path(raw["data"]["source"]).read_text().splitlines()]
    assert written == HUB_ROWS[:6] and not report.warnings


def test_an_unreachable_or_slow_hub_dataset_is_synthesized_saying_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import datasets

    import rltrain.run.dry_run as dry_run

    release = threading.Event()

    def unreachable(name: str, subset: str | None = None, **kwargs: Any) -> Any:
        if name == "slow/set":
            release.wait(10)
        raise ConnectionError("Couldn't reach 'someone/set' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    monkeypatch.setattr(dry_run, "HUB_ROWS_TIMEOUT_S", 0.3)
    for name, reason in (("someone/set", "ConnectionError: Couldn't reach"), ("slow/set", "no rows within 0.3 s")):
        raw = _data_section(name)
        report = StageReport(name="s", recipe="r.yaml")
        dry_run.dry_run_data(raw, tmp_path, tmp_path / name.replace("/", "_"), report)
        (warning,) = report.warnings
        assert f"the dataset {name!r} could not be read here ({reason}" in warning and "SYNTHESIZED" in warning
        assert {"problem", "answer"} <= set(json.loads(Path(raw["data"]["source"]).read_text().splitlines()[0]))
    release.set()


def test_missing_reward_column_names_the_field(tmp_path: Path, stand_ins: Path) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"problem": "1 + 1?", "solution": "2"}) + "\n" for _ in range(8)))
    path = _copy(tmp_path, "stage1_1p5b.yaml", lambda r: r["data"].update(source=str(data)))
    _failed_with(dry_run_recipe(path, output_dir=str(tmp_path / "out"), stand_ins=stand_ins),
                 "rewards.0.params.answer_column", "'answer'")


def test_missing_prompt_column_names_the_field(tmp_path: Path, stand_ins: Path) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"question": "1 + 1?", "answer": "2"}) + "\n" for _ in range(8)))
    path = _copy(tmp_path, "stage1_1p5b.yaml", lambda r: r["data"].update(source=str(data)))
    _failed_with(dry_run_recipe(path, output_dir=str(tmp_path / "out"), stand_ins=stand_ins), "data.prompt_column")


def test_reward_param_typo_names_the_field(tmp_path: Path, stand_ins: Path) -> None:
    path = _copy(tmp_path, "stage1_7b.yaml", lambda r: r["rewards"][0]["params"].update(answer_colum="answer"))
    _failed_with(dry_run_recipe(path, output_dir=str(tmp_path / "out"), stand_ins=stand_ins),
                 "rewards.0 (math_accuracy).params", "answer_colum")


def test_template_without_think_prefill_fails_for_thinking_rewards(tmp_path: Path, stand_ins: Path) -> None:
    """A model directory whose tokenizer carries an instruct template (no <think> anywhere) under a recipe
    scored by think_format: the dry run uses that local tokenizer and names the model and the reward."""
    model_dir = tmp_path / "instruct-model"
    model_dir.mkdir()
    config = (MODEL_CONFIGS / "deepseek-ai__DeepSeek-R1-Distill-Qwen-1.5B" / "config.json").read_text()
    (model_dir / "config.json").write_text(config)
    template_tokenizer(QWEN25).save_pretrained(model_dir)
    path = _copy(tmp_path, "stage1_1p5b.yaml", lambda r: r["model"].update(name_or_path=str(model_dir)))
    report = dry_run_recipe(path, output_dir=str(tmp_path / "out"), stand_ins=stand_ins)
    _failed_with(report, "model.name_or_path", "rewards.1 (think_format)", "<think>")
    assert any("the model's own tokenizer" in item for item in report.stages[0].exercised)


def test_cli_dry_run_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rltrain.cli.app import main

    path = _copy(tmp_path, "stage1_7b.yaml", lambda r: r["rewards"][0]["params"].update(answer_colum="answer"))
    assert main(["train", str(path), "--dry-run", "--set", f"output_dir={tmp_path / 'out'}"]) == 1
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "FAIL" in out and "answer_colum" in out
    assert (tmp_path / "out" / "dry_run.json").is_file()


@pytest.mark.slow
def test_every_qwq_recipe_dry_runs(tmp_path: Path, stand_ins: Path) -> None:
    """Every recipe and pipeline of recipes/qwq, two steps each, checkpoint and resume included."""
    failures, retained = [], []
    for path in sorted(QWQ_RECIPES.glob("*.yaml")):
        run = dry_run_pipeline if path.name.startswith("pipeline") else dry_run_recipe
        report = run(path, output_dir=str(tmp_path / path.stem), stand_ins=stand_ins)
        failures += [f"{path.name} / {s.name}: {s.error}" for s in report.stages if not s.passed]
        retained += [path.name for s in report.stages
                     if any(n.startswith("eval.retention: ") and "before and after" in n for n in s.exercised)]
    assert not failures, "\n".join(failures)
    # the stage-two recipes evaluate stage one's held-out set too (eval.retention), miniature and all
    assert {"stage2_1p5b.yaml", "stage2_7b.yaml", "stage2_32b.yaml"} <= set(retained), retained

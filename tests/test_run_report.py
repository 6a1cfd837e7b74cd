"""`rltrain report`: plots and a Markdown/HTML summary from metrics.jsonl and summary.json."""

import json
import logging
import os

import pytest

from rltrain.cli import EXIT_RECIPE, main
from rltrain.errors import RecipeError
from rltrain.reporting.run_report import load_run, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def grpo_record(step, *, kl=True, masked=0.0):
    """One logging step as MetricsLogger writes it for a GRPO stage (keys from a real smoke run)."""
    record = {
        "step": step, "epoch": step / 200, "time": 0.9 * step, "loss": 0.01 * step, "grad_norm": 0.7,
        "learning_rate": 0.0001, "num_tokens": 3000.0 * step,
        "completions/mean_length": 20.0 + step, "completions/min_length": 10.0, "completions/max_length": 40.0 + step,
        "completions/clipped_ratio": 0.01 * (step % 3), "completions/mean_terminated_length": 19.0 + step,
        "rewards/math_accuracy/mean": 0.1 + 0.02 * step, "rewards/math_accuracy/std": 0.3,
        "rewards/think_format/mean": 0.4 + 0.05 * step, "rewards/think_format/std": 0.45,
        "reward": 0.2 + 0.03 * step, "reward_std": 0.35, "frac_reward_zero_std": 0.0,
        "rewards/math_accuracy/errored": 0.0, "rewards/math_accuracy/masked": masked,
        "rewards/math_accuracy/timed_out": 0.0, "rewards/think_format/errored": 0.0,
        "rewards/think_format/masked": 0.0, "rewards/think_format/timed_out": 0.0,
        "verifiers/math/no_answer_found": 0.00625, "entropy": 0.22 - 0.005 * step,
        "clip_ratio/low_mean": 0.0, "clip_ratio/high_mean": 0.0, "step_time": 0.9,
    }
    if kl:
        record["kl"] = 0.001 * step
    return record


def eval_result(accuracy, math, fmt, model="tiny"):
    return {"model": model, "accuracy": accuracy, "metric": "math_accuracy", "num_prompts": 100, "num_samples": 4,
            "rewards": {"math_accuracy": math, "think_format": fmt},
            "masked": {"math_accuracy": 0, "think_format": 0}, "seconds": 3.5}


def grpo_summary(name="stage1_math", *, before=0.13, after=0.2475, steps=6, eval_=True):
    counts = {"calls": steps, "completions": 32 * steps, "masked": 0, "timed_out_calls": 0, "errored_calls": 0,
              "last_error": None}
    return {
        "name": name, "kind": "grpo", "completed": True, "interrupted": False, "steps": steps,
        "train_seconds": 54.47, "wall_seconds": 61.71, "first_reward": 0.23, "last_reward": 0.38,
        "first_log": {}, "last_log": {}, "rewards": {"math_accuracy": dict(counts), "think_format": dict(counts)},
        "resumed_from": None, "final_dir": f"/x/{name}/final",
        "eval_before": eval_result(before, before, 0.22) if eval_ else None,
        "eval_after": eval_result(after, after, 0.9975) if eval_ else None,
        "retention": None, "distributed": {"mode": "single", "num_processes": 1, "main_process_port": None},
    }


def write_stage(directory, *, records, summary=None, truncated=False):
    directory.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in records)
    if truncated:
        text += json.dumps(grpo_record(99))[:57]  # a run killed mid-write: no closing brace, no newline
    (directory / "metrics.jsonl").write_text(text)
    if summary is not None:
        (directory / "summary.json").write_text(json.dumps(summary, indent=2))
    return directory


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert len(data) > 5000, (path, len(data))


def test_single_stage_report_has_plots_and_the_stage_row(tmp_path):
    stage = write_stage(tmp_path / "stage1_math", records=[grpo_record(s) for s in range(1, 7)], summary=grpo_summary())
    files = write_report(stage)

    assert files.directory == stage / "report"
    names = {p.name for p in files.plots}
    assert names == {"eval_accuracy.png", "stage1_math_rewards.png", "stage1_math_lengths.png", "stage1_math_kl.png",
                     "stage1_math_entropy.png", "stage1_math_loss.png"}
    for path in files.plots:
        assert path.parent == files.directory
        assert_png(path)
    markdown = files.markdown.read_text()
    row = next(line for line in markdown.splitlines() if line.startswith("| stage1_math |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:4] == ["stage1_math", "grpo", "6", "54 s"]
    assert cells[4:10] == ["math_accuracy (100x4)", "13.0%", "24.8%", "+11.8 pts", "0.230", "0.380"]
    assert "Not logged" not in markdown  # every tracked series is there
    for path in files.plots:
        assert f"]({path.name})" in markdown  # relative image links
    reward_row = next(line for line in markdown.splitlines() if line.startswith("| math_accuracy |"))
    assert "0 / 192" in reward_row  # masked completions over the run, from summary.json
    assert "No completion was masked, timed out or errored." in markdown


def test_html_is_self_contained(tmp_path):
    stage = write_stage(tmp_path / "s", records=[grpo_record(s) for s in range(1, 4)], summary=grpo_summary("s"))
    files = write_report(stage, tmp_path / "elsewhere")
    page = files.html.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count('src="data:image/png;base64,') == len(files.plots)
    assert "<link" not in page and "<script" not in page and "http" not in page
    assert "<td class=\"r\">24.8%</td>" in page


def test_absent_series_get_no_plot_and_are_named(tmp_path):
    records = [grpo_record(s, kl=False) for s in range(1, 5)]
    for record in records:
        del record["entropy"]
    stage = write_stage(tmp_path / "run", records=records, summary=grpo_summary("run"))
    files = write_report(stage)
    names = {p.name for p in files.plots}
    assert "run_kl.png" not in names and "run_entropy.png" not in names
    assert not (files.directory / "run_kl.png").exists()
    assert "run_rewards.png" in names
    assert "Not logged (no plot): `kl`, `entropy`." in files.markdown.read_text()


def test_nonzero_masked_share_is_plotted(tmp_path):
    records = [grpo_record(s, masked=0.25 if s == 3 else 0.0) for s in range(1, 6)]
    summary = grpo_summary("code")
    summary["rewards"]["math_accuracy"]["masked"] = 8
    stage = write_stage(tmp_path / "code", records=records, summary=summary)
    files = write_report(stage)
    assert_png(files.directory / "code_reward_guard.png")
    markdown = files.markdown.read_text()
    assert "8 / 192" in markdown and "No completion was masked" not in markdown


def test_stage_without_eval_has_dashes(tmp_path):
    stage = write_stage(tmp_path / "noeval", records=[grpo_record(s) for s in range(1, 4)],
                        summary=grpo_summary("noeval", eval_=False))
    files = write_report(stage)
    row = next(line for line in files.markdown.read_text().splitlines() if line.startswith("| noeval |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[4:8] == ["-", "-", "-", "-"]
    assert "eval_accuracy.png" not in {p.name for p in files.plots}  # nothing to draw


def test_truncated_last_metrics_line_is_skipped(tmp_path, caplog):
    stage = write_stage(tmp_path / "killed", records=[grpo_record(s) for s in range(1, 5)], truncated=True)
    with caplog.at_level(logging.WARNING, logger="rltrain.run.layout"):
        files = write_report(stage)
    assert "truncated last line 5" in caplog.text
    markdown = files.markdown.read_text()
    assert "No `summary.json`" in markdown and "line(s) 5" in markdown
    row = next(line for line in markdown.splitlines() if line.startswith("| killed |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "4" and cells[3] == "-" and cells[5:7] == ["-", "-"] and cells[-1] == "incomplete"
    assert_png(files.directory / "killed_rewards.png")


def sft_record(step):
    return {"step": step, "epoch": step / 30, "time": 0.3 * step, "loss": 4.0 / step, "grad_norm": 1.3,
            "learning_rate": 0.003, "entropy": 5.0 / step, "mean_token_accuracy": 0.27, "num_tokens": 3100.0 * step}


def test_pipeline_directory_has_one_section_per_stage_in_order(tmp_path):
    out = tmp_path / "pipe"
    sft = {**grpo_summary("cold_start", before=0.0, after=0.13), "kind": "sft", "rewards": {},
           "first_reward": None, "last_reward": None}
    stage1 = grpo_summary("stage1_math", before=0.13, after=0.2475)
    stage2 = grpo_summary("stage2_general", before=0.05, after=0.215)
    stage2["retention"] = {"recipe": "stage1.yaml", "before": eval_result(0.2475, 0.2475, 0.99),
                           "after": eval_result(0.2175, 0.2175, 0.99)}
    write_stage(out / "cold_start", records=[sft_record(s) for s in range(1, 5)], summary=sft)
    write_stage(out / "stage1_math", records=[grpo_record(s, kl=False) for s in range(1, 5)], summary=stage1)
    write_stage(out / "stage2_general", records=[grpo_record(s) for s in range(1, 5)], summary=stage2)
    pipeline = [{"stage": s["name"], **s} for s in (sft, stage1, stage2)]
    (out / "pipeline_summary.json").write_text(json.dumps(pipeline))

    kind, stages = load_run(out)
    assert kind == "pipeline" and [s.name for s in stages] == ["cold_start", "stage1_math", "stage2_general"]
    files = write_report(out)
    markdown = files.markdown.read_text()
    headings = [line for line in markdown.splitlines() if line.startswith("## Stage ")]
    assert headings == ["## Stage cold_start (sft)", "## Stage stage1_math (grpo)", "## Stage stage2_general (grpo)"]
    assert "| ↳ retention | eval |" in markdown and "24.8% | 21.8% | -3.0 pts" in markdown
    sft_section = markdown.split("## Stage cold_start")[1].split("## Stage stage1_math")[0]
    assert "`reward`" in sft_section and "`kl`" in sft_section  # SFT logs neither
    names = {p.name for p in files.plots}
    assert {"cold_start_loss.png", "cold_start_entropy.png", "stage1_math_rewards.png", "stage2_general_kl.png",
            "eval_accuracy.png"} <= names
    assert "cold_start_rewards.png" not in names and "stage1_math_kl.png" not in names
    for path in files.plots:
        assert_png(path)


def test_killed_pipeline_without_its_summary_is_read_from_stage_directories(tmp_path):
    out = tmp_path / "pipe"
    write_stage(out / "a_first", records=[grpo_record(1)], summary=grpo_summary("a_first"))
    write_stage(out / "b_second", records=[grpo_record(1)], truncated=True)
    kind, stages = load_run(out)
    assert kind == "pipeline" and len(stages) == 2
    assert write_report(out).markdown.is_file()


def test_stages_missing_from_the_pipeline_summary_are_placed_by_start_time(tmp_path):
    out = tmp_path / "pipe"
    for i, name in enumerate(["cold_start", "stage1_math", "stage2_general"]):
        stage = write_stage(out / name, records=[grpo_record(1)], summary=grpo_summary(name))
        (stage / "recipe.yaml").write_text(f"name: {name}\nstage: grpo\n")
        os.utime(stage / "recipe.yaml", (1_000_000 + i, 1_000_000 + i))
    # `rltrain pipeline --only stage2_general` leaves a pipeline_summary.json of that stage alone.
    (out / "pipeline_summary.json").write_text(json.dumps([{"stage": "stage2_general", **grpo_summary("stage2_general")}]))
    _, stages = load_run(out)
    assert [s.name for s in stages] == ["cold_start", "stage1_math", "stage2_general"]


@pytest.mark.parametrize("contents", [{}, {"notes.txt": "hello"}])
def test_a_directory_without_run_output_is_a_clear_error(tmp_path, contents):
    for name, text in contents.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(RecipeError) as raised:
        write_report(tmp_path)
    message = str(raised.value)
    assert str(tmp_path) in message
    assert "metrics.jsonl" in message and "summary.json" in message and "pipeline_summary.json" in message


def test_a_corrupt_summary_names_the_file(tmp_path):
    stage = write_stage(tmp_path / "s", records=[grpo_record(1)])
    (stage / "summary.json").write_text('{"name": "s", "steps":')
    with pytest.raises(RecipeError, match="summary.json: not valid JSON"):
        write_report(stage)


def test_cli_writes_the_report_and_prints_the_paths(tmp_path, capsys):
    stage = write_stage(tmp_path / "stage", records=[grpo_record(s) for s in range(1, 4)], summary=grpo_summary("stage"))
    assert main(["report", str(stage)]) == 0
    printed = capsys.readouterr().out.split()
    assert str(stage / "report" / "report.md") in printed and str(stage / "report" / "report.html") in printed
    assert all((stage / "report" / name).is_file() for name in ("report.md", "report.html", "stage_rewards.png"))

    assert main(["report", str(stage), "--out", str(tmp_path / "custom")]) == 0
    assert (tmp_path / "custom" / "report.html").is_file()


def test_cli_bad_directory_exits_2(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == EXIT_RECIPE
    assert "no run output found" in capsys.readouterr().err


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as done:
        main(["report", "--help"])
    assert done.value.code == 0
    assert "OUTPUT_DIR" in capsys.readouterr().out

"""``rltrain eval`` for benchmarks: --list, a run with the hf backend, SIGTERM -> 75 then a resumed run,
``eval score`` on a hand-made file, ``eval compare``, and one-line errors (exit 2)."""

import json

import pytest

from rltrain.cli import main
from rltrain.evaluation.benchmarks import registry
from rltrain.evaluation.benchmarks.base import DataUnavailable
from rltrain.evaluation.samples import SampleStore
from tests.eval_helpers import FakeBackend, ToyBenchmark


@pytest.fixture
def toy(monkeypatch):
    """``toy`` (tests.eval_helpers.ToyBenchmark) as a registered benchmark."""
    monkeypatch.setitem(registry.BENCHMARKS, "toy", registry._Entry("tests.eval_helpers", "ToyBenchmark"))


@pytest.fixture
def fake_backends(monkeypatch):
    """The backends the command line builds, replaced by FakeBackends made from the queued options."""
    made: list[FakeBackend] = []
    queued: list[dict] = []

    def build(args, kind, model):
        made.append(FakeBackend(**(queued.pop(0) if queued else {})))
        return made[-1]

    monkeypatch.setattr("rltrain.cli.eval._backend", build)
    return made, queued


def _stdout_path(capsys):
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_list_names_the_benchmarks_and_suites(capsys):
    assert main(["eval", "--list"]) == 0
    captured = capsys.readouterr()
    assert {"aime24", "ifeval", "livecodebench_v5"} <= set(captured.out.split())
    assert "suite qwq: aime24, aime25, livecodebench_v5, ifeval" in captured.err


def test_a_jsonl_benchmark_with_the_hf_backend_on_the_tiny_model(tmp_path, capsys, monkeypatch):
    assert main(["init-tiny", str(tmp_path / "m"), "--hidden-size", "32", "--layers", "1"]) == 0
    data = tmp_path / "sums.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"{i}+{i}=?", "answer": str(2 * i)}) + "\n" for i in range(2)))
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "m", "--benchmarks", f"mine={data}", "--n", "2", "--max-tokens", "4", "--backend", "hf"]) == 0
    out = tmp_path / _stdout_path(capsys)
    assert out.parent == tmp_path / "runs" / "eval" / f"{tmp_path.name}-m"
    results = json.loads((out / "results.json").read_text())
    assert results["fingerprint"] == out.name and results["model"] == str(tmp_path / "m")
    assert results["settings"]["max_tokens"] == 4 and results["settings"]["top_k"] == 40
    assert results["benchmarks"]["mine"]["samples"] == 4
    assert len(SampleStore(out / "samples.jsonl").load()) == 4


def test_sigterm_exits_75_and_the_same_command_continues(tmp_path, capsys, toy, fake_backends):
    made, queued = fake_backends
    command = ["eval", "toy-model", "--benchmarks", "toy", "--output", str(tmp_path / "e"), "--score-every", "3"]
    queued.append({"stop_after": 9, "signal_stop": True})
    assert main(command) == 75
    assert "the samples written so far are kept: run the same command again" in " ".join(capsys.readouterr().err.split())
    assert made[0].closed
    assert main(command) == 0
    assert not set(made[0].generated) & set(made[1].generated)
    assert len(made[0].generated) + len(made[1].generated) == 24
    assert main(["eval", "toy-model", "--benchmarks", "toy", "--output", str(tmp_path / "whole")]) == 0
    resumed = json.loads((tmp_path / "e" / "results.json").read_text())
    whole = json.loads((tmp_path / "whole" / "results.json").read_text())
    assert resumed["benchmarks"] == whole["benchmarks"]


def test_settings_flags_reach_the_fingerprint(tmp_path, capsys, toy, fake_backends):
    made, _ = fake_backends
    assert main(["eval", "toy-model", "--benchmarks", "toy", "--n", "1", "--top-k", "none", "--temperature", "1.0",
                 "--output", str(tmp_path / "e")]) == 0
    results = json.loads((tmp_path / "e" / "results.json").read_text())
    assert results["settings"]["top_k"] is None and results["settings"]["temperature"] == 1.0
    assert results["benchmarks"]["toy"]["n"] == 1
    assert main(["eval", "toy-model", "--benchmarks", "toy", "--n", "1", "--top-k", "none", "--temperature", "1.0",
                 "--output", str(tmp_path / "e")]) == 0
    assert made[1].generated == []
    assert main(["eval", "toy-model", "--benchmarks", "toy", "--n-per-benchmark", "toy=2", "--greedy",
                 "--output", str(tmp_path / "g")]) == 0
    greedy = json.loads((tmp_path / "g" / "results.json").read_text())
    assert greedy["settings"]["temperature"] == 0.0 and greedy["benchmarks"]["toy"]["n"] == 1


def test_score_scores_a_hand_made_file(tmp_path, capsys, toy):
    rows = [
        {"id": "t1", "completion": "answer 1"},
        {"id": "t1", "completion": "answer 2"},
        {"prompt": "question 2", "completion": "answer 2", "index": 5},
        {"prompt": [{"role": "user", "content": "question 3 "}], "completion": "answer 1", "finish_reason": "length"},
    ]
    path = tmp_path / "gen.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["eval", "score", str(path), "--benchmark", "toy"]) == 0
    out = tmp_path / "gen-toy"
    assert _stdout_path(capsys) == str(out)
    records = sorted(SampleStore(out / "samples.jsonl").load().values(), key=lambda r: r.key)
    assert [(r.id, r.index, r.correct, r.reason) for r in records] == [
        ("t1", 0, True, "correct"), ("t1", 1, False, "wrong_answer"), ("t2", 5, True, "correct"), ("t3", 0, False, "truncated")]
    results = json.loads((out / "results.json").read_text())
    assert results["settings"] is None and results["backend"] == "external"
    toy_metrics = results["benchmarks"]["toy"]
    assert toy_metrics["items"] == 3 and toy_metrics["n"] == 1 and toy_metrics["avg_at_n"] == pytest.approx((0.5 + 1 + 0) / 3)


@pytest.mark.parametrize(("row", "message"), [
    ({"prompt": "nothing like it", "completion": "x"}, "line 1: the prompt matches no item of toy"),
    ({"id": "t9", "completion": "x"}, "line 1: id 't9' is not an item of toy"),
    ({"id": "t1"}, "line 1: needs a 'completion' string"),
])
def test_score_names_the_line_at_fault(tmp_path, capsys, toy, row, message):
    path = tmp_path / "gen.jsonl"
    path.write_text(json.dumps(row) + "\n")
    assert main(["eval", "score", str(path), "--benchmark", "toy"]) == 2
    assert message in capsys.readouterr().err


def test_compare_reports_deltas_with_their_standard_error(tmp_path, capsys, toy, fake_backends):
    assert main(["eval", "toy-model", "--benchmarks", "toy", "--output", str(tmp_path / "a")]) == 0
    assert main(["eval", "toy-model", "--benchmarks", "toy", "--seed", "7", "--output", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    assert main(["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    captured = capsys.readouterr()
    deltas = json.loads(captured.out)
    a = json.loads((tmp_path / "a" / "results.json").read_text())["benchmarks"]["toy"]
    b = json.loads((tmp_path / "b" / "results.json").read_text())["benchmarks"]["toy"]
    toy_delta = next(d for d in deltas if d["benchmark"] == "toy")
    assert toy_delta["delta"] == pytest.approx(b["avg_at_n"] - a["avg_at_n"])
    assert toy_delta["stderr"] == pytest.approx((a["stderr"] ** 2 + b["stderr"] ** 2) ** 0.5)
    assert toy_delta["significant"] == (abs(toy_delta["delta"]) > 2 * toy_delta["stderr"])
    assert {d["benchmark"] for d in deltas} == {"toy", "toy [parity=even]", "toy [parity=odd]"}
    assert "note: seed differs: A 0, B 7" in captured.err


class _Offline(ToyBenchmark):
    def load(self, cache):
        raise DataUnavailable(f"toy: offline; place toy.jsonl in {cache.path('toy', 'toy.jsonl')}")


@pytest.mark.parametrize(("argv", "message"), [
    (["eval", "--benchmarks", "toy"], "give the model to evaluate"),
    (["eval", "m", "--benchmarks", "toy", "--recipe", "r.yaml"], "--recipe: not an option of benchmark evaluation"),
    (["eval", "m", "--benchmarks", "nope"], "unknown benchmark 'nope'"),
    (["eval", "m", "--suite", "nope"], "unknown suite 'nope'"),
    (["eval", "m", "--benchmarks", "toy", "--n-per-benchmark", "toy"], "expected NAME=N"),
    (["eval", "m", "--benchmarks", "toy", "--backend", "openai"], "--backend openai needs --base-url"),
    (["eval", "m", "--benchmarks", "offline"], "place toy.jsonl in"),
    (["eval", "score", "x.jsonl"], "usage: rltrain eval score"),
    (["eval", "compare", "a"], "usage: rltrain eval compare"),
    (["eval", "compare", "a", "b"], "no results.json"),
    (["eval", "r.yaml", "--temperature", "1.0"], "--temperature: not an option of held-out evaluation"),
    (["eval"], "give a recipe or a model"),
])
def test_errors_are_one_line_exit_2(capsys, monkeypatch, tmp_path, toy, argv, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(registry.BENCHMARKS, "offline", registry._Entry("tests.test_eval_cli", "_Offline"))
    assert main(argv) == 2
    assert message in capsys.readouterr().err

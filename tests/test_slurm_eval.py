"""slurm/eval.slurm on a simulated one-node allocation (tests/slurm_sim: srun, scontrol and a ``vllm serve``
stand-in that answers /health and /v1/models): the server it starts, the ``rltrain eval`` command it runs
against it, and preemption (exit 75, or a USR1 to the batch shell, ends in a requeue). The evaluation is
a stand-in that records its arguments and checks, with the real openai backend, that the server serves
the model under the name it asks for. (test_slurm.py lints the script with bash -n and shellcheck.)"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SIM = Path(__file__).resolve().parent / "slurm_sim"

EVAL_STUB = """
import json, os, signal, sys, time
argv = sys.argv[1:]
from rltrain.evaluation.backends.openai import OpenAIBackend
backend = OpenAIBackend(argv[argv.index("--base-url") + 1], argv[0], max_retries=3, backoff_s=0.2)
backend.close()
with open(os.environ["STUB_RECORD"], "a") as f:
    f.write(json.dumps({"argv": argv}) + "\\n")
if os.environ.get("STUB_EVAL_WAIT"):
    signal.signal(signal.SIGUSR1, lambda *a: sys.exit(75))
    open(os.environ["STUB_EVAL_WAIT"], "w").close()
    time.sleep(60)
    sys.exit(3)
sys.exit(int(os.environ.get("STUB_EVAL_EXIT", "0")))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A one-node allocation where `python -m rltrain eval` is the stand-in above; every other rltrain
    command (wait-ready) is the real one."""
    stub = tmp_path / "python"
    (tmp_path / "eval_stub.py").write_text(EVAL_STUB)
    stub.write_text(
        "#!/bin/bash\n"
        'if [ "$1" = -m ] && [ "$2" = rltrain ] && [ "$3" = eval ]; then\n'
        f'  exec {sys.executable} {tmp_path / "eval_stub.py"} "${{@:4}}"\n'
        "fi\n"
        f'exec {sys.executable} "$@"\n'
    )
    stub.chmod(0o755)
    return {
        **os.environ,
        "PATH": os.pathsep.join([str(SIM), str(Path(sys.executable).parent), os.environ["PATH"]]),
        "SLURM_JOB_ID": "88", "SLURM_JOB_NAME": "eval", "SLURM_JOB_NODELIST": "127.0.0.1", "SLURM_JOB_NUM_NODES": "1",
        "SLURM_GPUS_ON_NODE": "8", "SLURM_SUBMIT_DIR": str(REPO), "RLTRAIN_PYTHON": str(stub),
        "RLTRAIN_LOG_DIR": str(tmp_path / "logs"), "RLTRAIN_VLLM_PORT": str(_free_port()), "RLTRAIN_SERVER_TIMEOUT": "60",
        "SLURM_SIM_REQUEUE_FILE": str(tmp_path / "requeued"), "SLURM_SIM_VLLM_LOG": str(tmp_path / "vllm.jsonl"),
        "STUB_RECORD": str(tmp_path / "calls.jsonl"),
        **extra,
    }


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _model(tmp_path: Path) -> Path:
    model = tmp_path / "models" / "stage1"
    model.mkdir(parents=True)
    return model


@pytest.mark.parametrize(("eval_exit", "script_exit", "requeued"), [(0, 0, False), (75, 0, True), (1, 1, False)])
def test_eval_script_serves_the_model_evaluates_against_it_and_requeues_only_a_stopped_run(tmp_path, eval_exit, script_exit,
                                                                                            requeued):
    model = _model(tmp_path)
    env = _env(tmp_path, STUB_EVAL_EXIT=str(eval_exit))
    result = subprocess.run(["bash", "slurm/eval.slurm", f"{model}/", str(tmp_path / "out")], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == script_exit, result.stderr
    assert (tmp_path / "requeued").exists() == requeued
    [server] = _records(tmp_path / "vllm.jsonl")
    assert server["model"] == str(model) and server["node"] == "127.0.0.1"
    assert server["tensor_parallel_size"] == 8 and server["data_parallel_size"] == 1 and server["extra"] == []
    [call] = _records(tmp_path / "calls.jsonl")
    port = env["RLTRAIN_VLLM_PORT"]
    assert call["argv"] == [str(model), "--backend", "openai", "--base-url", f"http://127.0.0.1:{port}/v1",
                            "--output", str(tmp_path / "out"), "--concurrency", "256", "--request-timeout", "7200",
                            "--suite", "qwq"]
    assert (tmp_path / "logs" / "vllm-127.0.0.1.log").exists()


def test_eval_script_passes_benchmarks_and_server_settings(tmp_path):
    model = _model(tmp_path)
    env = _env(tmp_path, RLTRAIN_VLLM_DP="2", RLTRAIN_VLLM_MAX_MODEL_LEN="40960",
               RLTRAIN_VLLM_ARGS="--enable-prefix-caching --seed 1")
    result = subprocess.run(["bash", "slurm/eval.slurm", str(model), str(tmp_path / "out"), "--",
                             "--benchmarks", "aime24,ifeval", "--concurrency", "32"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    [server] = _records(tmp_path / "vllm.jsonl")
    assert (server["tensor_parallel_size"], server["data_parallel_size"], server["max_model_len"]) == (4, 2, 40960)
    assert server["extra"] == ["--enable-prefix-caching", "--seed", "1"]
    [call] = _records(tmp_path / "calls.jsonl")
    assert call["argv"][7:] == ["--concurrency", "256", "--request-timeout", "7200", "--benchmarks", "aime24,ifeval",
                                "--concurrency", "32"]


def test_a_stop_request_reaches_the_evaluation_and_the_job_requeues(tmp_path):
    started = tmp_path / "started"
    env = _env(tmp_path, STUB_EVAL_WAIT=str(started))
    job = subprocess.Popen(["bash", "slurm/eval.slurm", str(_model(tmp_path)), str(tmp_path / "out")], cwd=REPO, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not started.exists():
        assert job.poll() is None and time.monotonic() < deadline, job.communicate()[1] if job.poll() is not None else "no start"
        time.sleep(0.1)
    job.send_signal(signal.SIGUSR1)  # the batch shell, as `--signal=B:USR1@...` does
    _, stderr = job.communicate(timeout=60)
    assert job.returncode == 0, stderr
    assert "stop requested: the evaluation keeps its finished samples" in stderr
    assert (tmp_path / "requeued").read_text().split() == ["88"]


def test_eval_script_usage(tmp_path):
    result = subprocess.run(["bash", "slurm/eval.slurm", "only-a-model"], cwd=REPO, env=_env(tmp_path),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "usage: sbatch" in result.stderr
    result = subprocess.run(["bash", "slurm/eval.slurm", "m", "out", "--benchmarks", "x"], cwd=REPO, env=_env(tmp_path),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "go after --" in result.stderr

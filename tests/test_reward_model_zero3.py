"""The in-process reward model inside a 2-process DeepSpeed ZeRO-3 run: partitioned across the ranks,
scored collectively (ranks with fewer batches pad with forward passes), same scores as unsharded.

The launch is :func:`rltrain.run.distributed.launch_command`'s ``-m`` form from an unrelated directory on CPU
(the DeepSpeed shim, gloo); each rank also reports what accelerate sees, as ``python -m
rltrain.run.distributed`` does (tests/test_distributed_shim.py covers the rest of the launch setup without
launching). The first DeepSpeed launch on a machine compiles its shared-memory communication extension
(about 100 s on 2 cores, cached in ~/.cache/torch_extensions afterwards)."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest

from rltrain.run.distributed import environment_for_launch, launch_command

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_sharded_reward_model_scores_like_an_unsharded_one(tmp_path):
    from rltrain.models.tiny import build_reward_model, build_tokenizer
    from rltrain.recipe import TinyModelConfig
    from verifiers.reward_model import RewardModel

    tok = build_tokenizer()
    shape = TinyModelConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                            intermediate_size=64)
    model = build_reward_model(shape, len(tok), tok.pad_token_id)
    model.save_pretrained(tmp_path / "rm")
    tok.save_pretrained(tmp_path / "rm")
    texts = [[["What is 2+2?", f"</think>\\boxed{{{i}}}"] for i in range(5)],  # rank 0: 3 batches of 2
             [["Say hi.", "hi"], ["Say hi.", "Hello there, friend."]]]          # rank 1: 1 batch
    cmd = launch_command("zero3", 2, [], main_process_port=_free_port())
    cmd[cmd.index("rltrain.cli")] = "tests.rm_zero3_ranks"
    env = {**os.environ, **environment_for_launch(), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore",
           "RM_PATH": str(tmp_path / "rm"), "RM_OUT": str(tmp_path / "out"), "RM_TEXTS": json.dumps(texts)}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "terminate called" not in proc.stdout + proc.stderr  # torn down cleanly: the exit status is true
    reports = {r["rank"]: r for r in (json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{"))}
    assert sorted(reports) == [0, 1]
    unsharded = RewardModel(model, tok, batch_size=2)
    total = sum(p.numel() for p in model.parameters())
    for rank, report in reports.items():
        assert report["num_processes"] == 2 and report["distributed_type"].endswith("DEEPSPEED")
        assert report["backend"] == "gloo" and report["mixed_precision"] == "no"
        assert report["cpu_deepspeed_shim"] is True and report["rank_sum_ok"] is True
        assert report["collective"] is True
        assert report["local_params"] < total  # this rank holds a partition, not the whole model
        pairs = [([{"role": "user", "content": p}], c) for p, c in texts[rank]]
        assert report["scores"] == pytest.approx(unsharded.score(pairs), abs=1e-4)

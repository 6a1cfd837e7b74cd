"""Reward model scoring: in-process API, normalisation, the registered reward, gating, and the server."""

import http.client
import json
import socket
import threading

import pytest

import verifiers
from rltrain.models.tiny import write_tiny_reward_model
from rltrain.recipe import TinyModelConfig, recipe_from_dict
from verifiers import VerifierError
from verifiers.reward_model import RewardModel, load_reward_model, normalize

PROMPT = [{"role": "user", "content": "What is 2+2? Wrap your answer in double quotes."}]


@pytest.fixture(scope="module")
def rm_dir(tmp_path_factory):
    shape = TinyModelConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                            intermediate_size=64, seed=3)
    return str(write_tiny_reward_model(tmp_path_factory.mktemp("rm"), shape))


@pytest.fixture(scope="module")
def rm(rm_dir):
    return load_reward_model(rm_dir, batch_size=3)


def _pairs(n):
    return [(PROMPT, f"reasoning {i}</think>" + '"\\boxed{4}"' * (1 + i % 3)) for i in range(n)]


def test_batched_scores_match_one_by_one_in_order(rm):
    pairs = _pairs(7)
    together = rm.score(pairs)
    alone = [rm.score([p])[0] for p in pairs]
    assert together == pytest.approx(alone, abs=1e-4)
    assert len({round(s, 5) for s in together}) > 1


def test_thinking_is_stripped_unless_kept(rm):
    answer = '"\\boxed{4}"'
    assert rm.score([(PROMPT, "long reasoning</think>" + answer)]) == pytest.approx(rm.score([(PROMPT, answer)]))
    keep = RewardModel(rm.model, rm.tokenizer, thinking="keep")
    assert keep.score([(PROMPT, "long reasoning</think>" + answer)]) != pytest.approx(rm.score([(PROMPT, answer)]))


def test_truncation_keeps_the_end_or_the_start(rm):
    left = RewardModel(rm.model, rm.tokenizer, max_length=20, truncation="left")
    right = RewardModel(rm.model, rm.tokenizer, max_length=20, truncation="right")
    a = [{"role": "user", "content": "A" * 200 + " tail"}]
    b = [{"role": "user", "content": "B" * 200 + " tail"}]
    assert left.score([(a, "same")]) == pytest.approx(left.score([(b, "same")]))  # only the start differs
    assert right.score([(a, "one")]) == pytest.approx(right.score([(a, "two")]))  # only the end differs


def test_normalisations():
    assert normalize([0.0, 2.0], "raw") == [0.0, 2.0]
    assert normalize([0.0], "sigmoid") == [0.5]
    z = normalize([1.0, 3.0, 5.0, 5.0], "group", prompts=["p", "p", "q", "q"])
    assert z == pytest.approx([-1.0, 1.0, 0.0, 0.0])
    with pytest.raises(VerifierError):
        normalize([1.0], "group")


def test_registered_reward_checks_params_and_scores(rm_dir, rm):
    with pytest.raises(VerifierError, match="model_path"):
        verifiers.build_reward("reward_model", {})
    with pytest.raises(VerifierError, match="url"):
        verifiers.build_reward("reward_model", {"mode": "remote"})
    with pytest.raises(VerifierError, match="normalization"):
        verifiers.build_reward("reward_model", {"model_path": rm_dir, "normalization": "minmax"})
    reward = verifiers.build_reward("reward_model", {"model_path": rm_dir, "normalization": "sigmoid"})
    pairs = _pairs(4)
    scores = reward([p for p, _ in pairs], [[{"role": "assistant", "content": r}] for _, r in pairs])
    assert all(0 < s < 1 for s in scores)
    assert scores == pytest.approx(normalize(rm.score(pairs), "sigmoid"), abs=1e-5)
    missing = verifiers.build_reward("reward_model", {"model_path": "/no/such/rm"})
    with pytest.raises(VerifierError, match="not found"):
        missing([PROMPT], ["x"])


def test_a_format_failure_zeroes_the_gated_reward_and_is_logged(rm_dir):
    from rltrain.rewards import build_rewards

    recipe = recipe_from_dict({
        "model": {"name_or_path": "tiny"}, "data": {"source": "synthetic:instructions"}, "output_dir": "unused",
        "rewards": [{"name": "reward_model", "params": {"model_path": rm_dir, "normalization": "sigmoid"},
                     "gate": ["think_format"]}, {"name": "think_format"}],
    })
    gated, _ = build_rewards(recipe)
    logged = {}
    completions = [[{"role": "assistant", "content": t}] for t in ("think</think>answer", "no closing tag")]
    scores = gated([PROMPT, PROMPT], completions, log_metric=logged.__setitem__)
    assert scores[0] > 0 and scores[1] == 0.0
    assert logged["rewards/reward_model/gated"] == 0.5
    with pytest.raises(Exception, match="gate"):
        recipe_from_dict({"model": {"name_or_path": "tiny"}, "data": {"source": "synthetic:instructions"},
                          "output_dir": "unused", "rewards": [{"name": "think_format", "gate": ["nope"]}]})


@pytest.fixture(scope="module")
def server(rm):
    from verifiers.reward_model.server import build_service

    service, batcher = build_service(rm, port=0, max_batch=8, max_wait_ms=20, model_path="tiny-rm")
    service.start()
    yield service, batcher
    service.shutdown()
    batcher.close()


def test_server_scores_concurrent_clients_like_in_process(rm, server):
    from verifiers.reward_model.client import RewardModelClient

    service, batcher = server
    expected = {i: rm.score(_pairs(5 + i)) for i in range(6)}
    got, errors = {}, []

    def run(i):
        try:
            got[i] = RewardModelClient(service.url, batch_size=2).score(_pairs(5 + i))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    for i in range(6):
        assert got[i] == pytest.approx(expected[i], abs=1e-4)
    assert batcher.batches >= 1
    texts = [rm.render(p, r) for p, r in _pairs(3)]
    conn = http.client.HTTPConnection(*service.address, timeout=30)
    conn.request("POST", "/get_reward", json.dumps({"query": texts}), {"Content-Type": "application/json"})
    assert json.loads(conn.getresponse().read())["rewards"] == pytest.approx(rm.score(_pairs(3)), abs=1e-4)
    conn.request("GET", "/health")
    health = json.loads(conn.getresponse().read())
    assert health["status"] == "ok" and health["model"] == "tiny-rm"


def test_server_survives_a_client_that_disconnects(rm, server):
    from verifiers.reward_model.client import RewardModelClient

    service, _ = server
    body = json.dumps({"pairs": [{"messages": PROMPT, "response": r} for _, r in _pairs(8)]}).encode()
    for partial in (False, True):
        sock = socket.create_connection(service.address)
        head = f"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode() + (body[:10] if partial else body))
        sock.close()  # gone before (or while) the answer is written
    assert RewardModelClient(service.url).score(_pairs(2)) == pytest.approx(rm.score(_pairs(2)), abs=1e-4)


def test_remote_reward_mode_matches_in_process(rm_dir, server):
    service, _ = server
    local = verifiers.build_reward("reward_model", {"model_path": rm_dir})
    remote = verifiers.build_reward("reward_model", {"mode": "remote", "url": service.url, "batch_size": 2})
    prompts = [p for p, _ in _pairs(5)]
    completions = [[{"role": "assistant", "content": r}] for _, r in _pairs(5)]
    assert remote(prompts, completions) == pytest.approx(local(prompts, completions), abs=1e-4)
    bad = {"pairs": [{"response": "x"}]}
    conn = http.client.HTTPConnection(*service.address, timeout=30)
    conn.request("POST", "/score", json.dumps(bad), {"Content-Type": "application/json"})
    answer = conn.getresponse()
    assert answer.status == 400 and "messages" in json.loads(answer.read())["error"]


def test_cli_serves_until_sigterm(rm_dir):
    import re
    import signal
    import subprocess
    import sys
    import time

    from verifiers.reward_model.client import RewardModelClient

    proc = subprocess.Popen([sys.executable, "-m", "rltrain", "rm", "serve", rm_dir, "--port", "0"],
                            stderr=subprocess.PIPE, text=True)
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            found = re.search(r"on (http://\S+)", line)
            url = found.group(1) if found else None
        assert url, "the server did not announce its address"
        assert len(RewardModelClient(url).score(_pairs(3))) == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0

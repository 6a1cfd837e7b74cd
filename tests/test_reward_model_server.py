"""The reward-model server under hostile or careless requests, tested at the HTTP level.

Each request is isolated in the shared dynamic batcher, forward passes stay within a token budget
(what bounds memory), per-request caps answer 413, work nobody waits for any more is abandoned, the
batcher's counters show on /metrics, SIGTERM stops within a bounded time, and a checkpoint without a
trained score head is refused.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.http_raw import post_json, prometheus, read_answer, request_head
from tests.test_reward_model import PROMPT, _pairs, rm, rm_dir  # noqa: F401 - fixtures

TEXT_2KB = "reward " * 292  # 2044 characters


def _texts(rm, n):  # noqa: F811
    return [rm.render(p, r) for p, r in _pairs(n)]


@pytest.fixture
def serve(rm):  # noqa: F811
    """Start servers with the given options; all are shut down after the test."""
    from verifiers.reward_model.server import build_service

    started = []

    def start(**options):
        service, batcher = build_service(rm, port=0, model_path="tiny-rm", **options)
        started.append((service.start(), batcher))
        return service, batcher

    yield start
    for service, batcher in started:
        service.shutdown(timeout=5)
        batcher.close()


def test_an_empty_query_is_400_naming_it_not_500(serve):
    service, _ = serve()
    answer = post_json(service.address, "/get_reward", {"query": ["fine text", ""]})
    assert answer.status == 400 and "query[1]" in answer.error and "empty" in answer.error


def test_a_text_that_cannot_be_tokenized_fails_only_its_own_request(rm, serve):  # noqa: F811
    service, batcher = serve(max_wait_ms=400)
    good = _texts(rm, 20)
    answers = {}

    def post(name, texts):
        answers[name] = post_json(service.address, "/get_reward", {"query": texts})

    threads = [threading.Thread(target=post, args=("good", good)),
               threading.Thread(target=post, args=("bad", ["fine", "lone \ud800 surrogate"]))]
    for t in threads:
        t.start()
        time.sleep(0.05)  # both inside one batching window
    for t in threads:
        t.join(60)
    assert answers["good"].status == 200, answers["good"].body
    assert answers["good"].body["rewards"] == pytest.approx(rm.score_texts(good), abs=1e-4)
    assert answers["bad"].status == 400 and "query[1]" in answers["bad"].error


def test_requests_over_the_per_request_caps_are_413(serve):
    service, _ = serve(max_texts=4, max_chars=1000)
    many = post_json(service.address, "/get_reward", {"query": ["a"] * 5})
    assert many.status == 413 and "4" in many.error and "texts" in many.error
    long = post_json(service.address, "/get_reward", {"query": ["a" * 600, "b" * 600]})
    assert long.status == 413 and "1000" in long.error
    pairs = post_json(service.address, "/score", {"pairs": [{"messages": "p", "response": "r"}] * 5})
    assert pairs.status == 413


def test_forward_passes_stay_within_the_token_budget(rm, serve):  # noqa: F811
    budget = 3000
    service, batcher = serve(max_batch=64, max_batch_tokens=budget, max_wait_ms=50)
    passes = []
    original = rm.score_texts

    def spy(texts):
        lengths = [len(rm.tokenizer(t, add_special_tokens=False, truncation=True, max_length=rm.max_length)["input_ids"])
                   for t in texts]
        passes.append(len(lengths) * max(lengths))
        return original(texts)

    texts = [TEXT_2KB[: 100 + 37 * i] for i in range(40)]
    rm.score_texts = spy
    try:
        answer = post_json(service.address, "/get_reward", {"query": texts}, timeout=60)
    finally:
        del rm.score_texts
    assert answer.status == 200
    assert answer.body["rewards"] == pytest.approx(rm.score_texts(texts), abs=1e-4)
    assert len(passes) > 1 and max(passes) <= budget, passes


def _wait_for(predicate, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _slow_request(texts: int) -> bytes:
    body = json.dumps({"query": [TEXT_2KB[:500]] * texts}).encode()
    return request_head("/get_reward", {"Content-Length": str(len(body)), "Content-Type": "application/json"}) + body


def test_work_for_a_disconnected_client_is_abandoned(serve):
    service, batcher = serve(max_batch_tokens=2048, max_wait_ms=1)
    with socket.create_connection(service.address) as sock:
        sock.sendall(_slow_request(2000))
        assert _wait_for(lambda: batcher.scored > 0, 30), "the batcher never started"
    # The client is gone: the batcher drops its remaining texts instead of scoring all 2000.
    assert _wait_for(lambda: batcher.abandoned > 0, 10), batcher.stats()
    assert batcher.scored < 2000
    started = time.monotonic()
    assert post_json(service.address, "/get_reward", {"query": ["next client"]}, timeout=30).status == 200
    assert time.monotonic() - started < 5


def test_a_passed_client_deadline_abandons_the_work(serve):
    service, batcher = serve(max_batch_tokens=2048, max_wait_ms=1)
    with socket.create_connection(service.address) as sock:
        sock.sendall(_slow_request(2000).replace(b"Content-Type", b"X-Request-Timeout: 0.5\r\nContent-Type", 1))
        started = time.monotonic()
        answer = read_answer(sock, timeout=30)
    assert answer.status == 504 and "abandoned" in answer.error
    assert time.monotonic() - started < 10
    assert batcher.abandoned > 0 and batcher.scored < 2000
    assert _batcher_metrics(service)["texts_abandoned_total"] > 0


def _batcher_metrics(service) -> dict[str, float]:
    """The batcher's families on ``/metrics`` (name without ``rltrain_rm_batcher_``), checked for TYPE and HELP."""
    import httpx

    parsed = prometheus(httpx.get(service.url + "/metrics", timeout=10).text)
    out = {}
    for (name, labels), value in parsed.samples.items():
        if name.startswith("rltrain_rm_batcher_"):
            assert labels == {("service", "reward-model")}, labels
            kind = "counter" if name.endswith("_total") else "gauge"
            assert parsed.types[name] == kind and parsed.helps[name], name
            out[name.removeprefix("rltrain_rm_batcher_")] = value
    return out


def test_the_batchers_counters_are_on_metrics_and_move_with_requests(rm, serve):  # noqa: F811
    import httpx

    service, batcher = serve(max_wait_ms=50)
    before = _batcher_metrics(service)
    assert set(before) == {"forward_passes_total", "texts_scored_total", "tokens_scored_total", "padded_tokens_total",
                           "texts_abandoned_total", "texts_failed_total", "passes_retried_total", "texts_queued"}
    assert all(value == 0 for value in before.values()), before
    texts = [TEXT_2KB[: 40 + 30 * i] for i in range(5)]
    assert post_json(service.address, "/get_reward", {"query": texts}).status == 200
    tokens = [len(rm.tokenizer(t, add_special_tokens=False, truncation=True, max_length=rm.max_length)["input_ids"])
              for t in texts]
    after = _batcher_metrics(service)
    assert after["texts_scored_total"] == 5 and after["tokens_scored_total"] == sum(tokens)
    assert after["forward_passes_total"] >= 1 and after["padded_tokens_total"] >= sum(tokens)
    assert after["texts_failed_total"] == 0 and after["texts_queued"] == 0
    assert post_json(service.address, "/get_reward", {"query": [""]}).status == 400  # an empty text fails alone
    assert _batcher_metrics(service)["texts_failed_total"] == 1
    figures = httpx.get(service.url + "/metrics.json", timeout=10).json()
    assert figures["rm_batcher"]["texts_scored"] == 5 and figures["rm_batcher"]["texts_failed"] == 1
    assert figures["routes"]["/get_reward"]["requests"] == 1  # the kit's figures beside the batcher's


def test_a_failed_forward_pass_is_counted_and_retried_text_by_text(rm, serve):  # noqa: F811
    service, _ = serve(max_wait_ms=50)
    original = rm.score_texts

    def fails_together(texts):
        if len(texts) > 1:
            raise RuntimeError("out of memory (simulated)")
        return original(texts)

    texts = [TEXT_2KB[:60], TEXT_2KB[:90], TEXT_2KB[:120]]
    rm.score_texts = fails_together
    try:
        answer = post_json(service.address, "/get_reward", {"query": texts}, timeout=60)
    finally:
        del rm.score_texts
    assert answer.status == 200
    figures = _batcher_metrics(service)
    assert figures["passes_retried_total"] == 1 and figures["forward_passes_total"] == 3
    assert figures["texts_scored_total"] == 3 and figures["texts_failed_total"] == 0


# -- the CLI in a process of its own ---------------------------------------------------------------

def _rm_serve(model_dir: str, *extra: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "rltrain", "rm", "serve", model_dir, "--port", "0", *extra],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        found = re.search(r"on http://([\d.]+):(\d+)", line)
        if found:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
            return proc, (found.group(1), int(found.group(2)))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("the server did not announce its address")


def _get_json(address, path: str):
    import http.client

    conn = http.client.HTTPConnection(*address, timeout=10)
    conn.request("GET", path)
    return json.loads(conn.getresponse().read())


def _status_kb(pid: int, key: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1))


#: Peak RSS above the idle server's allowed while it works on 10,000 texts of 2 KB (tiny model, budget
#: of 8192 tokens per forward pass). Forward passes of 64 such texts alone once took 2.7 GB.
MEMORY_BOUND_MB = 300


def test_memory_for_10000_texts_of_2kb_stays_bounded(rm_dir):  # noqa: F811
    proc, address = _rm_serve(rm_dir, "--max-batch-tokens", "8192", "--drain-timeout", "2")
    try:
        assert post_json(address, "/get_reward", {"query": ["warm up"]}).status == 200
        idle = _status_kb(proc.pid, "VmRSS")
        body = json.dumps({"query": [TEXT_2KB] * 10_000}).encode()
        with socket.create_connection(address) as sock:
            sock.sendall(request_head("/get_reward", {"Content-Length": str(len(body))}) + body)
            del body
            time.sleep(12)  # parsing, then forward passes over the first texts
            peak = _status_kb(proc.pid, "VmHWM")
            health = _get_json(address, "/health")
        assert health["texts_scored"] > 0, health
        print(f"rm server: idle {idle / 1024:.0f} MB, peak {peak / 1024:.0f} MB")
        assert (peak - idle) / 1024 < MEMORY_BOUND_MB, f"idle {idle / 1024:.0f} MB, peak {peak / 1024:.0f} MB"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_sigterm_stops_within_the_drain_timeout_even_with_work_in_flight(rm_dir):  # noqa: F811
    proc, address = _rm_serve(rm_dir, "--max-batch-tokens", "2048", "--drain-timeout", "1")
    try:
        sock = socket.create_connection(address)
        sock.sendall(_slow_request(12_000))
        time.sleep(2)  # well into the work
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        elapsed = time.monotonic() - started
        sock.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert elapsed < 8, f"stopped {elapsed:.1f} s after SIGTERM with a drain timeout of 1 s"
    assert code == 1  # work was abandoned


def test_rm_serve_refuses_a_checkpoint_without_a_trained_score_head(tmp_path):
    from rltrain.models.tiny import build_model, build_tokenizer
    from rltrain.recipe import TinyModelConfig

    tokenizer = build_tokenizer()
    policy = build_model(TinyModelConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                         num_key_value_heads=1, intermediate_size=64, seed=3),
                         len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id)
    policy.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    done = subprocess.run([sys.executable, "-m", "rltrain", "rm", "serve", str(tmp_path), "--port", "0"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "score head" in done.stderr and "score.weight" in done.stderr

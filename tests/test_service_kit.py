"""The JSON service kit itself (sandbox.service) on its ASGI stack: Prometheus metrics (the kit's and a
service's own), handlers off the event loop and their answers back to the right requests, slow bodies,
disconnects, and a drain that runs out of time."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from sandbox.service import Abandoned, JsonClient, JsonService, Metric, Route
from tests.http_raw import post_json, prometheus, raw_post, read_answer, request_head


@pytest.fixture
def kit():
    started = []

    def start(routes, **options):
        started.append(JsonService("kit", routes, port=0, **options).start())
        return started[-1]

    yield start
    for service in started:
        service.shutdown(timeout=2)


def test_metrics_are_prometheus_text_with_counters_histograms_and_gauges(kit):
    service = kit({"/echo": Route(lambda p: p)})
    client = JsonClient(service.url, retries=0)
    for i in range(3):
        assert client.post("/echo", i) == i
    assert raw_post(service.address, "/echo", b"{nope", {"Content-Length": "5"}).status == 400
    answer = httpx.get(service.url + "/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    parsed = prometheus(answer.text)
    types, samples = parsed.types, parsed.samples

    def value(name, **labels):
        return parsed.value(name, service="kit", route="/echo", **labels)

    assert types["rltrain_http_requests_total"] == "counter" and value("rltrain_http_requests_total") == 3
    assert value("rltrain_http_errors_total") == 1 and value("rltrain_http_rejected_total") == 0
    assert types["rltrain_http_request_duration_seconds"] == "histogram"
    buckets = sorted(((float(dict(labels)["le"]), v) for (name, labels), v in samples.items()
                      if name == "rltrain_http_request_duration_seconds_bucket"))
    counts = [v for _, v in buckets]
    assert counts == sorted(counts) and buckets[-1] == (float("inf"), 3)
    assert value("rltrain_http_request_duration_seconds_count") == 3
    assert samples[("rltrain_http_in_flight", frozenset({("service", "kit")}))] == 0
    assert types["rltrain_http_body_bytes_in_flight"] == "gauge"
    assert httpx.get(service.url + "/metrics.json").json()["routes"]["/echo"]["requests"] == 3


def test_a_blocking_handler_holds_up_neither_health_nor_other_routes(kit):
    release = threading.Event()
    seen = []

    def block(payload):
        seen.append(threading.current_thread().name)
        release.wait(10)
        return "done"

    service = kit({"/block": Route(block), "/echo": Route(lambda p: p)}, capacity=8)
    blocked = threading.Thread(target=post_json, args=(service.address, "/block", 1))
    blocked.start()
    try:
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        assert httpx.get(service.url + "/health").json()["status"] == "ok"
        assert post_json(service.address, "/echo", [1, 2]).body == [1, 2]
        assert time.monotonic() - started < 1.0
        assert seen and seen[0] != "kit-http"  # on a handler thread, not the event loop's
    finally:
        release.set()
        blocked.join(10)


def test_a_body_slower_than_the_body_timeout_is_answered_408_and_closed(kit):
    service = kit({"/echo": Route(lambda p: p)}, body_timeout_s=0.5)
    with socket.create_connection(service.address) as sock:
        sock.sendall(request_head("/echo", {"Content-Length": "10"}) + b"[1")  # the rest never comes
        started = time.monotonic()
        answer = read_answer(sock, timeout=5)
        assert answer is not None and answer.status == 408 and "0.5 s" in answer.error
        assert answer.headers.get("connection") == "close" and sock.recv(1) == b""
    assert time.monotonic() - started < 3


def test_a_client_that_disconnects_cancels_its_request_context(kit):
    cancelled = threading.Event()

    def wait(payload, ctx):
        if ctx.cancelled.wait(10):
            cancelled.set()
            raise Abandoned("client gone")
        return "nobody cancelled"

    service = kit({"/wait": Route(wait, context=True)})
    body = json.dumps(1).encode()
    with socket.create_connection(service.address) as sock:
        sock.sendall(request_head("/wait", {"Content-Length": str(len(body))}) + body)
        time.sleep(0.2)
    assert cancelled.wait(3), "the handler never saw its client leave"
    deadline = time.monotonic() + 3
    while service.metrics()["routes"]["/wait"]["abandoned"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert service.metrics()["routes"]["/wait"]["abandoned"] == 1


def test_a_drain_that_runs_out_of_time_cancels_the_work_and_says_so(kit):
    abandoned = threading.Event()

    def stubborn(payload, ctx):
        end = time.monotonic() + 10
        while not ctx.abandoned() and time.monotonic() < end:
            time.sleep(0.02)
        abandoned.set()
        return "too late"

    service = kit({"/stubborn": Route(stubborn, context=True)})
    answers = []
    client = threading.Thread(target=lambda: answers.append(post_json(service.address, "/stubborn", 1)))
    client.start()
    time.sleep(0.3)
    started = time.monotonic()
    assert service.shutdown(timeout=0.5) is False
    assert time.monotonic() - started < 3
    client.join(5)
    assert abandoned.wait(2), "the handler was never told to stop"
    assert answers and (answers[0] is None or answers[0].status == 503)


def test_answers_on_a_keep_alive_connection_do_not_wait_for_delayed_acks(kit):
    """Headers and body go out in two writes: without TCP_NODELAY on the accepted connections each answer
    waited ~40 ms for the client's delayed ACK."""
    import http.client

    service = kit({"/echo": Route(lambda p: p)})
    conn = http.client.HTTPConnection(*service.address, timeout=10)
    times = []
    for i in range(20):
        started = time.monotonic()
        conn.request("POST", "/echo", json.dumps(i), {"Content-Type": "application/json"})
        assert json.loads(conn.getresponse().read()) == i
        times.append(time.monotonic() - started)
    conn.close()
    assert sorted(times)[10] < 0.02, f"median {sorted(times)[10] * 1000:.1f} ms per answer"


def test_a_service_adds_its_own_counters_and_gauges_to_both_metrics_routes(kit):
    done = []

    def figures():
        return [Metric("demo", "things", "Things done.", len(done)),
                Metric("demo", "backlog", "Things waiting.", 2.5, counter=False)]

    service = kit({"/do": Route(lambda p: done.append(p) or len(done))}, metrics=figures)
    for i in range(3):
        assert post_json(service.address, "/do", i).body == i + 1
    parsed = prometheus(httpx.get(service.url + "/metrics").text)
    assert parsed.types["rltrain_demo_things_total"] == "counter" and parsed.helps["rltrain_demo_things_total"] == "Things done."
    assert parsed.value("rltrain_demo_things_total", service="kit") == 3
    assert parsed.types["rltrain_demo_backlog"] == "gauge" and parsed.value("rltrain_demo_backlog", service="kit") == 2.5
    assert parsed.value("rltrain_http_requests_total", service="kit", route="/do") == 3  # beside the kit's own
    assert httpx.get(service.url + "/metrics.json").json()["demo"] == {"things": 3, "backlog": 2.5}


@pytest.mark.parametrize("group, name", [("http", "requests"), ("http_x", "y"), ("routes", "x"), ("demo", "bad-name"), ("", "x")])
def test_a_metric_may_not_take_the_kits_names_or_break_the_format(group, name):
    with pytest.raises(ValueError):
        Metric(group, name, "help", 1)


def test_answers_of_concurrent_requests_each_reach_their_own_request(kit):
    """Handlers on many threads finishing together: every answer goes back to the request that asked."""

    def slow_echo(payload):
        time.sleep(0.05)
        return payload

    service = kit({"/echo": Route(slow_echo)}, capacity=64)
    answers = {}

    def ask(i):
        answers[i] = post_json(service.address, "/echo", {"i": i, "pad": "x" * i})

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(48)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(answers[i].status == 200 and answers[i].body == {"i": i, "pad": "x" * i} for i in range(48))
    assert time.monotonic() - started < 2.4  # 48 x 50 ms one after another would take 2.4 s

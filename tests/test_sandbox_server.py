"""The sandbox server: same verdicts as in-process, concurrency with back-pressure, drain, disconnects."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pytest

from sandbox import Judge, Limits, Sandbox
from sandbox.client import SandboxClient
from sandbox.server import build_service
from sandbox.service import JsonClient, JsonService, Route, ServiceError
from tests.sandbox_guard import sandbox_available  # noqa: F401 - fixture

ADD = "a, b = map(int, input().split())\nprint(a + b)"
ADD_TESTS = [{"input": "1 2", "output": "3"}, {"input": "5 5", "output": "10"}, {"input": "0 0", "output": "1"}]


@pytest.fixture(scope="module")
def server(sandbox_available):  # noqa: F811
    sb = Sandbox(limits=Limits(wall_s=3))
    service, app = build_service(sb, port=0, workers=2, queue=2)
    service.start()
    yield service, sb
    service.shutdown()
    app.close()
    sb.close()


def test_served_judgement_equals_in_process(server):
    service, sb = server
    client = SandboxClient(service.url)
    remote = client.judge(ADD, "python", ADD_TESTS)
    local = Judge(sb).judge(ADD, "python", ADD_TESTS)
    assert [t.verdict for t in remote.tests] == [t.verdict for t in local.tests] == ["accepted", "accepted", "wrong_answer"]
    assert remote.pass_fraction == pytest.approx(2 / 3)
    run = client.run("print(input()[::-1])", "python", stdin="abc")
    assert run.ok and run.stdout == "cba\n"
    health = client.health()
    assert health["status"] == "ok" and health["isolation"]["level"] == "bwrap+seccomp"


def test_many_concurrent_clients_get_correct_answers_despite_429(server):
    service, _ = server
    client = SandboxClient(service.url)

    async def many():
        jobs = [client.ajudge(f"print({i} + int(input()))", "python", [{"input": "1", "output": str(i + 1)}])
                for i in range(16)]
        return await asyncio.gather(*jobs)

    results = asyncio.run(many())
    assert all(r.all_passed for r in results)
    metrics = JsonClient(service.url).get("/metrics.json")
    assert metrics["routes"]["/judge"]["rejected"] > 0, "capacity 4 with 16 clients must push back"
    assert metrics["in_flight"] == 0


def test_batches_keep_order_and_isolate_bad_items(server):
    service, _ = server
    http = JsonClient(service.url)
    answer = http.post("/run_batch", {"requests": [
        {"code": "print(1)", "language": "python"}, {"code": "x", "language": "cobol"}, {"code": "print(3)", "language": "python"}]})
    results = answer["results"]
    assert results[0]["stdout"] == "1\n" and "unknown language" in results[1]["error"] and results[2]["stdout"] == "3\n"
    judged = http.post("/judge_batch", {"requests": [{"code": ADD, "language": "python", "tests": ADD_TESTS}] * 2})
    assert [r["passed"] for r in judged["results"]] == [2, 2]


def test_bad_requests_get_400_with_the_reason(server):
    service, _ = server
    http = JsonClient(service.url, retries=0)
    with pytest.raises(ServiceError, match="missing field") as info:
        http.post("/judge", {"code": "print(1)", "language": "python"})
    assert info.value.status == 400
    with pytest.raises(ServiceError, match="unknown limit"):
        http.post("/run", {"code": "print(1)", "language": "python", "limits": {"wall": 1}})


def test_sandboxfusion_run_code_shape(server):
    service, _ = server
    http = JsonClient(service.url)
    ok = http.post("/run_code", {"code": "print(input())", "language": "python", "stdin": "hi", "run_timeout": 2})
    assert ok["status"] == "Success" and ok["run_result"]["stdout"] == "hi\n" and ok["run_result"]["return_code"] == 0
    slow = http.post("/run_code", {"code": "while True: pass", "language": "python", "run_timeout": 0.5})
    assert slow["status"] == "Failed" and slow["run_result"]["status"] == "TimeLimitExceeded"
    broken = http.post("/run_code", {"code": "int main( {", "language": "cpp"})
    assert broken["status"] == "Failed" and broken["compile_result"] is not None and broken["run_result"] is None


def test_client_disconnect_does_not_hurt_the_server(server):
    service, _ = server
    host, port = service.address
    body = json.dumps({"code": "import time; time.sleep(0.5); print(1)", "language": "python"}).encode()
    with socket.create_connection((host, port)) as sock:
        sock.sendall(b"POST /run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    # The client is gone before the answer; the next request is served normally.
    time.sleep(0.7)
    assert SandboxClient(service.url).run("print(2)", "python").stdout == "2\n"


def test_shutdown_finishes_requests_in_flight():
    started = threading.Event()

    def slow(payload):
        started.set()
        time.sleep(0.5)
        return {"echo": payload}

    service = JsonService("test", {"/slow": Route(slow)}, port=0, capacity=4).start()
    answers = []
    worker = threading.Thread(target=lambda: answers.append(JsonClient(service.url, retries=0).post("/slow", 7)))
    worker.start()
    assert started.wait(10), "the request never reached its handler"
    service.shutdown()  # returns only after the request in flight was answered
    worker.join(timeout=5)
    assert answers == [{"echo": 7}]
    with pytest.raises(ServiceError):
        JsonClient(service.url, retries=1, backoff=0.01).post("/slow", 1)


def test_client_retries_until_the_server_is_up():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = []

    def start_later():
        time.sleep(0.4)
        started.append(JsonService("late", {"/echo": Route(lambda p: p)}, port=port).start())

    threading.Thread(target=start_later).start()
    assert JsonClient(f"http://127.0.0.1:{port}", retries=6, backoff=0.1).post("/echo", [1]) == [1]
    started[0].shutdown()


def test_a_batch_whose_client_left_runs_no_more_programs(sandbox_available):  # noqa: F811
    """One worker, a batch of four 1.5 s programs, the client gone after 0.3 s: the program running then
    finishes, the three queued are cancelled, and the next request is served within one program's time
    instead of after all four (6 s)."""
    sb = Sandbox(limits=Limits(wall_s=5))
    service, app = build_service(sb, port=0, workers=1, queue=8)
    service.start()
    try:
        host, port = service.address
        item = {"code": "import time; time.sleep(1.5); print(1)", "language": "python"}
        body = json.dumps({"requests": [item] * 4}).encode()
        with socket.create_connection((host, port)) as sock:
            sock.sendall(b"POST /run_batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            time.sleep(0.3)
        start = time.monotonic()
        assert SandboxClient(service.url).run("print(2)", "python").stdout == "2\n"
        assert time.monotonic() - start < 4.0
        abandoned = service.metrics()["routes"]["/run_batch"]["abandoned"]
        assert abandoned == 1
    finally:
        service.shutdown()
        app.close()
        sb.close()

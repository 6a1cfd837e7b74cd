"""The sandbox server under hostile or careless requests, tested at the HTTP level.

Malformed lengths, oversized and deeply nested bodies, wrong types and limits above the server's
ceilings are each answered with a 4xx naming the cause (never a 500, never a dropped connection, never
a body read past the limit); a flood of clients is waited out by the project's own client.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pytest

from sandbox import Limits, Sandbox
from sandbox.client import SandboxClient
from sandbox.server import Ceilings, build_service
from sandbox.service import JsonService, Route
from tests.http_raw import post_json, raw_post, read_answer, request_head
from tests.sandbox_guard import sandbox_available  # noqa: F401 - fixture

RUN = {"code": "print(1)", "language": "python"}


@pytest.fixture(scope="module")
def server(sandbox_available):  # noqa: F811
    sb = Sandbox(limits=Limits(wall_s=3))
    service, app = build_service(sb, port=0, workers=2, queue=0)
    service.start()
    yield service
    service.shutdown()
    app.close()
    sb.close()


# -- lengths and bodies ---------------------------------------------------------------------------

def test_negative_content_length_is_400_without_reading_the_stream(server):
    with socket.create_connection(server.address) as sock:
        # The stream stays open: a server that reads "to the end" would never answer.
        sock.sendall(request_head("/run", {"Content-Length": "-1"}) + json.dumps(RUN).encode())
        answer = read_answer(sock, timeout=5)
    assert answer is not None and answer.status == 400 and "Content-Length" in answer.error


@pytest.mark.parametrize("value", ["abc", "1e3", "12, 12", ""])
def test_malformed_content_length_is_400(server, value):
    answer = raw_post(server.address, "/run", b"{}", {"Content-Length": value})
    assert answer is not None and answer.status == 400 and "Content-Length" in answer.error


def test_post_without_length_is_411_and_chunked_is_refused(server):
    answer = raw_post(server.address, "/run", b"")
    assert answer is not None and answer.status == 411
    chunked = raw_post(server.address, "/run", b"2\r\n{}\r\n0\r\n\r\n", {"Transfer-Encoding": "chunked"})
    assert chunked is not None and chunked.status == 411 and "chunked" in chunked.error


def test_oversized_body_is_refused_before_it_is_sent(server):
    limit = server.max_body_bytes
    with socket.create_connection(server.address) as sock:
        sock.sendall(request_head("/run", {"Content-Length": str(limit + 1)}))  # the body never comes
        answer = read_answer(sock, timeout=5)
    assert answer is not None and answer.status == 413 and str(limit) in answer.error


def test_bodies_wait_for_admission_before_they_are_read():
    """A byte budget bounds the bodies held at once: a second large body is refused with 429 while the
    first still occupies the budget, instead of both being read into memory."""
    release = threading.Event()
    service = JsonService("bytes", {"/echo": Route(lambda p: (release.wait(10), len(p))[1])}, port=0,
                          capacity=64, max_body_bytes=1_000_000, max_bytes_in_flight=1_500_000).start()
    try:
        big = json.dumps("x" * 900_000).encode()
        first = threading.Thread(target=post_json, args=(service.address, "/echo", "x" * 900_000))
        first.start()
        deadline = time.monotonic() + 5
        while service.metrics()["bytes_in_flight"] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        second = raw_post(service.address, "/echo", big, {"Content-Length": str(len(big))})
        assert second is not None and second.status == 429 and int(second.headers["retry-after"]) >= 1
        release.set()
        first.join(10)
        deadline = time.monotonic() + 5
        while service.metrics()["bytes_in_flight"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert service.metrics()["bytes_in_flight"] == 0, "the budget is given back once the answer is out"
    finally:
        release.set()
        service.shutdown()


def test_truncated_body_gets_no_answer_and_the_server_goes_on(server):
    with socket.create_connection(server.address) as sock:
        sock.sendall(request_head("/run", {"Content-Length": "1000"}) + b'{"code": ')
        sock.shutdown(socket.SHUT_WR)
        assert read_answer(sock, timeout=5) is None
    assert post_json(server.address, "/run", RUN).status == 200


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deeply_nested_json_is_400(server, depth):
    body = b"[" * depth + b"]" * depth
    answer = raw_post(server.address, "/run", body, {"Content-Length": str(len(body))})
    assert answer is not None and answer.status == 400 and "nest" in answer.error


def test_nan_and_infinity_are_not_json(server):
    body = b'{"code": "print(1)", "language": "python", "limits": {"wall_s": NaN}}'
    answer = raw_post(server.address, "/run", body, {"Content-Length": str(len(body))})
    assert answer is not None and answer.status == 400 and "NaN" in answer.error
    body = b'{"code": "print(1)", "language": "python", "limits": {"wall_s": 1e400}}'
    answer = raw_post(server.address, "/run", body, {"Content-Length": str(len(body))})
    assert answer is not None and answer.status == 400 and "1e400" in answer.error and "finite" in answer.error


# -- types and ceilings ------------------------------------------------------------------------------

@pytest.mark.parametrize(("route", "payload", "field"), [
    ("/run", {"code": "print(1)", "language": ["python"]}, "language"),
    ("/run", {"code": 3, "language": "python"}, "code"),
    ("/run", {"code": "print(1)", "language": "python", "stdin": 5}, "stdin"),
    ("/run", {"code": "print(1)", "language": "python", "limits": [1]}, "limits"),
    ("/run", {"code": "print(1)", "language": "python", "limits": {"wall_s": "2"}}, "wall_s"),
    ("/run", {"code": "print(1)", "language": "python", "limits": {"wall_s": True}}, "wall_s"),
    ("/judge", {"code": "print(1)", "language": "python", "tests": "1 2"}, "tests"),
    ("/judge", {"code": "print(1)", "language": "python", "tests": [{"input": "", "output": "1", "wall_s": "x"}]},
     "wall_s"),
    ("/judge", {"code": "print(1)", "language": "python", "tests": [{"input": "", "output": "1"}],
                "stop_on_first_failure": "yes"}, "stop_on_first_failure"),
    ("/judge", {"code": "print(1)", "language": "python", "tests": [{"input": "", "output": "1"}],
                "float_tolerance": "0.1"}, "float_tolerance"),
    ("/judge", {"code": "print(1)", "language": "python", "tests": [{"input": "", "output": "1"}],
                "checker": 7}, "checker"),
    ("/run_code", {"code": "print(1)", "language": "python", "run_timeout": "abc"}, "run_timeout"),
    ("/run_code", {"code": "print(1)", "language": "python", "memory_limit_MB": "big"}, "memory_limit_MB"),
    ("/run_code", {"code": "print(1)", "language": ["python"]}, "language"),
    ("/run_batch", {"requests": "all"}, "requests"),
])
def test_wrong_types_are_400_naming_the_field(server, route, payload, field):
    answer = post_json(server.address, route, payload)
    assert answer is not None and answer.status == 400, (answer.status if answer else None, answer and answer.body)
    assert field in answer.error


@pytest.mark.parametrize(("route", "payload", "field"), [
    ("/run", {**RUN, "limits": {"wall_s": 1e9}}, "wall_s"),
    ("/run", {**RUN, "limits": {"output_bytes": 1_000_000_000}}, "output_bytes"),
    ("/run", {**RUN, "limits": {"tmp_mb": 2048}}, "tmp_mb"),
    ("/run", {**RUN, "limits": {"memory_mb": 1_000_000}}, "memory_mb"),
    ("/run", {**RUN, "limits": {"cpu_s": 1e6}}, "cpu_s"),
    ("/run", {**RUN, "stdin": "x" * (Ceilings().stdin_bytes + 1)}, "stdin"),
    ("/run", {"code": "#" * (Ceilings().source_bytes + 1), "language": "python"}, "code"),
    ("/run_code", {**RUN, "run_timeout": 1e9}, "run_timeout"),
    ("/judge", {**RUN, "tests": [{"input": "", "output": "1", "wall_s": 1e9}]}, "tests[0].wall_s"),
    ("/judge", {**RUN, "tests": [{"input": "", "output": "1"}] * (Ceilings().tests + 1)}, "tests"),
    ("/run_batch", {"requests": [RUN] * (Ceilings().batch + 1)}, "requests"),
])
def test_limits_above_the_server_ceiling_are_400_naming_field_and_ceiling(server, route, payload, field):
    answer = post_json(server.address, route, payload)
    assert answer is not None and answer.status == 400, (answer.status if answer else None, answer and answer.body)
    assert field in answer.error and "ceiling" in answer.error


def test_limits_within_the_ceilings_still_run(server):
    answer = post_json(server.address, "/run", {**RUN, "limits": {"wall_s": 2, "output_bytes": 4096, "tmp_mb": 16}})
    assert answer.status == 200 and answer.body["stdout"] == "1\n"


def test_ceilings_are_checked_against_the_server_defaults(sandbox_available):  # noqa: F811
    from sandbox import SandboxError

    with pytest.raises(SandboxError, match="wall_s"):
        build_service(Sandbox(limits=Limits(wall_s=30)), port=0, ceilings=Ceilings(wall_s=10))


# -- back-pressure ----------------------------------------------------------------------------------

def test_a_flood_is_waited_out_by_the_client_without_give_ups(server):
    client = SandboxClient(server.url, timeout=120)

    async def flood():
        jobs = [client.ajudge(f"print({i})", "python", [{"input": "", "output": str(i)}]) for i in range(200)]
        return await asyncio.gather(*jobs, return_exceptions=True)

    results = asyncio.run(flood())
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, f"{len(failures)} of 200 gave up, e.g. {failures[0]!r}"
    assert all(r.all_passed for r in results)
    assert client.busy_waits > 0, "capacity 2 with 200 clients must push back"


def test_code_reward_waits_for_a_busy_server_within_its_timeout_and_logs_the_waits(server):
    import verifiers

    reward = verifiers.build_reward("code_pass_rate", {"server_url": server.url, "concurrency": 16, "timeout": 90})
    completions = [f"```python\nprint({i})\n```" for i in range(16)]
    tests = [[{"input": "", "output": str(i)}] for i in range(16)]
    logged = {}
    scores = asyncio.run(reward(["p"] * 16, completions, tests=tests, log_metric=logged.__setitem__))
    assert scores == [1.0] * 16  # none masked for load
    assert reward._client._async.deadline == 90
    assert logged["verifiers/code/busy_waits"] > 0

"""The JSON service clients against a scripted server: busy answers are waited out (honouring
``Retry-After``) until the caller's deadline, counted, and each attempt tells the server the time left."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sandbox.service import AsyncJsonClient, JsonClient, ServiceError


class Scripted:
    """A server answering POSTs from a script of (status, headers) before answering 200."""

    def __init__(self, script):
        self.script = list(script)
        self.seen = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.seen.append((time.monotonic(), self.headers.get("X-Request-Timeout")))
                status, headers = outer.script.pop(0) if outer.script else (200, {})
                body = json.dumps({"ok": True} if status == 200 else {"error": "busy"}).encode()
                self.send_response(status)
                for key, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted():
    servers = []

    def make(script):
        servers.append(Scripted(script))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_busy_answers_are_waited_out_honouring_retry_after(scripted):
    server = scripted([(429, {"Retry-After": "1"}), (503, {"Retry-After": "1"}), (429, {"Retry-After": "1"})])
    client = JsonClient(server.url, timeout=30, retries=0)  # busy waits are not retries
    assert client.post("/x", {}) == {"ok": True}
    gaps = [b[0] - a[0] for a, b in zip(server.seen, server.seen[1:], strict=False)]
    assert len(gaps) == 3 and all(1.0 <= gap < 2.0 for gap in gaps), gaps
    assert client.busy_waits == 3 and client.busy_wait_s >= 3
    sent = [float(t) for _, t in server.seen]
    assert sent[0] <= 30 and sent[-1] < sent[0] - 2.5  # the time left shrinks as the call waits


def test_busy_past_the_deadline_raises_429_naming_the_deadline(scripted):
    server = scripted([(429, {"Retry-After": "1"})] * 10)
    client = JsonClient(server.url, timeout=30, deadline=2.5)
    started = time.monotonic()
    with pytest.raises(ServiceError, match="deadline of 2.5 s") as info:
        client.post("/x", {})
    assert info.value.status == 429 and time.monotonic() - started < 2.6
    assert 1 <= client.busy_waits <= 2


def test_async_client_waits_too(scripted):
    server = scripted([(429, {"Retry-After": "1"})])
    client = AsyncJsonClient(server.url, timeout=10)
    assert asyncio.run(client.post("/x", {})) == {"ok": True}
    assert client.busy_waits == 1

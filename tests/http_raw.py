"""Raw-socket HTTP helpers for tests that speak to the servers below any client library.

Malformed requests (a negative ``Content-Length``, no length, a body that never arrives) cannot be sent
through ``httpx``; these helpers write the bytes themselves and read one answer, or report that the
connection closed without one. :func:`prometheus` reads a ``GET /metrics`` answer strictly.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from typing import Any


@dataclass
class RawAnswer:
    """One HTTP answer: status, lower-cased headers and the JSON body (``None`` if not JSON)."""

    status: int
    headers: dict[str, str]
    body: Any

    @property
    def error(self) -> str:
        return str(self.body.get("error", "")) if isinstance(self.body, dict) else ""


def request_head(path: str, headers: dict[str, str], method: str = "POST") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode()


def read_answer(sock: socket.socket, timeout: float = 10.0) -> RawAnswer | None:
    """The next answer on ``sock``; ``None`` when the server closed the connection without answering.

    Raises ``TimeoutError`` when nothing arrives within ``timeout`` (a server still reading the body).
    """
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    try:
        body = json.loads(rest[:length]) if length else None
    except ValueError:
        body = None
    return RawAnswer(int(status_line.split()[1]), headers, body)


def raw_post(address: tuple[str, int], path: str, body: bytes, headers: dict[str, str] | None = None,
             timeout: float = 10.0) -> RawAnswer | None:
    """POST ``body`` with exactly ``headers`` (no Content-Length unless given) and read the answer."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(request_head(path, headers or {}) + body)
        return read_answer(sock, timeout)


def post_json(address: tuple[str, int], path: str, payload: Any, timeout: float = 30.0,
              headers: dict[str, str] | None = None) -> RawAnswer | None:
    """A well-formed JSON POST (``Content-Length`` set)."""
    body = json.dumps(payload).encode()
    head = {"Content-Type": "application/json", "Content-Length": str(len(body)), **(headers or {})}
    return raw_post(address, path, body, head, timeout)


#: One sample line of the Prometheus text format: name{labels} value.
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\} (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass
class Prometheus:
    """A ``/metrics`` answer: each family's ``# TYPE`` and ``# HELP`` and every sample by name and labels."""

    types: dict[str, str]
    helps: dict[str, str]
    samples: dict[tuple[str, frozenset], float]

    def value(self, name: str, **labels: str) -> float:
        return self.samples[(name, frozenset(labels.items()))]


def prometheus(text: str) -> Prometheus:
    """Parse the Prometheus text format; fails on a malformed line or a sample of a family without TYPE."""
    parsed = Prometheus({}, {}, {})
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            parsed.types[name] = kind
        elif line.startswith("# HELP "):
            _, _, name, help_text = line.split(" ", 3)
            parsed.helps[name] = help_text
        else:
            match = SAMPLE.match(line)
            assert match, f"not a Prometheus sample line: {line!r}"
            family = re.sub(r"_(bucket|sum|count)$", "", match.group(1))
            assert match.group(1) in parsed.types or family in parsed.types, f"no TYPE before {line!r}"
            labels = frozenset(_LABEL.findall(match.group(2)))
            parsed.samples[(match.group(1), labels)] = float(match.group(3))
    return parsed

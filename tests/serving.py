"""A real OpenAI-compatible server for tests: ``transformers serve`` pinned to one local model directory,
on the CPU, with no hub access (``HF_HUB_OFFLINE=1``). Skips the test where the serving extra
(``transformers[serving]``, in the test extras) or the ``transformers`` command is missing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    """Wait until ``url`` answers 200; fail with the end of the server's log if it exits or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "transformers serve exited:\n" + log.read_text()[-3000:]
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail("transformers serve did not become healthy:\n" + log.read_text()[-3000:])


@contextmanager
def transformers_serve(model: str | Path, log: Path) -> Iterator[str]:
    """Serve ``model`` (a local directory, served under that path as its name) until the block ends;
    yields the server's root URL (``http://127.0.0.1:PORT``). The server's output goes to ``log``."""
    pytest.importorskip("fastapi", reason="transformers serve needs transformers[serving] (in the test extras)")
    cli = shutil.which("transformers") or str(Path(sys.executable).parent / "transformers")
    if not Path(cli).exists():
        pytest.skip("the transformers command is not installed")
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    with log.open("w") as out:
        process = subprocess.Popen([cli, "serve", str(model), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu",
                                    "--log-level", "warning"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

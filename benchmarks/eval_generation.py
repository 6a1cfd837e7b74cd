"""Generation throughput of the ``openai`` evaluation backend: requests per second with ``--concurrency``
requests in flight (default 8) against one at a time, in one run.

What it measures
----------------
The same ``--requests`` chat completions are generated through :class:`OpenAIBackend` twice, with
concurrency 1 and with ``--concurrency``, and the rates and their ratio are printed. The server is

* by default a local stand-in (started here, in a process of its own): an OpenAI-compatible
  ``/v1/chat/completions`` that answers each request after ``--latency`` seconds plus
  ``--answer-tokens`` (at most the request's ``max_completion_tokens``) at ``--token-rate`` tokens per
  second, every request at once, as a batching server below its capacity does. There is no GPU here to
  run a real model at a speed worth measuring; the stand-in isolates what the backend itself adds, and
  the ratio shows whether requests really overlap (ideally the concurrency itself);
* with ``--base-url URL --model NAME``, a real server (e.g. ``vllm serve NAME``), where the ratio also
  shows how well the server batches.

How to run
----------
From the repository root::

    .venv/bin/python benchmarks/eval_generation.py
    .venv/bin/python benchmarks/eval_generation.py --base-url http://node:8000/v1 --model Qwen/QwQ-32B --max-tokens 1024

``--json FILE`` writes the figures. Absolute rates depend on the machine; compare the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rltrain.evaluation.backends.base import GenerationRequest, SampleKey  # noqa: E402
from rltrain.evaluation.backends.openai import OpenAIBackend  # noqa: E402
from rltrain.evaluation.settings import SamplingSettings, sample_seed  # noqa: E402

STUB_MODEL = "stub-model"


# -- the stand-in server (a process of its own) --------------------------------------------------------

def serve_stub(port: int, latency: float, token_rate: float, answer_tokens: int) -> None:
    """Serve the stand-in OpenAI-compatible API on 127.0.0.1:``port`` until killed."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def models(request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": STUB_MODEL, "object": "model"}]})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        tokens = min(answer_tokens, int(body.get("max_completion_tokens") or answer_tokens))
        await asyncio.sleep(latency + tokens / token_rate)
        prompt = sum(len(str(m.get("content", ""))) for m in body["messages"]) // 4
        return JSONResponse({
            "id": "stub", "object": "chat.completion", "model": STUB_MODEL,
            "choices": [{"index": 0, "finish_reason": "length" if tokens == body.get("max_completion_tokens") else "stop",
                         "message": {"role": "assistant", "content": "word " * tokens}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": tokens, "total_tokens": prompt + tokens},
        })

    app = Starlette(routes=[Route("/health", health), Route("/v1/models", models),
                            Route("/v1/chat/completions", chat, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", backlog=1024)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_stub(args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    """The stand-in in a child process, once it answers; and its base URL."""
    import httpx

    port = _free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve-stub", str(port), "--latency", str(args.latency),
                                "--token-rate", str(args.token_rate), "--answer-tokens", str(args.answer_tokens)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process, f"http://127.0.0.1:{port}/v1"
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the stand-in server did not start")


# -- the measurement ------------------------------------------------------------------------------------

def requests_for(count: int) -> list[GenerationRequest]:
    return [GenerationRequest(SampleKey("bench", str(i), 0),
                              ({"role": "user", "content": f"What is {i} + {2 * i}? Please reason step by step."},),
                              sample_seed(0, "bench", str(i), 0)) for i in range(count)]


def measure(base_url: str, model: str, concurrency: int, requests: list[GenerationRequest], settings: SamplingSettings,
            api_key: str | None) -> dict[str, Any]:
    """Requests per second (and completion tokens per second) for ``requests`` at ``concurrency``."""
    backend = OpenAIBackend(base_url, model, concurrency=concurrency, api_key=api_key)
    try:
        started = time.perf_counter()
        results = list(backend.generate(requests, settings))
        elapsed = time.perf_counter() - started
    finally:
        backend.close()
    tokens = sum(g.completion_tokens or 0 for _, g in results)
    return {"concurrency": concurrency, "requests": len(results), "seconds": elapsed, "requests_per_s": len(results) / elapsed,
            "tokens_per_s": tokens / elapsed, "retries": backend.retries}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight, compared with 1 (8)")
    parser.add_argument("--requests", type=int, default=48, help="completions per measurement (48)")
    parser.add_argument("--max-tokens", type=int, default=256, help="max_completion_tokens of each request (256)")
    parser.add_argument("--base-url", help="a real OpenAI-compatible server instead of the stand-in")
    parser.add_argument("--model", help="the model the real server serves (with --base-url)")
    parser.add_argument("--api-key", help="bearer token for the real server (default $OPENAI_API_KEY)")
    parser.add_argument("--latency", type=float, default=0.05, help="stand-in: seconds per request before its tokens (0.05)")
    parser.add_argument("--token-rate", type=float, default=2000.0, help="stand-in: tokens per second of one request (2000)")
    parser.add_argument("--answer-tokens", type=int, default=128, help="stand-in: tokens per answer (128)")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--serve-stub", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_stub:
        serve_stub(args.serve_stub, args.latency, args.token_rate, args.answer_tokens)
        return 0
    if args.base_url and not args.model:
        parser.error("--base-url needs --model (the name the server serves)")

    settings = SamplingSettings(max_tokens=args.max_tokens)
    requests = requests_for(args.requests)
    stub = None
    if args.base_url:
        base_url, model, server = args.base_url, args.model, f"{args.base_url} ({args.model})"
    else:
        stub, base_url = start_stub(args)
        model = STUB_MODEL
        server = (f"stand-in: {args.latency:g} s + {args.answer_tokens} tokens at {args.token_rate:g} tokens/s per request "
                  f"({args.latency + args.answer_tokens / args.token_rate:.3f} s each)")
    try:
        rows = [measure(base_url, model, c, requests, settings, args.api_key) for c in (1, args.concurrency)]
    finally:
        if stub is not None:
            stub.terminate()
            stub.wait(10)
    print(f"server: {server}; {args.requests} requests of at most {args.max_tokens} tokens")
    print(f"{'concurrency':>11}  {'seconds':>8}  {'requests/s':>10}  {'tokens/s':>9}  {'retries':>7}")
    for row in rows:
        print(f"{row['concurrency']:>11}  {row['seconds']:>8.2f}  {row['requests_per_s']:>10.2f}  {row['tokens_per_s']:>9.0f}  "
              f"{row['retries']:>7}")
    ratio = rows[1]["requests_per_s"] / rows[0]["requests_per_s"]
    print(f"requests/s at concurrency {args.concurrency} / at 1: {ratio:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"server": server, "rows": rows, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

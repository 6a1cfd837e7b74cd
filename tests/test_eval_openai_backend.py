"""The ``openai`` evaluation backend: request bodies, answers, retries, top-k fallbacks and concurrency
against an in-process stand-in (httpx's MockTransport), and one run against a real ``transformers serve``
serving the tiny model on CPU."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from rltrain.evaluation.backends.base import BackendError, GenerationBackend, GenerationRequest, SampleKey
from rltrain.evaluation.backends.openai import OpenAIBackend, api_base, join_reasoning, retry_after_s
from rltrain.evaluation.settings import SamplingSettings, sample_seed
from tests.serving import transformers_serve

URL = "http://server:8000/v1"
MODEL = "qwq"


def _request(item: str = "1", index: int = 0, text: str = "What is 2+2?") -> GenerationRequest:
    return GenerationRequest(SampleKey("aime24", item, index), ({"role": "user", "content": text},),
                             sample_seed(0, "aime24", item, index))


def _completion(content: str | None = "4", finish: str = "stop", usage: tuple[int, int] = (12, 3), **message: Any) -> dict:
    return {"id": "x", "object": "chat.completion", "model": MODEL,
            "choices": [{"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": content, **message}}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}}


def _models(*ids: str, root: str | None = None) -> dict:
    return {"object": "list", "data": [{"id": i, "object": "model", **({"root": root} if root else {})} for i in ids]}


class Server:
    """A stand-in server: ``/models`` lists MODEL; ``/chat/completions`` answers with ``chat(body, n)``
    (n: the how-manieth chat request), a dict (200) or an httpx.Response. Records every body."""

    def __init__(self, chat: Callable[[dict, int], Any], models: Any = None) -> None:
        self.chat = chat
        self.models = models if models is not None else _models(MODEL)
        self.bodies: list[dict] = []
        self.headers: list[httpx.Headers] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.headers.append(request.headers)
        if request.url.path.endswith("/models"):
            return self.models if isinstance(self.models, httpx.Response) else httpx.Response(200, json=self.models)
        body = json.loads(request.content)
        self.bodies.append(body)
        answer = self.chat(body, len(self.bodies))
        if asyncio.iscoroutine(answer):
            answer = await answer
        return answer if isinstance(answer, httpx.Response) else httpx.Response(200, json=answer)

    def backend(self, **kwargs: Any) -> OpenAIBackend:
        kwargs.setdefault("backoff_s", 0.001)
        return OpenAIBackend(URL, MODEL, transport=httpx.MockTransport(self), **kwargs)


def _run(backend: OpenAIBackend, requests: list[GenerationRequest], settings: SamplingSettings | None = None) -> list:
    try:
        return list(backend.generate(requests, settings or SamplingSettings()))
    finally:
        backend.close()


# --- what is sent and what comes back ----------------------------------------------------------------


def test_request_body_carries_qwq_sampling_and_the_answer_becomes_a_generation():
    server = Server(lambda body, n: _completion("The answer is 4.", usage=(21, 5)))
    backend = server.backend()
    assert isinstance(backend, GenerationBackend) and backend.name == "openai"
    assert backend.identity() == MODEL
    request = _request()
    [(returned, generation)] = _run(backend, [request])
    assert returned is request
    assert generation.text == "The answer is 4." and generation.finish_reason == "stop" and not generation.truncated
    assert (generation.prompt_tokens, generation.completion_tokens) == (21, 5)
    assert server.bodies == [{"model": MODEL, "messages": [{"role": "user", "content": "What is 2+2?"}], "temperature": 0.6,
                              "top_p": 0.95, "max_completion_tokens": 32768, "seed": request.seed, "top_k": 40}]


def test_length_finish_is_truncated_and_other_reasons_are_stops():
    reasons = iter(["length", "eos", None, "tool_calls"])
    server = Server(lambda body, n: _completion("cut", finish=next(reasons)))
    results = _run(server.backend(concurrency=1), [_request(str(i)) for i in range(4)])
    assert [g.finish_reason for _, g in results] == ["length", "stop", "stop", "stop"]
    assert results[0][1].truncated


def test_top_k_none_sends_no_top_k_and_greedy_sends_temperature_zero():
    server = Server(lambda body, n: _completion())
    _run(server.backend(), [_request()], SamplingSettings(temperature=0, top_k=None, max_tokens=64))
    body = server.bodies[0]
    assert "top_k" not in body and "generation_config" not in body
    assert body["temperature"] == 0 and body["max_completion_tokens"] == 64


@pytest.mark.parametrize(("reasoning", "content", "text"), [
    (None, "answer", "answer"),
    ("", "answer", "answer"),
    ("Let me think.\n", "\n\nThe answer is 4.", "<think>\nLet me think.\n</think>\n\nThe answer is 4."),
    ("Let me think.", "The answer is 4.", "<think>\nLet me think.\n</think>\n\nThe answer is 4."),
    ("Let me think.", "", "<think>\nLet me think."),
    ("Let me think and think", None, "<think>\nLet me think and think"),
    ("dup", "<think>\nraw\n</think>\n\nx", "<think>\nraw\n</think>\n\nx"),
    (None, None, ""),
])
def test_join_reasoning(reasoning, content, text):
    assert join_reasoning(reasoning, content) == text


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_returned_apart_is_joined_back_in_front(field):
    server = Server(lambda body, n: _completion("\n\n\\boxed{4}", **{field: "2+2 is 4.\n"}))
    [(_, generation)] = _run(server.backend(), [_request()])
    assert generation.text == "<think>\n2+2 is 4.\n</think>\n\n\\boxed{4}"


def test_base_url_and_retry_after_parsing():
    assert api_base("http://node:8000") == "http://node:8000/v1"
    assert api_base("http://node:8000/v1/") == "http://node:8000/v1"
    assert api_base("https://api.example.com/openai/v1") == "https://api.example.com/openai/v1"
    with pytest.raises(BackendError, match="not an http"):
        api_base("node:8000")
    assert retry_after_s(httpx.Response(503, headers={"Retry-After": "2"})) == 2.0
    assert retry_after_s(httpx.Response(503, headers={"Retry-After": "99999"})) == 300.0
    assert retry_after_s(httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after_s(httpx.Response(503, headers={"Retry-After": "soon"})) is None
    assert retry_after_s(httpx.Response(503)) is None


def test_api_key_from_the_argument_else_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    server = Server(lambda body, n: _completion())
    _run(server.backend(), [_request()])
    assert {h.get("authorization") for h in server.headers} == {"Bearer from-env"}
    server = Server(lambda body, n: _completion())
    _run(server.backend(api_key="given"), [_request()])
    assert {h.get("authorization") for h in server.headers} == {"Bearer given"}
    monkeypatch.delenv("OPENAI_API_KEY")
    server = Server(lambda body, n: _completion())
    _run(server.backend(), [_request()])
    assert {h.get("authorization") for h in server.headers} == {None}


# --- the served model --------------------------------------------------------------------------------


def test_a_server_that_does_not_serve_the_model_is_refused_with_what_it_serves():
    server = Server(lambda body, n: _completion(), models=_models("Qwen/QwQ-32B", "other"))
    with pytest.raises(BackendError, match=r"does not serve 'qwq'; it serves 'Qwen/QwQ-32B', 'other'"):
        server.backend()


def test_identity_names_the_checkpoint_behind_a_served_name():
    backend = Server(lambda body, n: _completion(), models=_models(MODEL, root="/ckpt/step-100")).backend()
    assert backend.identity() == "qwq@/ckpt/step-100"
    backend.close()
    backend = Server(lambda body, n: _completion(), models=_models(MODEL, root=MODEL)).backend()
    assert backend.identity() == MODEL
    backend.close()


def test_a_server_without_a_model_list_is_taken_at_its_word():
    server = Server(lambda body, n: _completion(), models=httpx.Response(404, json={"detail": "Not Found"}))
    assert len(_run(server.backend(), [_request()])) == 1


# --- retries -----------------------------------------------------------------------------------------


def test_503_then_200_is_retried_after_the_delay_the_server_asks():
    def chat(body, n):
        return httpx.Response(503, headers={"Retry-After": "0"}, json={"error": "loading"}) if n == 1 else _completion()

    server = Server(chat)
    backend = server.backend(backoff_s=100)  # the server's Retry-After (0 s), not the backoff, sets the wait
    started = time.monotonic()
    [(_, generation)] = list(backend.generate([_request()], SamplingSettings()))
    assert time.monotonic() - started < 5
    assert generation.text == "4" and len(server.bodies) == 2 and backend.retries == 1
    assert server.bodies[0] == server.bodies[1], "a retry sends the same request, seed included"
    backend.close()


def test_connection_errors_timeouts_and_aborted_requests_are_retried():
    def chat(body, n):
        if n == 1:
            raise httpx.ConnectError("connection refused")
        if n == 2:
            raise httpx.ReadTimeout("timed out")
        if n == 3:
            return _completion(finish="abort")
        return _completion("ok")

    server = Server(chat)
    [(_, generation)] = _run(server.backend(), [_request()])
    assert generation.text == "ok" and len(server.bodies) == 4


def test_gives_up_after_max_retries_naming_the_url_and_the_last_error():
    server = Server(lambda body, n: httpx.Response(502, text="Bad Gateway"))
    with pytest.raises(BackendError) as error:
        _run(server.backend(max_retries=2), [_request()])
    assert len(server.bodies) == 3
    message = str(error.value)
    assert URL + "/chat/completions" in message and "after 3 attempts" in message and "HTTP 502: Bad Gateway" in message


def test_a_timeout_is_named_when_giving_up():
    def chat(body, n):
        raise httpx.ReadTimeout("timed out")

    with pytest.raises(BackendError, match=r"no answer within 7 s \(ReadTimeout\)"):
        _run(Server(chat).backend(max_retries=1, timeout_s=7), [_request()])


def test_a_refusal_is_not_retried_and_carries_the_servers_message():
    message = "This model's maximum context length is 32768 tokens. However, you requested 40000 tokens."
    server = Server(lambda body, n: httpx.Response(400, json={"object": "error", "message": message}))
    with pytest.raises(BackendError, match="HTTP 400.*maximum context length is 32768"):
        _run(server.backend(), [_request()])
    assert len(server.bodies) == 1


def test_the_model_list_is_retried_while_the_server_starts():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) < 3:
            raise httpx.ConnectError("connection refused")
        return httpx.Response(200, json=_models(MODEL))

    backend = OpenAIBackend(URL, MODEL, transport=httpx.MockTransport(handler), backoff_s=0.001)
    backend.close()
    assert calls == ["/v1/models"] * 3


# --- top-k where the server takes it -----------------------------------------------------------------


def test_a_server_refusing_a_top_k_field_gets_it_in_generation_config():
    def chat(body, n):
        if "top_k" in body:  # transformers serve's answer to fields outside OpenAI's schema
            return httpx.Response(422, json={"detail": "Unexpected fields in the request: {'top_k'}"})
        return _completion()

    server = Server(chat)
    backend = server.backend(concurrency=1)
    results = list(backend.generate([_request("1"), _request("2")], SamplingSettings()))
    assert len(results) == 2 and backend.retries == 0 and backend.top_k_field == "generation_config"
    assert [("top_k" in b, b.get("generation_config")) for b in server.bodies] == [
        (True, None), (False, '{"top_k": 40, "do_sample": true}'), (False, '{"top_k": 40, "do_sample": true}')]
    backend.close()


def test_a_server_taking_no_top_k_at_all_says_so():
    def chat(body, n):
        field = "top_k" if "top_k" in body else "generation_config"
        return httpx.Response(400, json={"error": {"message": f"Unrecognized request argument supplied: {field}"}})

    with pytest.raises(BackendError, match=r"accepts no top-k.*top_k=None"):
        _run(Server(chat).backend(), [_request()])


# --- concurrency -------------------------------------------------------------------------------------


def test_requests_run_concurrency_at_a_time_and_are_yielded_as_they_finish():
    in_flight, peak = [0], [0]

    async def chat(body, n):
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        await asyncio.sleep(0.6 if body["messages"][0]["content"] == "slow" else 0.05)
        in_flight[0] -= 1
        return _completion(body["messages"][0]["content"])

    requests = [_request("0", text="slow")] + [_request(str(i), text=f"q{i}") for i in range(1, 12)]
    started = time.monotonic()
    results = _run(Server(chat).backend(concurrency=4), requests)
    elapsed = time.monotonic() - started
    assert peak[0] == 4
    assert sorted(r.key for r, _ in results) == sorted(r.key for r in requests)
    assert all(g.text == r.messages[0]["content"] for r, g in results)
    assert results[-1][0].key.item_id == "0", "the slow request finishes last; the others are not held up behind it"
    assert elapsed < 0.6 + 11 * 0.05, "one at a time would take longer"


def test_a_failing_request_ends_the_run_and_the_backend_stays_usable():
    async def chat(body, n):
        if body["messages"][0]["content"] == "bad":
            return httpx.Response(400, json={"error": {"message": "bad prompt"}})
        await asyncio.sleep(0.05)
        return _completion()

    server = Server(chat)
    backend = server.backend(concurrency=2)
    requests = [_request("0", text="bad")] + [_request(str(i)) for i in range(1, 20)]
    with pytest.raises(BackendError, match="bad prompt"):
        list(backend.generate(requests, SamplingSettings()))
    sent = len(server.bodies)
    time.sleep(0.3)
    assert len(server.bodies) <= sent + 2, "the requests not yet started are not sent after the failure"
    assert len(list(backend.generate([_request("again")], SamplingSettings()))) == 1
    backend.close()


def test_leaving_the_loop_early_cancels_what_is_in_flight():
    async def chat(body, n):
        await asyncio.sleep(0.02 if n == 1 else 0.5)
        return _completion()

    server = Server(chat)
    backend = server.backend(concurrency=2)
    for _ in backend.generate([_request(str(i)) for i in range(10)], SamplingSettings()):
        break
    time.sleep(0.2)
    assert len(server.bodies) <= 3
    backend.close()
    backend.close()
    with pytest.raises(BackendError, match="after close"):
        list(backend.generate([_request()], SamplingSettings()))


def test_invalid_arguments_are_refused():
    for kwargs in ({"concurrency": 0}, {"timeout_s": 0}, {"max_retries": -1}):
        with pytest.raises(BackendError):
            OpenAIBackend(URL, MODEL, transport=httpx.MockTransport(Server(lambda b, n: _completion())), **kwargs)


# --- a real server -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_through_transformers_serve_with_the_tiny_model_on_cpu(tmp_path):
    """``transformers serve DIR`` pins the server to one local model (no hub access: HF_HUB_OFFLINE=1),
    on the CPU; the backend finds it at /v1/models, learns that it takes top-k in generation_config,
    and gets completions with token counts and finish reasons, two requests at a time."""
    from rltrain.models.tiny import write_tiny

    model = str(write_tiny(tmp_path / "tiny"))
    with transformers_serve(model, tmp_path / "serve.log") as url:
        backend = OpenAIBackend(url, model, concurrency=2, timeout_s=120, max_retries=1)
        assert backend.identity() == model
        requests = [_request(str(i), text=f"Say {i}.") for i in range(4)]
        settings = SamplingSettings(max_tokens=6)
        results = list(backend.generate(requests, settings))
        assert backend.top_k_field == "generation_config", "transformers serve refuses a top_k field"
        backend.close()
    assert sorted(r.key for r, _ in results) == sorted(r.key for r in requests)
    for _, generation in results:
        assert generation.finish_reason in ("stop", "length") and isinstance(generation.text, str)
        assert generation.prompt_tokens and generation.prompt_tokens > 0
        assert generation.completion_tokens is not None and 1 <= generation.completion_tokens <= 6
    assert any(g.truncated for _, g in results), "random weights rarely end a 6-token answer"

"""The ``vllm`` evaluation backend on CPU, with a stand-in ``vllm`` package on the path (vLLM itself needs a
GPU): the sampling parameters and chat rendering it is asked for, chunked yields, token counts, finish
reasons, and data parallel engine processes pinned to their GPUs."""

from __future__ import annotations

import importlib.util
import json
import os
import sys

import pytest

from rltrain.evaluation.backends.base import BackendError, GenerationBackend, GenerationRequest, SampleKey
from rltrain.evaluation.backends.vllm import VllmBackend, gpu_slices, sampling_params_kwargs
from rltrain.evaluation.settings import SamplingSettings, sample_seed

STUB = '''
"""A stand-in for vLLM's offline API: records each call as a JSON line in $VLLM_STUB_RECORD and answers
"echo <last message> seed <seed>", cut to max_tokens words (one word, one token)."""
import json
import os


def _record(event):
    with open(os.environ["VLLM_STUB_RECORD"], "a") as f:
        f.write(json.dumps({**event, "pid": os.getpid(), "cuda": os.environ.get("CUDA_VISIBLE_DEVICES")}) + "\\n")


class SamplingParams:
    def __init__(self, **kwargs):
        assert set(kwargs) <= {"n", "temperature", "top_p", "top_k", "max_tokens", "seed"}, kwargs
        self.kwargs = kwargs


class CompletionOutput:
    def __init__(self, text, token_ids, finish_reason):
        self.text, self.token_ids, self.finish_reason = text, token_ids, finish_reason


class RequestOutput:
    def __init__(self, prompt_token_ids, outputs):
        self.prompt_token_ids, self.outputs = prompt_token_ids, outputs


class LLM:
    def __init__(self, **kwargs):
        if os.environ.get("VLLM_STUB_FAIL"):
            raise RuntimeError("CUDA out of memory (stand-in)")
        _record({"event": "init", "kwargs": kwargs})

    def chat(self, messages, sampling_params=None, use_tqdm=True, add_generation_prompt=True, **kwargs):
        _record({"event": "chat", "n": len(messages), "params": [p.kwargs for p in sampling_params],
                 "use_tqdm": use_tqdm, "add_generation_prompt": add_generation_prompt, "kwargs": sorted(kwargs)})
        outputs = []
        for conversation, params in zip(messages, sampling_params):
            if conversation[-1]["content"] == "boom":
                raise ValueError("the prompt is longer than max_model_len")
            rendered = "".join(f"<{m['role']}>{m['content']}" for m in conversation)
            rendered += "<assistant>" if add_generation_prompt else ""
            words = f"echo {conversation[-1]['content']} seed {params.kwargs['seed']}".split()
            limit = params.kwargs["max_tokens"]
            finish = "length" if len(words) >= limit else "stop"
            kept = words[:limit]
            outputs.append(RequestOutput(list(range(len(rendered))), [CompletionOutput(" ".join(kept), list(range(len(kept))), finish)]))
        return outputs
'''


@pytest.fixture
def stub_vllm(tmp_path, monkeypatch):
    """The stand-in package first on the path (for this process and the engine processes it spawns)."""
    root = tmp_path / "stub"
    (root / "vllm").mkdir(parents=True)
    (root / "vllm" / "__init__.py").write_text(STUB)
    record = tmp_path / "calls.jsonl"
    monkeypatch.setenv("VLLM_STUB_RECORD", str(record))
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, "vllm", raising=False)
    yield lambda: [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
    sys.modules.pop("vllm", None)


def _requests(count: int) -> list[GenerationRequest]:
    return [GenerationRequest(SampleKey("aime24", f"p{i}", 0), ({"role": "system", "content": "Be brief."},
                                                                 {"role": "user", "content": f"q{i}"}),
                              sample_seed(0, "aime24", f"p{i}", 0)) for i in range(count)]


def test_without_vllm_the_error_names_the_install_command():
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    with pytest.raises(BackendError, match=r"pip install 'rltrain\[vllm\]'"):
        VllmBackend("some/model")


def test_sampling_params_per_request():
    settings = SamplingSettings()
    assert sampling_params_kwargs(settings, 7) == {"n": 1, "temperature": 0.6, "top_p": 0.95, "top_k": 40,
                                                   "max_tokens": 32768, "seed": 7}
    assert sampling_params_kwargs(SamplingSettings(temperature=0, top_k=None), 1)["top_k"] == -1


def test_chat_rendering_sampling_params_and_engine_arguments(stub_vllm):
    backend = VllmBackend("/models/qwq", tensor_parallel_size=2, gpu_memory_utilization=0.85, max_model_len=40960, chunk_size=2)
    assert isinstance(backend, GenerationBackend) and backend.name == "vllm" and backend.identity() == ""
    assert stub_vllm() == [], "the engine starts at the first generate, not before"
    requests = _requests(5)
    results = list(backend.generate(requests, SamplingSettings(max_tokens=64)))
    backend.close()
    calls = stub_vllm()
    assert calls[0]["event"] == "init"
    assert calls[0]["kwargs"] == {"model": "/models/qwq", "tensor_parallel_size": 2, "gpu_memory_utilization": 0.85,
                                  "max_model_len": 40960}
    chats = calls[1:]
    assert [c["n"] for c in chats] == [2, 2, 1], "chunks of chunk_size requests"
    assert all(c["add_generation_prompt"] is True and c["use_tqdm"] is False for c in chats)
    params = [p for c in chats for p in c["params"]]
    assert params == [{"n": 1, "temperature": 0.6, "top_p": 0.95, "top_k": 40, "max_tokens": 64, "seed": r.seed} for r in requests]
    assert [r for r, _ in results] == requests
    for request, generation in results:
        assert generation.text == f"echo {request.messages[-1]['content']} seed {request.seed}"
        assert generation.finish_reason == "stop" and generation.completion_tokens == 4
        rendered = "<system>Be brief.<user>" + request.messages[-1]["content"] + "<assistant>"
        assert generation.prompt_tokens == len(rendered)


def test_chunks_are_yielded_as_each_ends(stub_vllm):
    backend = VllmBackend("m", chunk_size=3)
    stream = backend.generate(_requests(7), SamplingSettings())
    first = [next(stream) for _ in range(3)]
    assert [c["n"] for c in stub_vllm() if c["event"] == "chat"] == [3], "the first chunk is out before the second runs"
    rest = list(stream)
    assert len(first) + len(rest) == 7
    assert [c["n"] for c in stub_vllm() if c["event"] == "chat"] == [3, 3, 1]
    assert [c["event"] for c in stub_vllm()].count("init") == 1
    assert list(backend.generate([], SamplingSettings())) == []


def test_a_completion_cut_at_max_tokens_is_length_finished(stub_vllm):
    backend = VllmBackend("m")
    [(_, generation)] = list(backend.generate(_requests(1), SamplingSettings(max_tokens=2, top_k=None)))
    assert generation.finish_reason == "length" and generation.truncated
    assert generation.text == "echo q0" and generation.completion_tokens == 2
    assert stub_vllm()[1]["params"][0]["top_k"] == -1


def test_an_engine_error_names_the_requests(stub_vllm):
    backend = VllmBackend("m")
    requests = _requests(2)
    requests[1] = GenerationRequest(SampleKey("aime24", "long", 0), ({"role": "user", "content": "boom"},), 1)
    with pytest.raises(BackendError, match=r"generating .*p0.*long.* failed: ValueError: the prompt is longer"):
        list(backend.generate(requests, SamplingSettings()))


def test_gpu_slices_for_data_parallel_engines():
    assert gpu_slices(2, 2, "3,4,5,6") == ["3,4", "5,6"]
    assert gpu_slices(4, 1, None) == ["0", "1", "2", "3"]
    assert gpu_slices(1, 2, "0,1,2") == ["0,1"]
    with pytest.raises(BackendError, match="needs 4 GPUs"):
        gpu_slices(2, 2, "0,1")


def test_invalid_arguments_are_refused(stub_vllm):
    for kwargs in ({"tensor_parallel_size": 0}, {"data_parallel_size": 0}, {"chunk_size": 0},
                   {"gpu_memory_utilization": 1.5}, {"max_model_len": 0}):
        with pytest.raises(BackendError):
            VllmBackend("m", **kwargs)


def test_data_parallel_engines_run_in_processes_pinned_to_their_gpus(stub_vllm, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,4,5,6")
    requests = _requests(9)
    backend = VllmBackend("m", tensor_parallel_size=2, data_parallel_size=2, chunk_size=2)
    try:
        results = list(backend.generate(requests, SamplingSettings(max_tokens=16)))
        again = list(backend.generate(requests[:1], SamplingSettings(max_tokens=16)))
    finally:
        backend.close()
    assert sorted(r.key for r, _ in results) == sorted(r.key for r in requests)
    assert all(g.text == f"echo {r.messages[-1]['content']} seed {r.seed}" for r, g in results)
    by_key = {r.key: g for r, g in results}
    assert again[0][1] == by_key[requests[0].key], "seeded per request: the same sample in any process"
    calls = stub_vllm()
    inits = [c for c in calls if c["event"] == "init"]
    assert sorted(c["cuda"] for c in inits) == ["3,4", "5,6"], "one engine per slice of tensor_parallel_size GPUs"
    assert os.getpid() not in {c["pid"] for c in inits}
    assert sum(c["n"] for c in calls if c["event"] == "chat") == 10


def test_a_data_parallel_engine_that_fails_to_start_is_reported(stub_vllm, monkeypatch):
    monkeypatch.setenv("VLLM_STUB_FAIL", "1")
    backend = VllmBackend("m", data_parallel_size=2, chunk_size=4)
    try:
        with pytest.raises(BackendError, match="CUDA out of memory"):
            list(backend.generate(_requests(4), SamplingSettings()))
    finally:
        backend.close()


def test_without_data_parallel_an_engine_that_fails_to_start_is_a_backend_error(stub_vllm, monkeypatch):
    monkeypatch.setenv("VLLM_STUB_FAIL", "1")
    with pytest.raises(BackendError, match="cannot start an engine for 'm'.*CUDA out of memory"):
        list(VllmBackend("m").generate(_requests(1), SamplingSettings()))


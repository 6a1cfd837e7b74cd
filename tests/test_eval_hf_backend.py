"""The hf backend on the tiny model: the chat template's generation prompt, batches, token counts,
``length`` at max_tokens, seeds per batch, greedy decoding, the caller's random state left alone."""

import pytest
import torch

from rltrain.evaluation.backends.base import GenerationBackend, GenerationRequest, SampleKey
from rltrain.evaluation.backends.hf import HfBackend, batch_seed, sampling_kwargs
from rltrain.evaluation.settings import SamplingSettings


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    from rltrain.models.tiny import write_tiny
    from rltrain.recipe.schema import TinyModelConfig

    path = write_tiny(tmp_path_factory.mktemp("tiny"), TinyModelConfig(hidden_size=32, num_hidden_layers=1))
    hf = HfBackend(str(path), batch_size=2)
    yield hf
    hf.close()


def _requests(count, *, seed=0, prompt="Say hi"):
    return [GenerationRequest(SampleKey("b", str(i), 0), ({"role": "user", "content": f"{prompt} {i}"},), seed + i) for i in range(count)]


def test_it_is_a_generation_backend(backend):
    assert isinstance(backend, GenerationBackend)
    assert backend.name == "hf" and backend.identity() == "hf/float32"


def test_every_request_comes_back_in_batches_with_counts(backend):
    requests = _requests(5)
    out = list(backend.generate(requests, SamplingSettings(max_tokens=6)))
    assert [r for r, _ in out] == requests
    tokenizer = backend._tokenizer
    for request, generation in out:
        rendered = tokenizer.apply_chat_template(list(request.messages), tokenize=False, add_generation_prompt=True)
        assert rendered.endswith("<|im_start|>assistant\n<think>\n")
        assert generation.prompt_tokens == len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
        assert 1 <= generation.completion_tokens <= 6
        assert generation.truncated == (generation.completion_tokens == 6 and generation.finish_reason == "length")


def test_finish_reasons_follow_the_end_token(backend):
    eos = backend._tokenizer.eos_token_id
    stopped = backend._finished([70, 71, eos, 0, 0], prompt_tokens=9)
    assert (stopped.finish_reason, stopped.completion_tokens, stopped.prompt_tokens) == ("stop", 3, 9)
    cut = backend._finished([70, 71, 72], prompt_tokens=9)
    assert (cut.finish_reason, cut.completion_tokens) == ("length", 3)


def test_the_same_batches_sample_the_same_and_other_seeds_differ(backend):
    settings = SamplingSettings(max_tokens=12, temperature=1.0, top_k=None, top_p=1.0)
    first = [g.text for _, g in backend.generate(_requests(4), settings)]
    again = [g.text for _, g in backend.generate(_requests(4), settings)]
    other = [g.text for _, g in backend.generate(_requests(4, seed=100), settings)]
    assert first == again
    assert first != other
    assert batch_seed([1, 2]) != batch_seed([2, 1])


def test_greedy_samples_are_all_alike_and_the_random_state_is_left_alone(backend):
    state = torch.random.get_rng_state()
    requests = [GenerationRequest(SampleKey("b", "x", i), ({"role": "user", "content": "same"},), seed=i) for i in range(3)]
    texts = {g.text for _, g in backend.generate(requests, SamplingSettings(temperature=0.0, max_tokens=8))}
    assert len(texts) == 1
    assert torch.equal(state, torch.random.get_rng_state())


def test_sampling_arguments():
    assert sampling_kwargs(SamplingSettings(temperature=0)) == {"do_sample": False}
    assert sampling_kwargs(SamplingSettings()) == {"do_sample": True, "temperature": 0.6, "top_p": 0.95, "top_k": 40}
    assert sampling_kwargs(SamplingSettings(top_k=None))["top_k"] == 0  # transformers' "no top-k"

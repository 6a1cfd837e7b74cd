"""The reward_model reward against vLLM's /classify and /pooling (mode: vllm), on a local stand-in server.

The stand-in implements the request and response shapes of vLLM's OpenAI-compatible server (GET /v1/models,
POST /classify, POST /pooling, error bodies ``{"error": {"message", "type", "param", "code"}}``) and scores
with the tiny reward model, tokenizing ``input`` with special tokens added as vLLM does.
"""

import json
import math
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import verifiers
from rltrain.models.tiny import CHAT_TEMPLATE, build_reward_model, build_tokenizer
from rltrain.recipe import TinyModelConfig
from verifiers import VerifierError
from verifiers.reward_model import RewardModel, load_reward_model, normalize

PROMPT = [{"role": "user", "content": "What is 2+2? Wrap your answer in double quotes."}]
SHAPE = TinyModelConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                        intermediate_size=64, seed=3)


def _save_rm(out, tokenizer):
    model = build_reward_model(SHAPE, len(tokenizer), tokenizer.pad_token_id)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="module")
def rm_dir(tmp_path_factory):
    return _save_rm(tmp_path_factory.mktemp("rm"), build_tokenizer())


@pytest.fixture(scope="module")
def rm(rm_dir):
    return load_reward_model(rm_dir, batch_size=3)


def _pairs(n, prompt=PROMPT):
    return [(prompt, f"reasoning {i}</think>" + '"\\boxed{4}"' * (1 + i % 3)) for i in range(n)]


def _call(reward, pairs):
    return reward([p for p, _ in pairs], [[{"role": "assistant", "content": r}] for _, r in pairs])


class FakeVLLM:
    """A stand-in for ``vllm serve MODEL --runner pooling`` (vLLM 0.11+ request fields unless ``switch`` says).

    ``switch``: the request field that turns the activation off (``use_activation``; ``activation`` for an
    older server; ``none`` for one that honours neither). ``faults``: what the next POSTs get instead of
    an answer (``503``, ``"reset"``, ``("sleep", s)``, ``(status, body)``). ``classes``: outputs per text;
    ``token_width``: values per token in /pooling rows (1 for a token reward model).
    """

    def __init__(self, model_dir, *, served="tiny-rm", max_model_len=4096, switch="use_activation"):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        torch.set_num_threads(1)
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
        self.root, self.served, self.max_model_len, self.switch = model_dir, served, max_model_len, switch
        self.models = [served]
        self.requests = []
        self.faults = []
        self.classes = 1
        self.token_width = 1
        self.drop = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def posts(self, path="/classify"):
        return [body for p, body in self.requests if p == path]

    # -- scoring -----------------------------------------------------------------------------------

    def _logit(self, text, truncate):
        import torch

        ids = self.tokenizer(text, add_special_tokens=True)["input_ids"]  # vLLM's default for `input`
        if truncate:
            ids = ids[-truncate:]
        if len(ids) > self.max_model_len:
            raise _Refused(400, f"This model's maximum context length is {self.max_model_len} tokens. However, your "
                                f"request has {len(ids)} input tokens. Please reduce the length of the input messages.")
        with torch.inference_mode():
            return float(self.model(input_ids=torch.tensor([ids])).logits[0, 0]), len(ids)

    def _activation(self, body):
        if self.switch == "use_activation":
            if "activation" in body:
                raise _Refused(400, "Parameter `activation` was removed; use `use_activation` instead.")
            value = body.get("use_activation")
        elif self.switch == "activation, strict":  # a server refusing fields it does not know
            if "use_activation" in body:
                raise _Refused(400, "1 validation error: use_activation: Extra inputs are not permitted")
            value = body.get("activation")
        else:
            value = body.get(self.switch)
        return True if value is None else bool(value)

    def answer(self, path, body):
        if body.get("model") not in self.models:
            raise _Refused(404, f"The model `{body.get('model')}` does not exist.", "NotFoundError")
        truncate = body.get("truncate_prompt_tokens")
        if truncate is not None and truncate > self.max_model_len:
            raise _Refused(400, f"truncate_prompt_tokens value ({truncate}) is greater than max_model_len "
                                f"({self.max_model_len}). Please, select a smaller truncation size.")
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        active = self._activation(body)
        data = []
        for i, text in enumerate(texts):
            logit, n_tokens = self._logit(text, truncate)
            values = [logit, -logit, 0.5 * logit][: self.classes]
            if path == "/classify":
                if active:
                    values = ([1 / (1 + math.exp(-values[0]))] if len(values) == 1 else
                              [math.exp(v) / sum(math.exp(u) for u in values) for v in values])
                data.append({"index": i, "label": f"LABEL_{max(range(len(values)), key=values.__getitem__)}",
                             "probs": values, "num_classes": len(values)})
            else:  # a token reward model: one row per token, the reward read at the last one
                last = [1 / (1 + math.exp(-logit)) if active else logit] + [0.0] * (self.token_width - 1)
                rows = [[-50.0] * self.token_width for _ in range(n_tokens - 1)] + [last]
                data.append({"index": i, "object": "pooling", "data": rows})
        data = data[self.drop:][::-1]  # out of order: the client must sort by index
        return {"id": "classify-0", "object": "list", "created": int(time.time()), "model": body["model"],
                "data": data, "usage": {"prompt_tokens": 1, "total_tokens": 1, "completion_tokens": 0,
                                        "prompt_tokens_details": None}}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def finish(self):
                try:
                    super().finish()
                except OSError:  # a connection reset on purpose, or a client that timed out
                    pass

            def _send(self, status, body):
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    self.close_connection = True

            def do_GET(self):
                with fake.lock:
                    fake.requests.append((self.path, None))
                if self.path == "/v1/models":
                    cards = [{"id": name, "object": "model", "created": 0, "owned_by": "vllm", "root": fake.root,
                              "parent": None, "max_model_len": fake.max_model_len, "permission": []}
                             for name in fake.models]
                    self._send(200, {"object": "list", "data": cards})
                else:
                    self._send(404, {"detail": "Not Found"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests.append((self.path, body))
                    fault = fake.faults.pop(0) if fake.faults else None
                if fault == 503:
                    return self._send(503, {"error": {"message": "overloaded", "type": "ServiceUnavailableError",
                                                      "param": None, "code": 503}})
                if fault == "reset":  # RST instead of an answer
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                if isinstance(fault, tuple) and fault[0] == "sleep":
                    time.sleep(fault[1])
                elif isinstance(fault, tuple):
                    return self._send(*fault)
                if self.path not in ("/classify", "/pooling"):
                    return self._send(404, {"detail": "Not Found"})
                try:
                    self._send(200, fake.answer(self.path, body))
                except _Refused as refused:
                    self._send(refused.status, {"error": {"message": refused.message, "type": refused.kind,
                                                          "param": None, "code": refused.status}})

        return Handler


class _Refused(Exception):
    def __init__(self, status, message, kind="BadRequestError"):
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


@pytest.fixture
def fake(rm_dir):
    server = FakeVLLM(rm_dir)
    yield server
    server.close()


def _vllm(fake, **params):
    return verifiers.build_reward("reward_model", {"mode": "vllm", "url": fake.url, **params})


# -- scores and requests ------------------------------------------------------------------------------

def test_classify_scores_equal_in_process_and_requests_are_vllm_shaped(rm_dir, rm, fake):
    local = verifiers.build_reward("reward_model", {"model_path": rm_dir})
    remote = _vllm(fake, batch_size=3)
    pairs = _pairs(7)
    assert _call(remote, pairs) == pytest.approx(_call(local, pairs), abs=1e-4)
    assert _call(remote, pairs[:2]) == pytest.approx(_call(local, pairs[:2]), abs=1e-4)

    assert [p for p, body in fake.requests if body is None] == ["/v1/models"]  # the served name, read once
    texts = [rm.render(p, r) for p, r in pairs]
    probes, batches = fake.posts()[:2], fake.posts()[2:]
    assert [b["input"] for b in probes] == [texts[:3], texts[:3]]
    assert [b["use_activation"] for b in probes] == [False, True]  # found out once which switch works
    assert all(b["model"] == "tiny-rm" for b in fake.posts())
    assert sorted(len(b["input"]) for b in batches) == [1, 2, 3, 3]  # batch_size texts per request
    chunks = {tuple(texts[i : i + 3]) for i in range(0, 7, 3)}  # rendered with the chat template, in order
    assert chunks <= {tuple(b["input"]) for b in batches}
    assert all(b["use_activation"] is False and "activation" not in b for b in batches)
    assert all(b["truncate_prompt_tokens"] == 2048 for b in batches)


def test_normalisation_applies_to_the_raw_scores(rm, fake):
    pairs = _pairs(3) + _pairs(3, [{"role": "user", "content": "Say hi."}])
    raw = rm.score(pairs)
    prompts = [p for p, _ in pairs]
    assert _call(_vllm(fake, normalization="group"), pairs) == pytest.approx(normalize(raw, "group", prompts), abs=1e-4)
    assert _call(_vllm(fake, normalization="sigmoid"), pairs) == pytest.approx(normalize(raw, "sigmoid"), abs=1e-4)


def test_thinking_is_stripped_before_sending(fake):
    reward = _vllm(fake)
    _call(reward, [(PROMPT, "secret reasoning</think>the answer")])
    assert all("secret reasoning" not in t and "the answer" in t for t in fake.posts()[-1]["input"])


def test_truncation_is_capped_at_the_server_max_model_len(rm_dir):
    fake = FakeVLLM(rm_dir, max_model_len=64)
    try:
        scores = _call(_vllm(fake, max_length=4096), _pairs(2))
        assert len(scores) == 2 and all(b["truncate_prompt_tokens"] == 64 for b in fake.posts())
        local = RewardModel(load_reward_model(rm_dir).model, load_reward_model(rm_dir).tokenizer, max_length=64)
        assert scores == pytest.approx(local.score(_pairs(2)), abs=1e-4)  # both keep the last 64 tokens
    finally:
        fake.close()


@pytest.mark.parametrize("switch", ["activation", "activation, strict"])
def test_an_older_server_gets_the_older_activation_field(rm, rm_dir, switch):
    fake = FakeVLLM(rm_dir, switch=switch)
    try:
        assert _call(_vllm(fake), _pairs(3)) == pytest.approx(rm.score(_pairs(3)), abs=1e-4)
        assert all(b.get("activation") is False and "use_activation" not in b for b in fake.posts()[4:])
    finally:
        fake.close()


def test_an_error_while_probing_is_reported_as_itself(fake):
    fake.faults = [(400, {"error": {"message": "Input cannot be empty for classification", "type": "BadRequestError",
                                    "param": None, "code": 400}})]
    with pytest.raises(VerifierError, match="Input cannot be empty"):
        _call(_vllm(fake), _pairs(1))


def test_a_server_that_cannot_return_raw_scores_is_refused(rm_dir):
    fake = FakeVLLM(rm_dir, switch="none")
    try:
        with pytest.raises(VerifierError, match="ignores both use_activation and activation"):
            _call(_vllm(fake), _pairs(2))
        probs = _call(_vllm(fake, label=0), _pairs(2))  # opting for the sigmoid probability works
        assert all(0 < p < 1 for p in probs)
    finally:
        fake.close()


def test_pooling_reads_the_last_token(rm, fake):
    reward = _vllm(fake, vllm_endpoint="pooling", batch_size=2)
    assert _call(reward, _pairs(5)) == pytest.approx(rm.score(_pairs(5)), abs=1e-4)
    assert len(fake.posts("/pooling")) == 2 + 3
    fake.token_width = 4  # hidden states (a sequence classifier's /pooling on vLLM 0.10): refused
    with pytest.raises(VerifierError, match="vllm_endpoint: classify"):
        _call(_vllm(fake, vllm_endpoint="pooling"), _pairs(1))


def test_the_server_adds_the_bos_the_template_writes(tmp_path):
    from tokenizers.processors import TemplateProcessing

    tokenizer = build_tokenizer()
    tokenizer.add_special_tokens({"bos_token": "<|bos|>"})
    tokenizer._tokenizer.post_processor = TemplateProcessing(
        single="<|bos|> $A", pair="<|bos|> $A <|bos|> $B", special_tokens=[("<|bos|>", tokenizer.bos_token_id)])
    tokenizer.chat_template = "{{ bos_token }}" + CHAT_TEMPLATE  # like Llama 3's <|begin_of_text|>
    model_dir = _save_rm(tmp_path / "rm", tokenizer)
    fake = FakeVLLM(model_dir)
    try:
        local = load_reward_model(model_dir)
        assert local.render(*_pairs(1)[0]).startswith("<|bos|>")
        assert _call(_vllm(fake), _pairs(3)) == pytest.approx(local.score(_pairs(3)), abs=1e-4)
        assert not any(t.startswith("<|bos|>") for t in fake.posts()[-1]["input"])  # one BOS, not two
    finally:
        fake.close()


# -- served model name and classes --------------------------------------------------------------------

def test_model_name_given_checked_or_required(rm, fake):
    assert _call(_vllm(fake, model="tiny-rm"), _pairs(2)) == pytest.approx(rm.score(_pairs(2)), abs=1e-4)
    with pytest.raises(VerifierError, match="serves no model named 'other'.*tiny-rm"):
        _call(_vllm(fake, model="other"), _pairs(1))
    fake.models = ["tiny-rm", "tiny-rm-lora"]
    with pytest.raises(VerifierError, match="set params.model"):
        _call(_vllm(fake), _pairs(1))


def test_several_classes_need_a_label(rm, rm_dir, fake, tmp_path):
    fake.classes = 2
    with pytest.raises(VerifierError, match="2 classes.*params.label"):
        _call(_vllm(fake), _pairs(2))
    logits = rm.score(_pairs(2))
    expected = [1 / (1 + math.exp(2 * x)) for x in logits]  # softmax([x, -x])[1]
    before = len(fake.posts())
    assert _call(_vllm(fake, label=1), _pairs(2)) == pytest.approx(expected, abs=1e-4)
    assert all("use_activation" not in b for b in fake.posts()[before:])  # the probability is the score

    named = tmp_path / "named"
    named.mkdir()
    for f in Path(rm_dir).iterdir():
        (named / f.name).write_bytes(f.read_bytes())
    config = json.loads((named / "config.json").read_text())
    config.update(id2label={"0": "bad", "1": "good"}, label2id={"bad": 0, "good": 1})
    (named / "config.json").write_text(json.dumps(config))
    assert _call(_vllm(fake, label="good", tokenizer=str(named)), _pairs(2)) == pytest.approx(expected, abs=1e-4)
    with pytest.raises(VerifierError, match="not a class"):
        _call(_vllm(fake, label="great", tokenizer=str(named)), _pairs(1))


# -- failures -----------------------------------------------------------------------------------------

def test_retries_on_503_and_connection_reset(rm, fake):
    reward = _vllm(fake, retries=3)
    _call(reward, _pairs(1))  # setup and probes
    fake.faults = [503, "reset", 503]
    assert _call(reward, _pairs(2)) == pytest.approx(rm.score(_pairs(2)), abs=1e-4)
    assert len(fake.posts()) == 2 + 1 + 4


def test_timeout_masks_the_batch_not_zero(fake):
    from rltrain.rewards import guard

    reward = _vllm(fake, timeout=0.3, retries=0)
    _call(reward, _pairs(1))
    fake.faults = [("sleep", 1.0)]
    with pytest.raises(VerifierError, match="no answer"):
        _call(reward, _pairs(2))
    guarded = guard("reward_model", reward, timeout=30)
    fake.faults = [("sleep", 1.0)]
    assert _call(guarded, _pairs(2)) == [None, None]
    assert guarded.stats.errored_calls == 1 and "no answer" in guarded.stats.last_error


def test_error_answers_are_explained_and_masked(fake):
    from rltrain.rewards import guard

    reward = _vllm(fake)
    _call(reward, _pairs(1))
    fake.max_model_len = 8
    with pytest.raises(VerifierError, match=r"greater than max_model_len \(8\).*lower params.max_length"):
        _call(reward, _pairs(1))
    fake.max_model_len = 4096
    fake.faults = [(200, {"object": "error", "message": "Engine loop has died", "type": "InternalServerError",
                          "param": None, "code": 500})]
    with pytest.raises(VerifierError, match="answered an error: Engine loop has died"):
        _call(reward, _pairs(1))
    fake.faults = [(500, {"error": {"message": "CUDA out of memory", "type": "InternalServerError", "param": None,
                                    "code": 500}})]
    guarded = guard("reward_model", reward, timeout=30)
    assert _call(guarded, _pairs(2)) == [None, None]
    assert "CUDA out of memory" in guarded.stats.last_error
    fake.drop = 1
    with pytest.raises(VerifierError, match="sent 2 texts, got 1 results"):
        _call(reward, _pairs(2))


def test_unreachable_server_and_bad_params(rm_dir):
    reward = verifiers.build_reward("reward_model", {"mode": "vllm", "url": "http://127.0.0.1:9", "retries": 0,
                                                     "timeout": 2})
    with pytest.raises(VerifierError, match="cannot list the served models"):
        _call(reward, _pairs(1))
    with pytest.raises(VerifierError, match="url"):
        verifiers.build_reward("reward_model", {"mode": "vllm"})
    with pytest.raises(VerifierError, match="left only"):
        verifiers.build_reward("reward_model", {"mode": "vllm", "url": "http://x:8000", "truncation": "right"})
    with pytest.raises(VerifierError, match="label"):
        verifiers.build_reward("reward_model", {"mode": "vllm", "url": "http://x:8000", "vllm_endpoint": "pooling",
                                                "label": 1})
    with pytest.raises(VerifierError, match="vllm_endpoint"):
        verifiers.build_reward("reward_model", {"mode": "vllm", "url": "http://x:8000", "vllm_endpoint": "score"})

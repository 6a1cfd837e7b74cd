"""Client of a reward model served by vLLM (``vllm serve MODEL --runner pooling``), for ``mode: vllm``.

vLLM's HTTP API as this client uses it (the OpenAI-compatible server of vLLM 0.10 and later):

* ``GET /v1/models`` → ``{"data": [{"id", "root", "max_model_len", ...}]}``. Requests must name the served
  model: ``params.model``, else the only model listed here (read once). ``root`` (the path the server
  loaded) is where the chat template comes from unless ``tokenizer``/``model_path`` say otherwise;
* ``POST /classify`` ``{"model", "input": [text, ...]}`` → ``{"data": [{"index", "label", "probs": [...],
  "num_classes"}]}``: the score head read at the last token, one vector per text. vLLM applies an
  activation to it (sigmoid for one class, softmax for several) unless the request turns it off with
  ``use_activation: false`` (current vLLM; ``activation: false`` in the releases before it, deprecated
  then and dropped in 0.15). Sending both is not safe (a vLLM release with both reads any ``activation``
  given as true), so which one a server honours is found out once, on the first texts: each is sent off
  and on, and the first that changes the answer is used (the same probe runs for ``/pooling``). A server
  that honours neither cannot give a one-class model's raw score and is refused with a clear error;
* ``POST /pooling`` ``{"model", "input": [...]}`` → ``{"data": [{"index", "object": "pooling", "data":
  [...]}]}``: what the model's pooler returns. For token reward models (``InternLM2ForRewardModel``,
  ``Qwen2ForRewardModel``, e.g. Qwen2.5-Math-RM) that is one row per token, ``[[r0], [r1], ...]``; the
  reward is the last token's (a single ``[r]`` is taken as is). Anything wider is refused;
* errors: a 4xx/5xx status with ``{"error": {"message", "type", "code"}}`` (``{"object": "error",
  "message", ...}`` on older servers).

**Which endpoint.** ``classify`` (the default) is the one for sequence-classification reward models
(``*ForSequenceClassification`` with one label: Skywork-Reward-V2, the reward models ``stage: reward``
trains); vLLM's docs list them under its ``classify`` pooling task, and this is the score the in-process
path reads. Serving such a model with ``--task reward`` (vLLM 0.10.0) or ``--convert reward`` does not
change that: its ``/pooling`` answer on 0.10 is the encode pooler's output, every token's hidden state,
not the score (refused here with a pointer to ``classify``). ``pooling`` is for the token reward models.

**Rendering.** vLLM applies no chat template to an ``input`` string, so the pairs are rendered here with
the reward model's own template by the same code as in-process (:func:`verifiers.reward_model.rendering.render`,
reasoning stripped unless ``thinking: keep``), with the tokenizer of ``tokenizer`` (a local directory or
hub id), else ``model_path``, else the server's model path. vLLM tokenizes ``input`` with
``add_special_tokens`` on: a BOS token the template writes itself (Llama 3's ``<|begin_of_text|>``) is
dropped from the text, since the server adds it back; otherwise the model would read it twice. The
first text is checked: if the server's tokens would still differ from the in-process ones, a warning
says so. Rendering here rather than sending chat ``messages`` works with every vLLM version (``/classify``
takes ``messages`` only in recent ones), batches many pairs per request (a chat request holds one
conversation) and reads exactly the text the in-process path reads.

**Truncation.** ``truncate_prompt_tokens: max_length`` (capped at the server's ``max_model_len``): vLLM keeps
the last tokens, as the in-process default (``truncation: left``).

Texts go in chunks of ``batch_size`` per request, several requests in flight, over one pooled client with
a timeout per request and retries with backoff on 429/502/503/504 and connection errors
(:class:`sandbox.service.JsonClient`). A failure raises :class:`VerifierError`, which the trainer's reward
guard turns into a masked batch (``None``, counted as ``errored``), as for ``mode: remote``.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from verifiers.errors import VerifierError
from verifiers.reward_model.client import score_in_chunks
from verifiers.reward_model.rendering import Thinking, render

logger = logging.getLogger(__name__)

__all__ = ["VLLMRewardClient"]

Endpoint = Literal["classify", "pooling"]


@functools.lru_cache(maxsize=4)
def _load_tokenizer(source: str, trust_remote_code: bool):
    from transformers import AutoTokenizer

    local = Path(source).expanduser()
    if not local.exists() and source.startswith((".", "/", "~")):
        raise VerifierError(f"reward model tokenizer: {source} does not exist on this machine; set params.tokenizer "
                            "to a local copy or the hub id of the served model")
    try:
        return AutoTokenizer.from_pretrained(str(local) if local.exists() else source,
                                             trust_remote_code=trust_remote_code)
    except Exception as exc:  # noqa: BLE001 - any loading failure gets the same advice
        raise VerifierError(f"reward model tokenizer: cannot load {source!r} ({type(exc).__name__}: {exc}); set "
                            "params.tokenizer to a local directory or hub id of the served model") from None


def _label_index(source: str, label: str, trust_remote_code: bool) -> int:
    from transformers import AutoConfig

    try:
        label2id = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code).label2id
    except Exception as exc:  # noqa: BLE001
        raise VerifierError(f"reward model: cannot read the label names from {source!r} ({exc}); give params.label "
                            "as a class index") from None
    if label not in label2id:
        raise VerifierError(f"reward model: params.label {label!r} is not a class of {source}; classes: "
                            f"{sorted(label2id, key=label2id.get)}")
    return int(label2id[label])


class VLLMRewardClient:
    """``score(pairs) -> list[float]`` against vLLM's ``/classify`` or ``/pooling`` (see the module doc).

    ``label`` (``classify`` only): for a classifier with several classes, the class (index, or name from
    the model config's ``id2label``) whose probability (vLLM's softmax) is the score. Without it the
    served model must have one output, read raw (no sigmoid).
    """

    def __init__(self, url: str, *, endpoint: Endpoint = "classify", model: str | None = None,
                 tokenizer: str | None = None, label: int | str | None = None, timeout: float = 60.0,
                 retries: int = 3, batch_size: int = 32, concurrency: int = 4, max_length: int = 2048,
                 thinking: Thinking = "strip", trust_remote_code: bool = False):
        from sandbox.service import JsonClient

        if not url.startswith(("http://", "https://")):
            raise VerifierError(f"reward model url {url!r} must start with http:// or https://")
        if label is not None and endpoint != "classify":
            raise VerifierError("reward_model: params.label applies to vllm_endpoint: classify only")
        self.url = url.rstrip("/")
        self.endpoint = endpoint
        self.model = model
        self.tokenizer_source = tokenizer
        self.label = label
        self.timeout = timeout
        self.retries = retries
        self.batch_size = max(1, batch_size)
        self.concurrency = max(1, concurrency)
        self.max_length = max_length
        self.thinking = thinking
        self.trust_remote_code = trust_remote_code
        self._http = JsonClient(self.url, timeout=timeout, retries=retries)
        self._lock = threading.Lock()
        self._ready = False
        self._served: list[str] = []
        self._truncate: int | None = max_length
        self._label_index: int | None = label if isinstance(label, int) else None
        self._tokenizer: Any = None
        self._bos: str | None = None
        self._switch: dict[str, bool] | None = None  # the request field that turns vLLM's activation off
        self._checked = False

    # -- setup (first call, not at recipe validation: the server may start later) -----------------

    def _setup(self) -> None:
        with self._lock:
            if self._ready:
                return
            card = self._served_model()
            source = self._tokenizer_from(card)
            self._tokenizer = _load_tokenizer(source, self.trust_remote_code)
            self._bos = self._added_bos(self._tokenizer)
            max_model_len = card.get("max_model_len")
            if isinstance(max_model_len, int) and max_model_len > 0:
                self._truncate = min(self.max_length, max_model_len)
            if isinstance(self.label, str):
                self._label_index = _label_index(source, self.label, self.trust_remote_code)
            self._ready = True

    def _tokenizer_from(self, card: dict[str, Any]) -> str:
        """Where the chat template comes from: ``params.tokenizer``, else the served model's path (its card's
        ``root``), else its served name (known once :meth:`_served_model` ran)."""
        source = self.tokenizer_source or card.get("root") or self.model
        if not isinstance(source, str):
            raise VerifierError(f"{self.url}: the served model names no tokenizer (root {card.get('root')!r}); set "
                                "params.tokenizer to a local directory or hub id of the served model")
        return source

    def _served_model(self) -> dict[str, Any]:
        """The ``/v1/models`` entry of the reward model; sets :attr:`model` when it was not given."""
        from sandbox.service import ServiceError

        try:
            answer = self._http.get("/v1/models")
        except ServiceError as exc:
            if self.model and exc.status == 404:
                return {}  # not a route of this server: trust params.model
            raise VerifierError(f"{self.url}: cannot list the served models (GET /v1/models: {exc}); is this a "
                                "vLLM server, and up?") from None
        cards = [c for c in (answer.get("data") if isinstance(answer, dict) else None) or [] if isinstance(c, dict)]
        self._served = [str(c.get("id")) for c in cards]
        if self.model is None:
            if len(cards) != 1:
                raise VerifierError(f"{self.url} serves {len(cards)} models {self._served}; set params.model to the "
                                    "reward model's served name")
            self.model = self._served[0]
            return cards[0]
        for card in cards:
            if card.get("id") == self.model:
                return card
        raise VerifierError(f"{self.url} serves no model named {self.model!r} (it serves {self._served}); fix "
                            "params.model (vLLM's --served-model-name, by default the model path given to vllm serve)")

    @staticmethod
    def _added_bos(tokenizer) -> str | None:
        """The BOS text the server's tokenizer adds to an ``input`` on its own, if any."""
        bos, bos_id = getattr(tokenizer, "bos_token", None), getattr(tokenizer, "bos_token_id", None)
        if not bos or bos_id is None:
            return None
        added = tokenizer("x", add_special_tokens=True)["input_ids"]
        plain = tokenizer("x", add_special_tokens=False)["input_ids"]
        return bos if added[:1] == [bos_id] and plain[:1] != [bos_id] else None

    # -- rendering ---------------------------------------------------------------------------------

    def render(self, messages: Any, response: str) -> str:
        """The text sent for one pair: rendered as in-process, minus a BOS the server adds back."""
        self._setup()
        text = render(self._tokenizer, messages, response, thinking=self.thinking)
        sent = text[len(self._bos):] if self._bos and text.startswith(self._bos) else text
        if not self._checked:
            self._checked = True
            server = self._tokenizer(sent, add_special_tokens=True)["input_ids"]
            local = self._tokenizer(text, add_special_tokens=False)["input_ids"]
            if server != local:
                head = self._tokenizer.convert_ids_to_tokens
                logger.warning("reward model on vLLM: the server will read %d tokens starting %s where the in-process "
                               "reward model reads %d starting %s (special tokens its tokenizer adds); scores may "
                               "differ from in-process", len(server), head(server[:3]), len(local), head(local[:3]))
        return sent

    # -- requests ----------------------------------------------------------------------------------

    def _body(self, texts: Sequence[str], switch: dict[str, bool] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "input": list(texts)}
        if self._truncate:
            body["truncate_prompt_tokens"] = self._truncate
        body.update(switch if switch is not None else self._switch or {})
        return body

    def _post(self, body: dict[str, Any], *, field: str | None = None) -> Any:
        """The server's answer; ``None`` for a 400 that names ``field`` (a field the server refuses)."""
        from sandbox.service import ServiceError

        path = "/" + self.endpoint
        try:
            return self._http.post(path, body)
        except ServiceError as exc:
            if field and exc.status == 400 and field in str(exc):
                return None
            raise VerifierError(self._explain(path, exc)) from None

    def _probe(self, texts: list[str]) -> None:
        """Find the field that turns the activation off (``use_activation``, else the older ``activation``).

        A field a server does not know is ignored (vLLM logs it), so each is sent off and on for the same
        texts: if the answers differ by more than batching noise (0.05; a score ``x`` and its sigmoid are
        that close only for ``x`` in 0.55..0.78, so up to three texts are sent), the server honours it.
        With ``params.label`` the activation stays on (the class probability is the score).
        """
        with self._lock:
            if self._switch is not None:
                return
            if self.label is not None:
                self._switch = {}
                return
            for field in ("use_activation", "activation"):
                answers = [self._post(self._body(texts, {field: value}), field=field) for value in (False, True)]
                if any(a is None for a in answers):
                    continue  # a server that refuses the field
                off, on = ([v for item in self._items(a, len(texts)) for v in self._flat(item)] for a in answers)
                if len(off) != len(on) or any(abs(a - b) > 0.05 for a, b in zip(off, on, strict=False)):
                    self._switch = {field: False}
                    return
            if self.endpoint == "classify":
                raise VerifierError(
                    f"reward model on vLLM ({self.url}/classify): the server ignores both use_activation and "
                    "activation, so /classify returns sigmoid(score), not the reward model's score; upgrade vLLM "
                    "(current releases take use_activation), or set params.label: 0 to score by that probability")
            self._switch = {}  # /pooling of a token reward model on vLLM 0.10: no activation to turn off

    @staticmethod
    def _flat(item: dict[str, Any]) -> list[float]:
        values = item.get("probs", item.get("data"))
        while isinstance(values, list) and values and isinstance(values[-1], list):
            values = values[-1]
        return [float(v) for v in values or [] if isinstance(v, (int, float))]

    def _explain(self, path: str, exc: Exception) -> str:
        status = getattr(exc, "status", 0)
        where = f"reward model on vLLM ({self.url}{path})"
        if status == 0:
            return (f"{where}: no answer: {exc} (timeout {self.timeout}s per request, {self.retries} retries; is the "
                    "server up and reachable? raise params.timeout for long batches)")
        message = str(exc)
        if status == 404 and "model" in message.lower():
            return f"{where}: {message}; set params.model to one of the served names {self._served}"
        if status == 404:
            return (f"{where}: {message}; this server has no {path} route: start it with a pooling model "
                    "(vllm serve MODEL --runner pooling), or pick the other params.vllm_endpoint")
        if status == 400 and any(k in message for k in ("max_model_len", "context length", "truncate")):
            return f"{where}: {message}; lower params.max_length to at most the server's --max-model-len"
        if status == 400 and "task" in message.lower():
            return (f"{where}: {message}; the served model does not support this endpoint: use vllm_endpoint: classify "
                    "for sequence-classification reward models, pooling for token reward models")
        return f"{where}: {message}"

    def _items(self, answer: Any, n: int) -> list[dict[str, Any]]:
        """The ``data`` entries of an answer to ``n`` texts, in the order of the texts."""
        where = f"reward model on vLLM ({self.url}/{self.endpoint})"
        if isinstance(answer, dict) and (answer.get("object") == "error" or "error" in answer):
            error = answer.get("error")
            message = error.get("message") if isinstance(error, dict) else (error or answer.get("message"))
            raise VerifierError(f"{where} answered an error: {message}")
        items = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(items, list) or not all(isinstance(d, dict) and isinstance(d.get("index"), int) for d in items):
            raise VerifierError(f"{where}: expected {{'data': [{{'index': ..., ...}}]}}, got {str(answer)[:200]}; is "
                                "this a vLLM server?")
        if len(items) != n:
            raise VerifierError(f"{where}: sent {n} texts, got {len(items)} results")
        items = sorted(items, key=lambda d: d["index"])
        if [d["index"] for d in items] != list(range(n)):
            raise VerifierError(f"{where}: result indices {[d['index'] for d in items]} do not match the {n} texts sent")
        return items

    def _chunk(self, texts: Sequence[str]) -> list[float]:
        items = self._items(self._post(self._body(texts)), len(texts))
        where = f"reward model on vLLM ({self.url}/{self.endpoint})"
        read = self._classified if self.endpoint == "classify" else self._pooled
        return [read(d, where) for d in items]

    def _classified(self, item: dict[str, Any], where: str) -> float:
        probs = item.get("probs")
        if not isinstance(probs, list) or not probs:
            raise VerifierError(f"{where}: result without 'probs': {str(item)[:200]}")
        if self._label_index is not None:
            if self._label_index >= len(probs):
                raise VerifierError(f"{where}: params.label {self.label!r} is class {self._label_index}, but the "
                                    f"model has {len(probs)} classes")
            return float(probs[self._label_index])
        if len(probs) != 1:
            raise VerifierError(f"{where}: the served model has {len(probs)} classes (this text's top class: "
                                f"{item.get('label')!r}), the reward needs one score: set params.label to the class "
                                "whose probability is the reward (an index, or a name from the model's id2label)")
        return float(probs[0])

    @staticmethod
    def _pooled(item: dict[str, Any], where: str) -> float:
        data = item.get("data")
        if isinstance(data, list) and data and all(isinstance(row, list) for row in data):
            data = data[-1]  # one row per token: the reward is the last token's
        if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], (int, float)):
            shape = f"{len(data)} values" if isinstance(data, list) else type(data).__name__
            raise VerifierError(f"{where}: expected one reward per token (or one per text), got {shape}; a "
                                "sequence-classification reward model answers /pooling with hidden states on vLLM "
                                "0.10: use vllm_endpoint: classify (with params.label for several classes)")
        return float(data[0])

    def score(self, pairs: Sequence[tuple[Any, str]]) -> list[float]:
        """Raw scores of (messages, response) pairs, in order."""
        texts = [self.render(m, r) for m, r in pairs]
        if texts:
            self._probe(texts[:3])
        return score_in_chunks(texts, self._chunk, batch_size=self.batch_size, concurrency=self.concurrency)

    def close(self) -> None:
        self._http.close()

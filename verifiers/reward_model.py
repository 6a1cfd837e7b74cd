"""A general reward model: score (conversation, response) pairs with a sequence-classification model.

Any local (or cached hub) ``AutoModelForSequenceClassification`` with one output label works, e.g. a
Skywork-Reward style model, or the tiny model the smoke pipeline trains. Each pair is rendered with the
model's own chat template (the prompt messages plus the response as the assistant turn), batched by
length, and scored by the logit the model reads at the last token.

* **truncation**: texts longer than ``max_length`` tokens lose tokens on the ``left`` (the start of the
  prompt; the default, so the response end that the score is read from is kept) or on the ``right``;
* **thinking**: by default the reasoning before ``</think>`` is removed from the response, since reward
  models judge answers (``thinking: keep`` to score everything);
* **normalisation** (applied by the reward, see :func:`normalize`): ``raw`` logits, ``sigmoid`` (0..1), or
  ``group`` z-scores over the completions of the same prompt (what GRPO compares);
* bf16 on GPU, float32 on CPU;
* **sharded under ZeRO-3**: loaded in a trainer rank of a DeepSpeed ZeRO-3 run, the model is partitioned
  across the ranks like the policy (each holds 1/N of its weights) and runs as a DeepSpeed inference
  engine. Its forward passes are then collective: every rank runs the same number of them (a rank with
  fewer batches runs padding passes), and the reward is marked ``collective`` so the guard calls it in
  the trainer's thread, without a deadline that could let one rank leave a collective early.

``score(pairs) -> list[float]`` is the in-code interface. The ``reward_model`` reward wraps it for
recipes, in-process, against a remote server (``mode: remote``, see :mod:`verifiers.reward_model_client`)
or against vLLM's ``/classify``/``/pooling`` (``mode: vllm``, see :mod:`verifiers.reward_model_vllm`).
The model is loaded on the first call, not when the recipe is validated.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from verifiers.completions import completion_text
from verifiers.errors import VerifierError
from verifiers.registry import RewardFn, register_reward
from verifiers.rules.check import strip_thinking

__all__ = ["Pair", "RewardModel", "load_reward_model", "normalize", "render"]

Messages = list[dict[str, Any]]
Pair = tuple[Messages, str]
"""A conversation (chat messages, or a plain prompt string) and the response to score."""

Normalization = Literal["raw", "sigmoid", "group"]


def _messages(prompt: Any) -> Messages:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if isinstance(prompt, Sequence) and all(isinstance(m, Mapping) for m in prompt):
        return [dict(m) for m in prompt]
    raise VerifierError(f"prompt must be a string or a list of chat messages, got {type(prompt).__name__}")


def render(tokenizer, messages: Any, response: str, *, thinking: Literal["strip", "keep"] = "strip") -> str:
    """The text the reward model reads: the conversation and the response in the model's chat template."""
    answer = strip_thinking(response) if thinking == "strip" else response
    conversation = _messages(messages) + [{"role": "assistant", "content": answer}]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(conversation, tokenize=False)
    return "\n".join(m["content"] for m in conversation)  # a plain classifier without a template


class RewardModel:
    """A loaded reward model; :meth:`score` is thread-safe (calls are serialised)."""

    def __init__(
        self,
        model,
        tokenizer,
        *,
        batch_size: int = 8,
        max_length: int = 2048,
        truncation: Literal["left", "right"] = "left",
        thinking: Literal["strip", "keep"] = "strip",
        collective: bool = False,
    ):
        if batch_size < 1 or max_length < 8:
            raise VerifierError(f"reward model: batch_size must be >= 1 and max_length >= 8, got {batch_size}, {max_length}")
        config = getattr(model, "module", model).config  # a DeepSpeed engine wraps the model (its .config is DeepSpeed's)
        if getattr(config, "num_labels", 1) != 1:
            raise VerifierError(f"reward model: expected one output label (num_labels=1), got {config.num_labels}")
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if getattr(config, "pad_token_id", None) is None:
            config.pad_token_id = tokenizer.pad_token_id
        model.eval()  # (a DeepSpeed engine's eval() returns None)
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.truncation = truncation
        self.thinking = thinking
        self.collective = collective
        self._lock = threading.Lock()

    @property
    def device(self):
        return next(self.model.parameters()).device

    def render(self, messages: Any, response: str) -> str:
        """The text this model scores for one pair (see :func:`render`)."""
        return render(self.tokenizer, messages, response, thinking=self.thinking)

    def score(self, pairs: Sequence[Pair]) -> list[float]:
        """One raw score per (messages, response) pair, in order."""
        return self.score_texts([self.render(messages, response) for messages, response in pairs])

    def score_texts(self, texts: Sequence[str]) -> list[float]:
        """One raw score per already rendered text (a whole conversation), in order."""
        import torch

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)  # little padding per batch
        scores = [0.0] * len(texts)
        batches = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        with self._lock, torch.inference_mode():
            # Under ZeRO-3 every rank runs as many forward passes as the busiest one (each pass gathers the
            # weights from all ranks): agree on that count first, then pad with passes on a 1-token text.
            passes = self._collective_pass_count(len(batches)) if self.collective else len(batches)
            self.tokenizer.padding_side = "right"
            self.tokenizer.truncation_side = self.truncation
            for batch in batches:
                enc = self.tokenizer(
                    [texts[i] for i in batch], return_tensors="pt", padding=True, truncation=True,
                    max_length=self.max_length, add_special_tokens=False,
                ).to(self.device)
                logits = self.model(**enc).logits[:, 0].float().tolist()
                for i, value in zip(batch, logits):
                    scores[i] = value
            if passes > len(batches):
                dummy = self.tokenizer([" "], return_tensors="pt", add_special_tokens=False).to(self.device)
                for _ in range(passes - len(batches)):
                    self.model(**dummy)
        return scores

    def _collective_pass_count(self, mine: int) -> int:
        import torch
        import torch.distributed as dist

        most = torch.tensor([mine], device=self.device)
        dist.all_reduce(most, op=dist.ReduceOp.MAX)
        return int(most.item())


@functools.lru_cache(maxsize=4)
def load_reward_model(
    path: str,
    *,
    batch_size: int = 8,
    max_length: int = 2048,
    truncation: Literal["left", "right"] = "left",
    thinking: Literal["strip", "keep"] = "strip",
    trust_remote_code: bool = False,
) -> RewardModel:
    """Load a sequence-classification reward model from a directory (or the local hub cache); cached."""
    from pathlib import Path

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    local = Path(path).expanduser()
    if not local.exists() and (path.startswith((".", "/", "~")) or not _looks_like_hub_id(path)):
        raise VerifierError(f"reward model: model_path {path!r} not found; train one (e.g. the smoke pipeline's "
                            "reward_model stage) or give a local directory")
    on_gpu = torch.cuda.is_available()
    dtype = torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else torch.float32
    source = str(local) if local.exists() else path
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    sharded = zero3_active()
    model, loading = AutoModelForSequenceClassification.from_pretrained(  # partitioned while loading under ZeRO-3
        source, num_labels=1, dtype=dtype, trust_remote_code=trust_remote_code, output_loading_info=True
    )
    _require_trained_head(model, loading, path)
    if sharded:
        model = _deepspeed_inference_engine(model)
    elif on_gpu:
        model = model.to("cuda")
    return RewardModel(model, tokenizer, batch_size=batch_size, max_length=max_length, truncation=truncation,
                       thinking=thinking, collective=sharded)


def _require_trained_head(model, loading: dict[str, Any], path: str) -> None:
    """Refuse a checkpoint whose score head was not in it (a policy or base model).

    transformers fills a missing head with random weights and only logs a warning; scores from it
    are noise that would train the policy towards nothing. Keys outside the base model (the
    ``base_model_prefix``) are the head's.
    """
    prefix = getattr(model, "base_model_prefix", "") + "."
    missing = [key for key in loading.get("missing_keys") or [] if not key.startswith(prefix)]
    if missing:
        raise VerifierError(
            f"reward model: {path!r} has no trained score head (missing {sorted(missing)}): it is not a "
            "sequence-classification reward model (a policy or base checkpoint?). Train one first (a "
            "`stage: reward` recipe) or point at a reward model checkpoint")


def zero3_active() -> bool:
    """Whether this process is a rank of a DeepSpeed ZeRO-3 run (models load partitioned here)."""
    try:
        from transformers.integrations import is_deepspeed_zero3_enabled
    except ImportError:
        return False
    return bool(is_deepspeed_zero3_enabled())


def _deepspeed_inference_engine(model):
    """``model`` (partitioned at load) as a ZeRO-3 inference engine with the run's DeepSpeed config, as TRL
    prepares reference and reward models. Values the trainer has not resolved yet (``"auto"``) are
    settled here: one sequence per micro-batch, the model's own precision, DeepSpeed's defaults otherwise."""
    import copy
    from types import SimpleNamespace

    import torch
    import torch.distributed as dist
    from accelerate.state import AcceleratorState
    from trl.models.utils import prepare_deepspeed

    config = copy.deepcopy(AcceleratorState().deepspeed_plugin.deepspeed_config)
    settled = {"train_micro_batch_size_per_gpu": 1, "gradient_accumulation_steps": 1,
               "train_batch_size": dist.get_world_size() if dist.is_initialized() else 1}
    for key, value in settled.items():
        if config.get(key, "auto") == "auto":
            config[key] = value
    for key, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        if isinstance(config.get(key), dict) and config[key].get("enabled") == "auto":
            config[key]["enabled"] = model.dtype == dtype
    config = _drop_auto(config)
    plugin = SimpleNamespace(deepspeed_config=config)
    return prepare_deepspeed(model, SimpleNamespace(state=SimpleNamespace(deepspeed_plugin=plugin)))


def _drop_auto(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _drop_auto(v) for k, v in node.items() if v != "auto"}
    return node


def _looks_like_hub_id(name: str) -> bool:
    return name.count("/") == 1 and not name.endswith("/")


def normalize(scores: Sequence[float], method: Normalization, prompts: Sequence[Any] | None = None) -> list[float]:
    """Apply a normalisation to raw scores.

    ``group`` standardises within each run of consecutive completions of the same prompt (TRL lays a
    prompt's generations out next to each other); a group of one, or of equal scores, gives 0.0.
    """
    if method == "raw":
        return [float(s) for s in scores]
    if method == "sigmoid":
        return [1.0 / (1.0 + math.exp(-s)) if s >= -700 else 0.0 for s in scores]
    if prompts is None or len(prompts) != len(scores):
        raise VerifierError("group normalisation needs the prompt of every score")
    out: list[float] = []
    start = 0
    while start < len(scores):
        end = start + 1
        while end < len(scores) and prompts[end] == prompts[start]:
            end += 1
        group = scores[start:end]
        mean = sum(group) / len(group)
        std = (sum((s - mean) ** 2 for s in group) / len(group)) ** 0.5
        out.extend((s - mean) / std if std > 1e-8 else 0.0 for s in group)
        start = end
    return out


@register_reward("reward_model", description="a sequence-classification reward model's score (in-process, served by "
                 "rltrain rm serve / OpenRLHF, or by vLLM's /classify or /pooling)")
def build_reward_model(
    *,
    model_path: str | None = None,
    mode: Literal["in_process", "remote", "vllm"] = "in_process",
    url: str | None = None,
    normalization: Normalization = "raw",
    batch_size: int = 8,
    max_length: int = 2048,
    truncation: Literal["left", "right"] = "left",
    thinking: Literal["strip", "keep"] = "strip",
    timeout: float = 60.0,
    retries: int = 3,
    api: Literal["rltrain", "openrlhf"] = "rltrain",
    vllm_endpoint: Literal["classify", "pooling"] = "classify",
    model: str | None = None,
    tokenizer: str | None = None,
    label: int | str | None = None,
    trust_remote_code: bool = False,
) -> RewardFn:
    """``model_path``: reward model directory (in_process). ``mode``: ``in_process`` loads the model in
    the trainer; ``remote`` posts to ``url`` (an ``rltrain rm serve`` server or any OpenRLHF-style
    ``/get_reward`` endpoint); ``vllm`` posts to a ``vllm serve`` server at ``url`` (see
    :mod:`verifiers.reward_model_vllm`). ``normalization``: ``raw``, ``sigmoid`` or ``group`` (z-score per
    prompt). ``batch_size``/``max_length``/``truncation``/``thinking``: see :class:`RewardModel` (for
    ``vllm``, ``batch_size`` texts per request and ``max_length`` as vLLM's ``truncate_prompt_tokens``,
    which keeps the end). ``timeout``/``retries``: per request, remote and vllm modes. ``api``: remote
    request shape, ``rltrain`` (``/score``) or ``openrlhf`` (``/get_reward``). vllm mode:
    ``vllm_endpoint`` ``classify`` (sequence-classification reward models) or ``pooling`` (token reward
    models); ``model``: the served model name (default: the only one ``/v1/models`` lists); ``tokenizer``:
    where the chat template comes from (default ``model_path``, else the server's model path); ``label``:
    for a classifier with several classes, the class whose probability is the score.
    ``trust_remote_code``: for loading the model (in_process) or tokenizer (vllm)."""
    if mode == "in_process" and not model_path:
        raise VerifierError("reward_model: mode in_process needs params.model_path (a reward model directory)")
    if mode in ("remote", "vllm") and not url:
        example = "http://rm-node:8000" if mode == "vllm" else "http://rm-node:8081"
        raise VerifierError(f"reward_model: mode {mode} needs params.url, e.g. {example}")
    if mode == "vllm" and truncation != "left":
        raise VerifierError("reward_model: mode vllm truncates from the left only (vLLM's truncate_prompt_tokens keeps "
                            "the last tokens); drop params.truncation")
    if label is not None and (mode != "vllm" or vllm_endpoint != "classify"):
        raise VerifierError("reward_model: params.label is for mode vllm with vllm_endpoint: classify")

    if mode == "remote":
        from verifiers.reward_model_client import RewardModelClient

        client = RewardModelClient(url, timeout=timeout, retries=retries, batch_size=batch_size, thinking=thinking,
                                   api=api)
        scorer = client.score
    elif mode == "vllm":
        from verifiers.reward_model_vllm import VLLMRewardClient

        scorer = VLLMRewardClient(url, endpoint=vllm_endpoint, model=model, tokenizer=tokenizer or model_path,
                                  label=label, timeout=timeout, retries=retries, batch_size=batch_size,
                                  max_length=max_length, thinking=thinking,
                                  trust_remote_code=trust_remote_code).score
    else:
        def scorer(pairs: Sequence[Pair]) -> list[float]:
            loaded = load_reward_model(model_path, batch_size=batch_size, max_length=max_length,
                                       truncation=truncation, thinking=thinking, trust_remote_code=trust_remote_code)
            return loaded.score(pairs)

    remote = scorer.__self__ if mode == "remote" else None  # the RewardModelClient: it counts busy waits

    def reward_model(prompts: list, completions: list, **columns: Any) -> list[float | None]:
        pairs = [(p, completion_text(c)) for p, c in zip(prompts, completions)]
        waits_before = remote.busy_waits if remote is not None else 0
        scores = list(normalize(scorer(pairs), normalization, prompts))
        log_metric = columns.get("log_metric")
        if remote is not None and callable(log_metric):  # how often a busy server made this batch wait
            log_metric("verifiers/reward_model/busy_waits", remote.busy_waits - waits_before)
        return scores

    # In a ZeRO-3 rank the in-process model is sharded: every rank must call it, in the trainer's thread.
    reward_model.collective = mode == "in_process" and zero3_active()  # type: ignore[attr-defined]
    return reward_model

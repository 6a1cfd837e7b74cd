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

``score(pairs) -> list[float]`` is the in-code interface; the ``reward_model`` reward (:mod:`.reward`)
wraps it for recipes. A checkpoint without a trained score head is refused when it loads.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from typing import Any, Literal

from verifiers.errors import VerifierError
from verifiers.reward_model.rendering import Pair, Thinking, render

__all__ = ["RewardModel", "load_reward_model", "zero3_active"]


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
        thinking: Thinking = "strip",
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
                for i, value in zip(batch, logits, strict=False):
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
    thinking: Thinking = "strip",
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

"""The ``reward_model`` reward: a sequence-classification reward model's score for recipes.

In-process (:mod:`.model`), against a remote server (``mode: remote``: ``rltrain rm serve`` or any
OpenRLHF-style ``/get_reward``, see :mod:`.client`) or against vLLM's ``/classify``/``/pooling``
(``mode: vllm``, see :mod:`.vllm`), then normalised (:func:`normalize`). The model is loaded on the first
call, not when the recipe is validated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

from verifiers.completions import completion_text
from verifiers.errors import VerifierError
from verifiers.registry import RewardFn, mark_collective, register_reward
from verifiers.reward_model.client import RewardModelClient
from verifiers.reward_model.model import load_reward_model, zero3_active
from verifiers.reward_model.rendering import Pair, Thinking
from verifiers.reward_model.vllm import VLLMRewardClient

__all__ = ["Normalization", "build_reward_model", "normalize"]

Normalization = Literal["raw", "sigmoid", "group"]


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
    thinking: Thinking = "strip",
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
    :mod:`verifiers.reward_model.vllm`). ``normalization``: ``raw``, ``sigmoid`` or ``group`` (z-score per
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

    # The remote client, kept to count how often a busy server made a batch wait.
    remote: RewardModelClient | None = None
    scorer: Callable[[Sequence[Pair]], list[float]]
    if mode == "remote":
        assert url is not None  # checked above
        remote = RewardModelClient(url, timeout=timeout, retries=retries, batch_size=batch_size, thinking=thinking,
                                   api=api)
        scorer = remote.score
    elif mode == "vllm":
        assert url is not None  # checked above
        scorer = VLLMRewardClient(url, endpoint=vllm_endpoint, model=model, tokenizer=tokenizer or model_path,
                                  label=label, timeout=timeout, retries=retries, batch_size=batch_size,
                                  max_length=max_length, thinking=thinking,
                                  trust_remote_code=trust_remote_code).score
    else:
        assert model_path is not None  # checked above
        scorer = _in_process_scorer(model_path, batch_size=batch_size, max_length=max_length, truncation=truncation,
                                    thinking=thinking, trust_remote_code=trust_remote_code)

    def reward_model(prompts: list, completions: list, **columns: Any) -> list[float | None]:
        pairs = [(p, completion_text(c)) for p, c in zip(prompts, completions, strict=False)]
        waits_before = remote.busy_waits if remote is not None else 0
        scores: list[float | None] = list(normalize(scorer(pairs), normalization, prompts))
        log_metric = columns.get("log_metric")
        if remote is not None and callable(log_metric):  # how often a busy server made this batch wait
            log_metric("verifiers/reward_model/busy_waits", remote.busy_waits - waits_before)
        return scores

    # In a ZeRO-3 rank the in-process model is sharded: every rank must call it, in the trainer's thread.
    return mark_collective(reward_model, mode == "in_process" and zero3_active())


def _in_process_scorer(model_path: str, *, batch_size: int, max_length: int, truncation: Literal["left", "right"],
                       thinking: Thinking, trust_remote_code: bool) -> Callable[[Sequence[Pair]], list[float]]:
    """Scores from the reward model at ``model_path``, loaded in this process on the first call (not when the
    recipe is validated) and cached by :func:`load_reward_model`."""

    def score(pairs: Sequence[Pair]) -> list[float]:
        loaded = load_reward_model(model_path, batch_size=batch_size, max_length=max_length,
                                   truncation=truncation, thinking=thinking, trust_remote_code=trust_remote_code)
        return loaded.score(pairs)

    return score

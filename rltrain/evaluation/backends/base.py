"""The contract between an evaluation and whatever generates its completions.

A backend turns :class:`GenerationRequest` objects into :class:`Generation` objects under one set of
:class:`~rltrain.evaluation.settings.SamplingSettings`, and yields each one as soon as it is finished, so
the evaluation can write it to disk before the next arrives (a preempted run loses at most what was in
flight). Every backend renders prompts with the model's chat template and its generation prompt, so a
template that prefills ``<think>\\n`` (QwQ's) does so everywhere; the completion text is what the model
wrote after that prompt, with any thinking a server returned apart (``reasoning_content``) joined back
in front of the answer, so every backend scores the same text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from rltrain.evaluation.settings import SamplingSettings

__all__ = ["BackendError", "FinishReason", "Generation", "GenerationBackend", "GenerationRequest", "SampleKey"]

FinishReason = Literal["stop", "length"]


class BackendError(RuntimeError):
    """Generation failed for good (a server that stays unreachable after its retries, a model that does
    not load). The evaluation stops; what was written so far is kept and a re-run resumes after it."""


@dataclass(frozen=True, order=True)
class SampleKey:
    """Which sample this is: the ``index``-th completion of item ``item_id`` of ``benchmark``."""

    benchmark: str
    item_id: str
    index: int


@dataclass(frozen=True)
class GenerationRequest:
    """One completion to sample for a chat prompt."""

    key: SampleKey
    messages: tuple[dict[str, str], ...]
    """The chat prompt (role/content messages) before the chat template."""
    seed: int
    """This sample's seed (:func:`~rltrain.evaluation.settings.sample_seed`); backends that can seed one
    request pass it on."""


@dataclass(frozen=True)
class Generation:
    """One finished completion."""

    text: str
    finish_reason: FinishReason
    """``"length"`` when the completion was cut at ``max_tokens`` (scored wrong, reported as truncated)."""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


@runtime_checkable
class GenerationBackend(Protocol):
    """Generates completions; ``vllm``, ``openai`` and ``hf`` implement it."""

    name: str

    def identity(self) -> str:
        """What identifies this backend's outputs beyond the model and settings (part of the samples'
        fingerprint), e.g. ``""`` or the served model's name."""
        ...

    def generate(self, requests: Sequence[GenerationRequest], settings: SamplingSettings) -> Iterator[tuple[GenerationRequest, Generation]]:
        """Yield every request with its generation, in any order, each as soon as it is done. Raises
        :class:`BackendError` when generation cannot go on."""
        ...

    def close(self) -> None:
        """Release the engine, the model or the connections."""
        ...

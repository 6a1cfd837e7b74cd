"""Sampling settings shared by every generation backend, and the fingerprint that keys resumed samples.

QwQ's protocol is the default: temperature 0.6, top-p 0.95, top-k 40, 32,768 new tokens. The number of
samples per prompt is not a setting here: it belongs to each benchmark (AIME 64, LiveCodeBench 8, IFEval
1) and may be overridden per run; a sample's index is part of its key instead.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass

from rltrain.errors import RecipeError

__all__ = ["SamplingSettings", "sample_seed"]


@dataclass(frozen=True)
class SamplingSettings:
    """How every completion of an evaluation is sampled, identically through every backend."""

    temperature: float = 0.6
    """Sampling temperature; 0 means greedy decoding (then every sample of a prompt is the same)."""
    top_p: float = 0.95
    """Nucleus sampling: the smallest token set whose probability reaches ``top_p``."""
    top_k: int | None = 40
    """Sample among the ``top_k`` most likely tokens; ``None`` disables it."""
    max_tokens: int = 32768
    """New tokens per completion; a completion cut at this limit counts as wrong and as truncated."""
    seed: int = 0
    """Base seed: each sample draws its own seed from it and its key (:func:`sample_seed`), so a resumed
    or re-ordered evaluation samples the same completions where the backend honours seeds."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise RecipeError(f"sampling: temperature must be a finite number >= 0, got {self.temperature}")
        if not (math.isfinite(self.top_p) and 0 < self.top_p <= 1):
            raise RecipeError(f"sampling: top_p must be in (0, 1], got {self.top_p}")
        if self.top_k is not None and self.top_k < 1:
            raise RecipeError(f"sampling: top_k must be >= 1 or None, got {self.top_k}")
        if self.max_tokens < 1:
            raise RecipeError(f"sampling: max_tokens must be >= 1, got {self.max_tokens}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def fingerprint(self, model: str, backend_identity: str = "") -> str:
        """A short hash of everything that changes a completion: these settings, the model and what the
        backend says identifies its outputs (e.g. a served model name). Samples made under another
        fingerprint are never reused by a resumed run."""
        payload = json.dumps({"settings": asdict(self), "model": model, "backend": backend_identity}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def sample_seed(base: int, benchmark: str, item_id: str, index: int) -> int:
    """The seed of one sample: stable across runs, processes and orderings (not Python's salted hash)."""
    digest = hashlib.sha256(f"{base}\0{benchmark}\0{item_id}\0{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF

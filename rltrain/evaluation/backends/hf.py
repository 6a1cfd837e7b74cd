"""The ``hf`` backend: transformers ``generate`` on the CPU or the GPUs of this node.

The model and tokenizer load as everywhere else in rltrain (:mod:`rltrain.models.loading`: a local
directory, a hub id or ``tiny``; bfloat16 on GPU, float32 on CPU; ``device_map="auto"`` over the visible
GPUs, as held-out evaluation does). Prompts are rendered with the chat template and its generation
prompt, left-padded and generated in batches of ``batch_size`` requests, one completion per request.

Seeds: transformers samples a whole batch from one random stream, so each batch is seeded with a
number derived from the seeds of the requests in it (in order). The same requests in the same batches
give the same completions; a resumed run, whose remaining requests batch differently, does not
reproduce the completions an uninterrupted run would have drawn (they are equally valid samples). For
sample-level reproducibility use the ``vllm`` backend, which seeds each request.

A completion is ``length``-finished when it ended without an end-of-sequence token, i.e. it used all
``max_tokens``; its token count is the generated tokens up to and including the end-of-sequence token.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from rltrain.evaluation.backends.base import BackendError, Generation, GenerationRequest
from rltrain.evaluation.settings import SamplingSettings
from rltrain.recipe.schema import DataConfig, ModelConfig, Recipe

__all__ = ["Dtype", "HfBackend"]

Dtype = Literal["auto", "float32", "bfloat16", "float16"]
"""Weights dtype, as ``model.dtype`` of a recipe: ``auto`` is bfloat16 on GPU, float32 on CPU."""

logger = logging.getLogger(__name__)


def batch_seed(seeds: Sequence[int]) -> int:
    """One seed for a batch, from its requests' seeds in order (stable across processes)."""
    digest = hashlib.sha256(",".join(map(str, seeds)).encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFFFFFFFFFFFFFF


def sampling_kwargs(settings: SamplingSettings) -> dict[str, Any]:
    """``generate`` keyword arguments for ``settings`` (``top_k=0`` is transformers' "no top-k")."""
    if settings.greedy:
        return {"do_sample": False}
    return {"do_sample": True, "temperature": settings.temperature, "top_p": settings.top_p, "top_k": settings.top_k or 0}


class HfBackend:
    """Transformers generation. ``model``: a local directory, a hub id, or ``tiny``."""

    name = "hf"

    def __init__(self, model: str, *, batch_size: int = 8, dtype: Dtype = "auto", trust_remote_code: bool = False,
                 recipe: Recipe | None = None) -> None:
        """``recipe``: load the model as this recipe's model section says (the tiny model's shape,
        ``rope_scaling`` ...), so a stage's benchmark evaluation loads exactly what it trains; ``model``,
        ``dtype`` and ``trust_remote_code`` then only name it."""
        if batch_size < 1:
            raise BackendError(f"hf backend: batch_size must be >= 1, got {batch_size}")
        self.model_name = model
        self.batch_size = batch_size
        if recipe is None:
            recipe = Recipe(model=ModelConfig(name_or_path=model, dtype=dtype, trust_remote_code=trust_remote_code),
                            data=DataConfig(source="unused"), output_dir="unused")
        self._model, self._tokenizer = self._load(recipe)
        self._dtype = str(next(self._model.parameters()).dtype).removeprefix("torch.")
        self._eos_ids = self._end_tokens()

    @staticmethod
    def _load(recipe: Recipe) -> tuple[Any, Any]:
        """Model and tokenizer through rltrain's own loading."""
        from rltrain.evaluation.runner import evaluation_device_map
        from rltrain.models.loading import load_model, load_tokenizer

        model = recipe.model.name_or_path
        try:
            tokenizer = load_tokenizer(recipe)
            loaded = load_model(recipe, tokenizer, device_map=evaluation_device_map())
        except OSError as exc:  # no such directory, or a hub id that cannot be fetched
            raise BackendError(f"hf backend: cannot load model {model!r}: {exc}") from exc
        loaded.eval()
        tokenizer.padding_side = "left"
        return loaded, tokenizer

    def _end_tokens(self) -> set[int]:
        ids: set[int] = set()
        for source in (self._model.generation_config.eos_token_id, self._tokenizer.eos_token_id):
            if isinstance(source, int):
                ids.add(source)
            elif source is not None:
                ids.update(int(i) for i in source)
        return ids

    def identity(self) -> str:
        """The backend and the weights' dtype: the same model in bfloat16 and float32 samples differently."""
        return f"hf/{self._dtype}"

    def generate(self, requests: Sequence[GenerationRequest], settings: SamplingSettings) -> Iterator[tuple[GenerationRequest, Generation]]:
        for start in range(0, len(requests), self.batch_size):
            batch = requests[start : start + self.batch_size]
            yield from zip(batch, self._generate_batch(batch, settings), strict=True)

    def _generate_batch(self, batch: Sequence[GenerationRequest], settings: SamplingSettings) -> list[Generation]:
        import torch

        tokenizer, model = self._tokenizer, self._model
        texts = [tokenizer.apply_chat_template(list(r.messages), tokenize=False, add_generation_prompt=True) for r in batch]
        device = next(model.parameters()).device
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.inference_mode():
            torch.manual_seed(batch_seed([r.seed for r in batch]))
            ids = model.generate(**enc, max_new_tokens=settings.max_tokens, pad_token_id=tokenizer.pad_token_id,
                                 **sampling_kwargs(settings))
        prompt_tokens = enc["attention_mask"].sum(dim=1).tolist()
        return [self._finished(row, int(p)) for row, p in zip(ids[:, enc["input_ids"].shape[1] :].tolist(), prompt_tokens, strict=True)]

    def _finished(self, generated: list[int], prompt_tokens: int) -> Generation:
        end = next((i for i, token in enumerate(generated) if token in self._eos_ids), None)
        kept = generated if end is None else generated[: end + 1]
        text = self._tokenizer.decode(kept, skip_special_tokens=True)
        return Generation(text=text, finish_reason="stop" if end is not None else "length",
                          prompt_tokens=prompt_tokens, completion_tokens=len(kept))

    def close(self) -> None:
        """Drop the model so that its memory (GPU memory included) can be reused by what runs next."""
        import gc

        import torch

        self._model = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

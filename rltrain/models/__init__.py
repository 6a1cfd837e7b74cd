"""The policy (or reward model) and its tokenizer: ``loading`` reads a local directory or hub id with the
recipe's dtype and RoPE scaling; ``tiny`` builds the Qwen2-architecture miniature and byte-level
tokenizer the smoke pipeline and tests use, so nothing is downloaded."""

from rltrain.models.loading import load_model, load_tokenizer, model_source, rope_parameters, torch_dtype
from rltrain.models.tiny import build_tiny, write_tiny

__all__ = ["build_tiny", "load_model", "load_tokenizer", "model_source", "rope_parameters", "torch_dtype", "write_tiny"]

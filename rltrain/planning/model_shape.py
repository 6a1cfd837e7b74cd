"""The shape of a model from its ``config.json`` alone: parameter counts and the sizes the memory terms use.

The architecture is instantiated on PyTorch's ``meta`` device, so parameters have shapes but no storage:
a 32B model is counted in about a second with no weights on disk and no memory spent. Counting the real
module tree (rather than a closed formula per architecture) keeps the count right for biases, q/k norms,
tied embeddings and classification heads, whatever the architecture.

``config.json`` is looked up without ever downloading (a plan must work offline and must not pull a
32B checkpoint's metadata at launch): an explicit file, a local model directory, the Hugging Face cache,
or a directory of ``<org>__<name>/config.json`` files (``--model-configs`` or ``RLTRAIN_MODEL_CONFIGS``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rltrain.errors import RecipeError
from rltrain.models.shipped import MODEL_CONFIG_DIR
from rltrain.recipe.schema import TinyModelConfig

MODEL_CONFIGS_ENV = "RLTRAIN_MODEL_CONFIGS"
"""Environment variable naming directories (``os.pathsep``-separated) of ``<org>__<name>/config.json`` files."""


class ModelConfigNotFound(RecipeError):
    """No ``config.json`` for a model could be found locally; the message says where to put one."""


@dataclass(frozen=True)
class LinearGroup:
    """The linear layers sharing a name (``q_proj``, ``down_proj``, ...) across the model's blocks."""

    name: str
    count: int
    in_plus_out: int
    """Sum of in_features + out_features over the group: a rank-r adapter on each adds r x this."""
    out_features: int
    """Sum of out_features over the group (DoRA's magnitude vectors)."""


@dataclass(frozen=True)
class ModelShape:
    """What the memory plan needs to know about one model (policy, reference or reward model)."""

    name: str
    """The model as the recipe names it (hub id or path)."""
    source: str
    """Where its config came from: a config.json path, or 'built-in tiny model'."""
    architecture: str
    """The transformers class instantiated, e.g. Qwen2ForCausalLM."""
    num_params: int
    """Parameters, tied ones counted once (as DeepSpeed's estimators count them)."""
    largest_layer_params: int
    """Parameters held directly by the largest single module (DeepSpeed's ``largest_layer_params``)."""
    hidden_size: int
    num_layers: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    tie_word_embeddings: bool
    max_position_embeddings: int
    qk_norm: bool
    """Per-head RMSNorm on queries and keys (Qwen3): more saved activations per layer."""
    model_type: str = ""
    sequence_classification: bool = False
    """A reward model (one score per sequence) rather than a causal LM head."""
    linear_groups: tuple[LinearGroup, ...] = ()
    """Linear layers by name, the output head left out (what PEFT's 'all-linear' adapts)."""
    params_by_name: tuple[tuple[str, int], ...] = ()
    """Parameters held by the modules of each name (``embed_tokens``, ``score``, ...), for modules_to_save."""

    def lora_params(self, targets: list[str] | None, rank: int, *, dora: bool = False,
                    modules_to_save: list[str] | None = None) -> int:
        """Trainable parameters of LoRA adapters of ``rank`` on the linear layers named in ``targets``
        (``None``: every linear layer but the head), plus full copies of ``modules_to_save``."""
        groups = [g for g in self.linear_groups if targets is None or g.name in targets]
        adapters = sum(rank * g.in_plus_out + (g.out_features if dora else 0) for g in groups)
        saved = dict(self.params_by_name)
        return adapters + sum(saved.get(name, 0) for name in modules_to_save or [])

    def kv_cache_bytes_per_token(self, element_bytes: int) -> int:
        """Key and value vectors of one token in every layer: 2 x layers x kv_heads x head_dim x bytes."""
        return 2 * self.num_layers * self.num_kv_heads * self.head_dim * element_bytes

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        from dataclasses import asdict

        return asdict(self)


def _hub_cache_file(repo_id: str) -> Path | None:
    """``config.json`` of ``repo_id`` if the Hugging Face cache holds it; never downloads."""
    if repo_id.count("/") != 1:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on it
        return None
    # HF_HUB_CACHE read now rather than at huggingface_hub's import, so a changed environment is honoured.
    found = try_to_load_from_cache(repo_id, "config.json", cache_dir=os.environ.get("HF_HUB_CACHE") or None)
    return Path(found) if isinstance(found, str) else None


def config_search_dirs(extra: list[Path] | None = None) -> list[Path]:
    """Directories of ``<org>__<name>/config.json`` files: ``extra`` first, then ``RLTRAIN_MODEL_CONFIGS``,
    then the configs shipped with rltrain (those of the models the QwQ recipes name)."""
    dirs = list(extra or [])
    dirs += [Path(p) for p in os.environ.get(MODEL_CONFIGS_ENV, "").split(os.pathsep) if p]
    return [*dirs, MODEL_CONFIG_DIR]


def locate_config(name_or_path: str, *, base_dir: Path = Path("."), config: Path | None = None,
                  search_dirs: list[Path] | None = None) -> Path:
    """The ``config.json`` describing ``name_or_path``, found without network access.

    Looked up in order: ``config`` (a file, or a directory holding one); ``name_or_path`` as a local
    directory (absolute, or relative to ``base_dir``, the recipe's directory); the Hugging Face cache;
    ``<dir>/<org>__<name>/config.json`` for each of ``search_dirs``, ``RLTRAIN_MODEL_CONFIGS`` and the
    configs shipped with rltrain (:data:`rltrain.models.shipped.MODEL_CONFIG_DIR`).
    """
    if config is not None:
        path = config / "config.json" if config.is_dir() else config
        if not path.is_file():
            raise ModelConfigNotFound(f"--config {config}: no such file")
        return path
    local = Path(name_or_path).expanduser()
    for directory in ([local] if local.is_absolute() else [base_dir / local, local]):
        if (directory / "config.json").is_file():
            return directory / "config.json"
    cached = _hub_cache_file(name_or_path)
    if cached is not None:
        return cached
    flat = name_or_path.replace("/", "__")
    dirs = config_search_dirs(search_dirs)
    for directory in dirs:
        if (directory / flat / "config.json").is_file():
            return directory / flat / "config.json"
    looked = ", ".join(str(d / flat) for d in dirs)
    raise ModelConfigNotFound(
        f"no config.json for model {name_or_path!r} on this machine (nothing is downloaded to plan). Looked in: "
        f"the local directory {name_or_path}, the Hugging Face cache, and {looked}. Put the model's config.json "
        f"(only that file is needed) at <DIR>/{flat}/config.json and pass --model-configs DIR, or pass "
        "--config PATH/TO/config.json"
    )


def shape_from_config_file(path: Path, name: str, *, sequence_classification: bool | None = None) -> ModelShape:
    """Instantiate the architecture of ``path`` on the meta device and measure it."""
    from transformers import AutoConfig

    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelConfigNotFound(f"{path}: not a readable config.json ({exc})") from None
    architectures = raw.get("architectures") or []
    if sequence_classification is None:
        sequence_classification = any(a.endswith("ForSequenceClassification") for a in architectures)
    config = AutoConfig.from_pretrained(str(path))
    return _measure(config, name=name, source=str(path), sequence_classification=sequence_classification)


def tiny_shape(tiny: TinyModelConfig, *, sequence_classification: bool = False) -> ModelShape:
    """The built-in tiny model's shape (the Qwen2 configuration :func:`rltrain.models.tiny.build_model` builds)."""
    from rltrain.models.tiny import tiny_config

    return _measure(tiny_config(tiny), name="tiny", source="built-in tiny model", sequence_classification=sequence_classification)


def _measure(config: Any, *, name: str, source: str, sequence_classification: bool) -> ModelShape:
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    if sequence_classification:
        config.num_labels = 1
    factory = AutoModelForSequenceClassification if sequence_classification else AutoModelForCausalLM
    with torch.device("meta"):
        model = factory.from_config(config)
    # parameters() yields a tied weight once, as DeepSpeed's model_to_params does (by data pointer).
    total = sum(p.numel() for p in model.parameters())
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = int(text.num_attention_heads)
    head_dim = int(getattr(text, "head_dim", None) or text.hidden_size // heads)
    qk_norm = any(n.endswith("q_norm") for n, _ in model.named_modules())
    linear, by_name = _module_inventory(model)
    return ModelShape(
        name=name,
        source=source,
        architecture=type(model).__name__,
        num_params=int(total),
        largest_layer_params=int(largest),
        hidden_size=int(text.hidden_size),
        num_layers=int(text.num_hidden_layers),
        num_attention_heads=heads,
        num_kv_heads=int(getattr(text, "num_key_value_heads", None) or heads),
        head_dim=head_dim,
        intermediate_size=int(text.intermediate_size),
        vocab_size=int(text.vocab_size),
        tie_word_embeddings=bool(getattr(text, "tie_word_embeddings", False)),
        max_position_embeddings=int(getattr(text, "max_position_embeddings", 0) or 0),
        qk_norm=qk_norm,
        model_type=str(getattr(config, "model_type", "")),
        sequence_classification=sequence_classification,
        linear_groups=linear,
        params_by_name=by_name,
    )


def _module_inventory(model: Any) -> tuple[tuple[LinearGroup, ...], tuple[tuple[str, int], ...]]:
    """Linear layers grouped by name (the output head left out) and parameters per module name."""
    import torch

    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    head = head if head is not None else getattr(model, "score", None)
    linear: dict[str, list[int]] = {}
    by_name: dict[str, int] = {}
    for name, module in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        direct = sum(p.numel() for p in module.parameters(recurse=False))
        if direct:
            by_name[leaf] = by_name.get(leaf, 0) + int(direct)
        if isinstance(module, torch.nn.Linear) and module is not head:
            group = linear.setdefault(leaf, [0, 0, 0])
            group[0] += 1
            group[1] += module.in_features + module.out_features
            group[2] += module.out_features
    groups = tuple(LinearGroup(name, *values) for name, values in sorted(linear.items()))
    return groups, tuple(sorted(by_name.items()))

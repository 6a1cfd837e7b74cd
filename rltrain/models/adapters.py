"""LoRA adapters (the recipe's ``peft`` section, and ``model.adapter``): the PEFT config a trainer gets, its
check against the model's real module names, and the merged weights written to ``final/``.

TRL's trainers do the adapter training itself when given a ``peft_config``: they wrap the model with
``get_peft_model``, and GRPO computes its KL reference with the adapters disabled instead of loading a
second copy of the model. What rltrain adds is the outside of that:

* defaults that suit each architecture (attention and MLP projections, the reward model's score head
  trained in full) and a check, when the recipe is read, that every module named exists in the model;
* outputs that need nothing new downstream: ``final/`` holds merged plain Hugging Face weights, which
  the next stage, ``rltrain eval``, vLLM and ``from_pretrained`` read as they read a full fine-tune's,
  and ``final/adapter/`` the adapter alone;
* a start from a base model plus an adapter (``model.adapter``), merged before training.

Merging reloads the base from where the stage loaded it and applies the saved adapter, in one plain
process: it does not depend on how training was sharded (under ZeRO-3 no rank holds whole weights),
and ``final/`` is, by construction, the base plus exactly the adapter in ``final/adapter/``.
"""

from __future__ import annotations

import difflib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rltrain.recipe.schema import Recipe
from rltrain.run.layout import RunLayout

if TYPE_CHECKING:
    from torch import nn
    from transformers import PreTrainedModel

logger = logging.getLogger(__name__)

ADAPTER_DIR = "adapter"
"""Sub-directory of ``final/`` holding the adapter alone (adapter_config.json, adapter_model.safetensors)."""

ALL_LINEAR = "all-linear"
"""PEFT's shorthand for every linear layer except the output head."""

_LLAMA_STYLE = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

DEFAULT_TARGET_MODULES: dict[str, tuple[str, ...]] = {
    # Attention and MLP projections: adapting the MLP as well as attention is what lets LoRA approach a
    # full fine-tune on reasoning data (attention alone, PEFT's own default, lags well behind).
    **{name: _LLAMA_STYLE for name in (
        "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "olmo", "olmo2", "granite",
        "smollm3", "cohere",
    )},
    "phi3": ("qkv_proj", "o_proj", "gate_up_proj", "down_proj"),
    "phi": ("q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"),
    "gpt2": ("c_attn", "c_proj", "c_fc"),
    "gpt_neox": ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"),
    "falcon": ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"),
    "starcoder2": ("q_proj", "k_proj", "v_proj", "o_proj", "c_fc", "c_proj"),
}
"""Per ``config.model_type``: the modules a recipe's ``peft`` adapts when it names none. An architecture
not listed (mixture-of-experts models among them, whose experts differ from one library version to the
next) gets :data:`ALL_LINEAR`."""

SCORE_HEAD = "score"
"""The reward model's head (``AutoModelForSequenceClassification`` of decoder LMs), trained in full in a
reward stage: it starts untrained, so adapters around a frozen random head would learn nothing useful.
PEFT adds ``classifier``, the other architectures' name, by itself."""


# --- The PEFT config of a recipe ---

def default_target_modules(model_type: str) -> list[str] | str:
    """The modules adapted by default for an architecture (``config.model_type``)."""
    targets = DEFAULT_TARGET_MODULES.get(model_type)
    return list(targets) if targets else ALL_LINEAR


def default_modules_to_save(recipe: Recipe) -> list[str] | None:
    """``peft.modules_to_save``, or for a reward stage the score head."""
    if recipe.peft is not None and recipe.peft.modules_to_save is not None:
        return list(recipe.peft.modules_to_save)
    return [SCORE_HEAD] if recipe.stage == "reward" else None


def lora_config(recipe: Recipe, model_type: str):
    """The ``peft.LoraConfig`` a TRL trainer gets for this recipe (``recipe.peft`` must be set)."""
    from peft import LoraConfig, TaskType

    spec = recipe.peft
    if spec is None:
        raise ValueError(f"{recipe.name}: the recipe has no peft section")
    targets = spec.target_modules if spec.target_modules is not None else default_target_modules(model_type)
    return LoraConfig(
        r=spec.rank,
        lora_alpha=spec.scale_numerator,
        lora_dropout=spec.dropout,
        target_modules=targets if isinstance(targets, str) else list(targets),
        modules_to_save=default_modules_to_save(recipe),
        use_dora=spec.use_dora,
        use_rslora=spec.use_rslora,
        bias="none",
        task_type=TaskType.SEQ_CLS if recipe.stage == "reward" else TaskType.CAUSAL_LM,
    )


def lora_config_for(recipe: Recipe, model: Any):
    """:func:`lora_config` for a model given as a built module, or as the path TRL will load (its config
    read alone: under ZeRO-3 nothing may be built outside the partitioned load)."""
    if isinstance(model, str):
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model, trust_remote_code=recipe.model.trust_remote_code)
        return lora_config(recipe, config.model_type)
    return lora_config(recipe, model.config.model_type)


# --- Checking the module names against the model ---

@dataclass(frozen=True)
class ModuleCatalogue:
    """The module names of a model, built on the meta device (no weights) to check a recipe against."""

    class_name: str
    model_type: str
    adaptable: dict[str, str]
    """Full module name -> class name, for the layers LoRA can adapt (Linear, Embedding, Conv)."""
    others: dict[str, str]
    """Full module name -> class name, for every other module."""

    def names(self) -> list[str]:
        return [*self.adaptable, *self.others]

    def matches(self, key: str) -> list[str]:
        """Module names ``key`` selects in PEFT's rule: the name itself or a dotted suffix of it."""
        return [name for name in self.names() if name == key or name.endswith("." + key)]

    def leaf_names(self, adaptable_only: bool) -> list[str]:
        names = self.adaptable if adaptable_only else {**self.adaptable, **self.others}
        leaves = {name.rsplit(".", 1)[-1] for name in names if name}
        return sorted(leaf for leaf in leaves if not leaf.isdigit())  # not the indices of layer lists


def _is_adaptable(module: nn.Module) -> bool:
    from torch import nn
    from transformers.pytorch_utils import Conv1D

    return isinstance(module, (nn.Linear, nn.Embedding, nn.Conv1d, nn.Conv2d, nn.Conv3d, Conv1D))


def skeleton(recipe: Recipe, *, download: bool = False) -> PreTrainedModel | None:
    """The recipe's model (a reward model for a reward stage) built on the meta device: its modules and
    shapes, no weights and no memory. ``None`` when its config cannot be read: a hub id, unless it is in
    the local cache or ``download``."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification

    from rltrain.models.loading import model_source

    remote = recipe.model.trust_remote_code
    if recipe.model.is_tiny:
        from rltrain.models.tiny import build_model, build_reward_model, build_tokenizer

        vocab, tiny = len(build_tokenizer()), recipe.model.tiny
        with torch.device("meta"):
            return build_reward_model(tiny, vocab, 0) if recipe.stage == "reward" else build_model(tiny, vocab, 0, 1)
    local = recipe.resolve_input(recipe.model.name_or_path).exists()
    try:
        config = AutoConfig.from_pretrained(model_source(recipe), trust_remote_code=remote, local_files_only=not (local or download))
    except (OSError, ValueError):
        return None
    with torch.device("meta"):
        if recipe.stage == "reward":
            config.num_labels = 1
            return AutoModelForSequenceClassification.from_config(config, trust_remote_code=remote)
        return AutoModelForCausalLM.from_config(config, trust_remote_code=remote)


def module_catalogue(recipe: Recipe, *, download: bool = False) -> ModuleCatalogue | None:
    """The module names of the recipe's model (see :func:`skeleton`)."""
    model = skeleton(recipe, download=download)
    return None if model is None else module_names_of(model)


def module_names_of(model: PreTrainedModel) -> ModuleCatalogue:
    """The module names of a built model (on any device, meta included), by what LoRA can do with them."""
    adaptable: dict[str, str] = {}
    others: dict[str, str] = {}
    for name, module in model.named_modules():
        (adaptable if _is_adaptable(module) else others)[name] = type(module).__name__
    return ModuleCatalogue(type(model).__name__, model.config.model_type, adaptable, others)


def peft_problems(recipe: Recipe) -> list[str]:
    """What is wrong with ``peft.target_modules`` and ``peft.modules_to_save`` for the recipe's model,
    each message naming the model's real modules; empty when they fit (or the model cannot be read)."""
    if recipe.peft is None:
        return []
    catalogue = module_catalogue(recipe)
    if catalogue is None:
        return []
    problems = []
    targets = recipe.peft.target_modules
    for i, key in enumerate(targets if isinstance(targets, list) else []):
        problem = _target_problem(catalogue, key)
        if problem:
            problems.append(f"peft.target_modules.{i}: {problem}")
    for i, key in enumerate(recipe.peft.modules_to_save or []):
        if not catalogue.matches(key):
            problems.append(f"peft.modules_to_save.{i}: {_unknown(catalogue, key, adaptable_only=False)}")
    return problems


def _target_problem(catalogue: ModuleCatalogue, key: str) -> str | None:
    matched = catalogue.matches(key)
    if not matched:
        return _unknown(catalogue, key, adaptable_only=True)
    if any(name in catalogue.adaptable for name in matched):
        return None
    kinds = sorted({catalogue.others[name] for name in matched})
    inside = sorted({name.rsplit(".", 1)[-1] for name in catalogue.adaptable if any(name.startswith(m + ".") for m in matched)})
    hint = f"; name its layers instead: {', '.join(inside)}" if inside else ""
    return f"{key!r} is a {'/'.join(kinds)} in {catalogue.class_name}, not a layer LoRA adapts (Linear, Embedding, Conv){hint}"


def _unknown(catalogue: ModuleCatalogue, key: str, *, adaptable_only: bool) -> str:
    names = catalogue.leaf_names(adaptable_only)
    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], names, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    what = "its layers LoRA can adapt" if adaptable_only else "its modules"
    return f"{key!r} names no module of {catalogue.class_name} ({catalogue.model_type}); {what}: {', '.join(names)}{hint}"


def adapter_dir_problem(path: Path) -> str | None:
    """Why ``path`` is not a PEFT adapter directory, or ``None``."""
    if not path.is_dir():
        return f"directory not found: {path}"
    if not (path / "adapter_config.json").is_file():
        return f"{path} holds no adapter_config.json (a PEFT adapter directory, e.g. a LoRA run's final/adapter)"
    return None


# --- Loading with an adapter, and the merged final weights ---

def save_adapter_final(trainer, final: Path) -> Path:
    """Write the trained adapter to ``final/adapter/`` (every rank takes part: under ZeRO-3 the
    adapter is gathered from the shards) and the tokenizer to ``final/``. Whatever ``final/`` held
    before (a run continued past its end) goes first: its merged weights belong to the older adapter."""
    adapter = final / ADAPTER_DIR
    if trainer.is_world_process_zero():
        shutil.rmtree(final, ignore_errors=True)
    trainer.save_model(str(adapter))
    if trainer.is_world_process_zero():
        trainer.processing_class.save_pretrained(str(final))
    return adapter


def has_merged_weights(final: Path) -> bool:
    """Whether ``final/`` holds the merged weights already (``config.json`` is moved in last)."""
    return (final / "config.json").is_file()


def write_merged_final(recipe: Recipe, final: Path) -> bool:
    """Write base + ``final/adapter/`` as plain weights into ``final/``; ``False`` if already there.

    The base is loaded on the CPU, as the stage loaded it (``model.adapter`` merged too), so this needs
    host memory for one copy of the model in its dtype. Files are written to a staging directory and
    moved in with ``config.json`` last: a stage killed meanwhile merges again when resumed.
    """
    from rltrain.models.loading import load_model, load_tokenizer, merge_adapter

    if has_merged_weights(final):
        return False
    adapter = final / ADAPTER_DIR
    problem = adapter_dir_problem(adapter)
    if problem:
        raise FileNotFoundError(f"cannot merge the adapter into {final}: {problem}")
    logger.info("merging %s into the base weights of %s", adapter, recipe.model.name_or_path)
    merged = merge_adapter(load_model(recipe, load_tokenizer(recipe)), adapter)
    staging = final / ".merging"
    shutil.rmtree(staging, ignore_errors=True)
    merged.save_pretrained(str(staging))
    for path in sorted(staging.iterdir(), key=lambda p: p.name == "config.json"):
        path.replace(final / path.name)
    staging.rmdir()
    return True


_START_RECORD = "rltrain_start.json"


def start_weights(recipe: Recipe, machine_rank: int = 0) -> Recipe:
    """``recipe`` starting from plain weights: with ``model.adapter`` set, base + adapter are merged into
    :meth:`RunLayout.start <rltrain.run.layout.RunLayout.start>` (``<output_dir>/start``, ``start.node<R>``
    on node R of a multi-node run) and the recipe points there. Written once; reused while it records the same base and
    adapter."""
    from rltrain.models.loading import load_model, load_tokenizer, model_source

    if recipe.model.adapter is None:
        return recipe
    out = RunLayout.of(recipe.output_dir).start(machine_rank)
    source = {"model": model_source(recipe) if not recipe.model.is_tiny else recipe.model.model_dump(mode="json"),
              "adapter": str(recipe.resolve_input(recipe.model.adapter).resolve())}
    record = out / _START_RECORD
    if not (record.is_file() and json.loads(record.read_text()) == source):
        logger.info("merging %s into %s for the ranks to load", recipe.model.adapter, recipe.model.name_or_path)
        shutil.rmtree(out, ignore_errors=True)
        tokenizer = load_tokenizer(recipe)
        load_model(recipe, tokenizer).save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))
        record.write_text(json.dumps(source))
    model = recipe.model.model_copy(update={"name_or_path": str(out.resolve()), "adapter": None})
    return recipe.model_copy(update={"model": model})


# --- Counting ---

@dataclass(frozen=True)
class ParameterCounts:
    """Parameters of a model: all of them, and those that train (get gradients and optimizer state)."""

    total: int
    trainable: int


def parameter_counts(model: nn.Module) -> ParameterCounts:
    """Count a model's parameters (each shared tensor once); under ZeRO-3 the full sizes (``ds_numel``)."""
    seen: set[int] = set()
    total = trainable = 0
    for param in model.parameters():
        if id(param) in seen:
            continue
        seen.add(id(param))
        size = int(getattr(param, "ds_numel", 0) or param.numel())
        total += size
        trainable += size if param.requires_grad else 0
    return ParameterCounts(total, trainable)


def adapter_counts(recipe: Recipe) -> ParameterCounts | None:
    """The parameters of the recipe's model with its adapters attached (``trainable``: what gets
    gradients and optimizer state), counted on the meta device; ``None`` without ``peft``, or when the
    model's config cannot be read without downloading."""
    from peft import get_peft_model

    model = skeleton(recipe) if recipe.peft is not None else None
    if model is None:
        return None
    return parameter_counts(get_peft_model(model, lora_config(recipe, model.config.model_type)))

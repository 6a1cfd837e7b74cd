"""Model and tokenizer loading: a local directory, a hub id, or the built-in tiny model."""

from __future__ import annotations

from pathlib import Path

from rltrain.errors import RecipeError
from rltrain.recipe.schema import ModelConfig, Recipe


def torch_dtype(cfg: ModelConfig):
    import torch

    if cfg.dtype == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return getattr(torch, cfg.dtype)


def model_source(recipe: Recipe) -> str:
    """The path or hub id handed to ``from_pretrained`` (local paths resolved against the recipe)."""
    name = recipe.model.name_or_path
    local = recipe.resolve_input(name)
    return str(local) if local.exists() else name


def rope_parameters(recipe: Recipe) -> dict | None:
    """The checkpoint's RoPE parameters with ``model.rope_scaling`` (e.g. YaRN) merged in, to pass as
    ``from_pretrained(rope_parameters=...)``; ``None`` without scaling or for the built-in tiny model.

    Passing ``rope_scaling`` to ``from_pretrained`` directly would replace the checkpoint's RoPE
    parameters and lose its ``rope_theta``; merging keeps everything the scaling does not set.
    """
    scaling = recipe.model.rope_scaling
    if not scaling or recipe.model.is_tiny:
        return None
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_source(recipe), trust_remote_code=recipe.model.trust_remote_code)
    base = dict(getattr(config, "rope_parameters", None) or {})
    if any(isinstance(v, dict) for v in base.values()):
        raise RecipeError(
            f"model.rope_scaling: {recipe.model.name_or_path!r} has RoPE parameters per layer type; "
            "set them in its config.json instead"
        )
    if "rope_theta" not in base and getattr(config, "rope_theta", None) is not None:
        base["rope_theta"] = config.rope_theta
    base.pop("type", None)
    return {**base, **scaling}


def load_tokenizer(recipe: Recipe):
    from transformers import AutoTokenizer

    if recipe.model.is_tiny:
        from rltrain.models.tiny import build_tokenizer

        return build_tokenizer()
    tokenizer = AutoTokenizer.from_pretrained(model_source(recipe), trust_remote_code=recipe.model.trust_remote_code)
    if tokenizer.chat_template is None:
        raise RecipeError(
            f"model.name_or_path: the tokenizer of {recipe.model.name_or_path!r} has no chat template; "
            "use a chat/instruct or cold-start checkpoint"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(recipe: Recipe, tokenizer, *, device_map: str | None = None):
    """The policy model (a reward model for ``stage: reward``), with ``model.adapter`` merged into it when
    the recipe names one. Under DeepSpeed ZeRO-3 ``from_pretrained`` partitions it as it loads.
    ``device_map`` (e.g. ``"auto"``: spread over the visible GPUs) places a model loaded for evaluation;
    ``None`` leaves it on the CPU."""
    model = _load_weights(recipe, tokenizer, device_map=device_map)
    if recipe.model.adapter is None:
        return model
    return merge_adapter(model, recipe.resolve_input(recipe.model.adapter))


def merge_adapter(model, adapter_dir: str | Path):
    """``model`` with the PEFT adapter at ``adapter_dir`` merged into its weights: a plain model again,
    every weight trainable as after ``from_pretrained`` (PEFT froze the base to load the adapter)."""
    from peft import PeftModel

    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    return merged.requires_grad_(True)


def _load_weights(recipe: Recipe, tokenizer, *, device_map: str | None = None):
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    if recipe.stage == "reward":
        if recipe.model.is_tiny:
            from rltrain.models.tiny import build_reward_model

            return build_reward_model(recipe.model.tiny, len(tokenizer), tokenizer.pad_token_id)
        return AutoModelForSequenceClassification.from_pretrained(
            model_source(recipe), num_labels=1, dtype=torch_dtype(recipe.model),
            trust_remote_code=recipe.model.trust_remote_code, device_map=device_map,
        )
    if recipe.model.is_tiny:
        from rltrain.models.tiny import build_model

        model = build_model(recipe.model.tiny, len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id)
        return model.to("cuda") if device_map is not None else model
    rope = rope_parameters(recipe)
    return AutoModelForCausalLM.from_pretrained(
        model_source(recipe),
        dtype=torch_dtype(recipe.model),
        trust_remote_code=recipe.model.trust_remote_code,
        device_map=device_map,
        **({"rope_parameters": rope} if rope is not None else {}),
    )

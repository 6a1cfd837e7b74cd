"""model.rope_scaling (e.g. QwQ's YaRN for contexts beyond 32k): merged over the checkpoint's own RoPE
parameters wherever rltrain loads the policy, for evaluation and for TRL's from_pretrained."""

import pytest

from rltrain.recipe import ModelConfig, recipe_from_dict

YARN = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny Qwen2 checkpoint on disk with a non-default rope_theta (as Qwen models have: 1e6)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                         num_key_value_heads=2, intermediate_size=64, max_position_embeddings=32,
                         rope_theta=1_000_000.0)
    path = tmp_path_factory.mktemp("ckpt")
    Qwen2ForCausalLM(config).save_pretrained(path)
    return path


def recipe(model: dict, tmp_path):
    return recipe_from_dict({
        "model": model,
        "data": {"source": "synthetic:arithmetic", "eval_size": 10},
        "rewards": [{"name": "think_format"}],
        "output_dir": str(tmp_path / "out"),
    })


def test_model_card_spelling_is_accepted():
    cfg = ModelConfig(name_or_path="x", rope_scaling={"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768})
    assert cfg.rope_scaling == {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}


def test_rope_type_is_required():
    with pytest.raises(ValueError, match="needs rope_type"):
        ModelConfig(name_or_path="x", rope_scaling={"factor": 4.0})


def test_merged_over_the_checkpoint_keeping_rope_theta(checkpoint, tmp_path):
    from rltrain.models.loading import load_model, rope_parameters

    r = recipe({"name_or_path": str(checkpoint), "rope_scaling": YARN}, tmp_path)
    assert rope_parameters(r) == {**YARN, "rope_theta": 1_000_000.0}
    model = load_model(r, tokenizer=None)  # what evaluation loads
    assert model.config.rope_parameters == {**YARN, "rope_theta": 1_000_000.0}
    assert model.model.rotary_emb.rope_type == "yarn"


def test_without_scaling_the_checkpoint_is_untouched(checkpoint, tmp_path):
    from rltrain.models.loading import load_model, rope_parameters

    r = recipe({"name_or_path": str(checkpoint)}, tmp_path)
    assert rope_parameters(r) is None
    assert load_model(r, tokenizer=None).config.rope_parameters == {"rope_type": "default", "rope_theta": 1_000_000.0}


def test_the_tiny_model_is_left_alone(tmp_path):
    from rltrain.models.loading import rope_parameters

    assert rope_parameters(recipe({"name_or_path": "tiny", "rope_scaling": YARN}, tmp_path)) is None


def test_trl_loads_the_policy_with_it(checkpoint, tmp_path):
    """TRL builds the policy (and a KL reference) with from_pretrained(**model_init_kwargs)."""
    from rltrain.run.trainer import trl_config

    r = recipe({"name_or_path": str(checkpoint), "rope_scaling": YARN}, tmp_path)
    assert trl_config(r).model_init_kwargs["rope_parameters"] == {**YARN, "rope_theta": 1_000_000.0}
    r.grpo["model_init_kwargs"] = {"rope_parameters": {"rope_type": "default", "rope_theta": 5.0}}
    assert trl_config(r).model_init_kwargs["rope_parameters"] == {"rope_type": "default", "rope_theta": 5.0}

"""The built-in tiny model: a Qwen2-architecture causal LM and a byte-level tokenizer, built locally.

Used by the smoke pipeline and the tests so that nothing is downloaded. The tokenizer has one token per
byte plus Qwen's chat special tokens, with a chat
template in Qwen/QwQ style that prefills ``<think>\\n`` for the assistant turn (the case that makes
naive think-format rewards read zero). Both load with the ordinary ``from_pretrained`` calls.
"""

from __future__ import annotations

from pathlib import Path

from rltrain.recipe.schema import TinyModelConfig

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
THINK_TOKENS = ["<think>", "</think>"]
"""Single tokens but not special (as in Qwen/QwQ): decoding with skip_special_tokens keeps them."""
PAD, EOS = "<|endoftext|>", "<|im_end|>"
VOCAB_SIZE = len(SPECIAL_TOKENS) + len(THINK_TOKENS) + 256
"""The tokenizer's size: the chat and think tokens, then one token per byte."""

CHAT_TEMPLATE = (
    "{% if tools %}<|im_start|>system\nTools:{% for tool in tools %} {{ (tool.function or tool).name }}{% endfor %}"
    "<|im_end|>\n{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "<|im_start|>assistant\n<think>\n{% generation %}{{ message['content'] }}"
    "{% for call in message.get('tool_calls') or [] %}{% set f = call.function or call %}"
    "<tool_call>\n{\"name\": \"{{ f.name }}\", \"arguments\": "
    "{{ f.arguments | tojson if f.arguments is mapping else f.arguments }}}\n</tool_call>"
    "{% endfor %}<|im_end|>{% endgeneration %}{{ '\\n' }}"
    "{% else %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)
"""Qwen-style turns; the assistant turn always opens with ``<think>\\n`` (prefilled at generation).

Tool calls render Hermes-style (``<tool_call>{json}</tool_call>``, as Qwen/QwQ), tool results as a
``tool`` turn, and the tools offered as a one-line system turn naming them (short: every byte is a
token). Assistant content sits in ``{% generation %}`` so SFT can train on assistant tokens only.
"""


def build_tokenizer():
    """A byte-level tokenizer with no merges (one token per byte) plus Qwen's chat special tokens.

    It is a Qwen2 tokenizer in all but the merges, so ``AutoTokenizer`` (which picks the Qwen2 class
    from the model config) reloads it exactly.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + THINK_TOKENS + alphabet)}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(SPECIAL_TOKENS)
    core.add_tokens([AddedToken(t, special=False, normalized=False) for t in THINK_TOKENS])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD,
        eos_token=EOS,
        bos_token=None,
        unk_token=None,
        additional_special_tokens=["<|im_start|>"],
        model_max_length=4096,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    # No response parser here: TRL decodes every completion with it when one is set, tools or not. A
    # recipe with tools gets one (rltrain.tools.parsing.ensure_tool_parser: the Hermes parser).
    return tokenizer


def tiny_config(shape: TinyModelConfig, vocab_size: int = VOCAB_SIZE, pad_token_id: int | None = None,
                eos_token_id: int | None = None):
    """The ``Qwen2Config`` of the given shape (what :func:`build_model` builds, and the planner measures)."""
    from transformers import Qwen2Config

    if shape.hidden_size % shape.num_attention_heads:
        raise ValueError("model.tiny.hidden_size must be a multiple of model.tiny.num_attention_heads")
    return Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=shape.hidden_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        num_key_value_heads=shape.num_key_value_heads,
        intermediate_size=shape.intermediate_size,
        max_position_embeddings=shape.max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=pad_token_id,
        eos_token_id=eos_token_id,
        bos_token_id=None,
        rope_parameters={"rope_type": "default", "rope_theta": shape.rope_theta},
    )


def build_model(shape: TinyModelConfig, vocab_size: int, pad_token_id: int, eos_token_id: int):
    """A randomly initialised ``Qwen2ForCausalLM`` of the given shape (seeded)."""
    import torch
    from transformers import Qwen2ForCausalLM

    config = tiny_config(shape, vocab_size, pad_token_id, eos_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(shape.seed)
        model = Qwen2ForCausalLM(config)
    model.generation_config.pad_token_id = pad_token_id
    model.generation_config.eos_token_id = eos_token_id
    return model


def build_reward_model(shape: TinyModelConfig, vocab_size: int, pad_token_id: int):
    """A randomly initialised ``Qwen2ForSequenceClassification`` with one output (a reward model)."""
    import torch
    from transformers import Qwen2ForSequenceClassification

    causal = build_model(shape, vocab_size, pad_token_id, pad_token_id)
    config = causal.config
    config.num_labels = 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(shape.seed)
        return Qwen2ForSequenceClassification(config)


def build_tiny(shape: TinyModelConfig | None = None):
    """Tokenizer and model, in memory."""
    tokenizer = build_tokenizer()
    model = build_model(
        shape or TinyModelConfig(),
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return model, tokenizer


def write_tiny(out_dir: str | Path, shape: TinyModelConfig | None = None) -> Path:
    """Write the tiny model and tokenizer to ``out_dir`` in Hugging Face format."""
    out = Path(out_dir)
    model, tokenizer = build_tiny(shape)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def write_tiny_reward_model(out_dir: str | Path, shape: TinyModelConfig | None = None) -> Path:
    """Write a tiny reward model (one score output) and its tokenizer to ``out_dir`` in Hugging Face format."""
    out = Path(out_dir)
    tokenizer = build_tokenizer()
    build_reward_model(shape or TinyModelConfig(), len(tokenizer), tokenizer.pad_token_id).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out

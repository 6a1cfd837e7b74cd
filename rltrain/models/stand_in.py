"""Stand-ins for the models recipes name: a tiny random model of the same architecture family, and a
tokenizer carrying the model's real chat template, built without downloading anything.

A dry run (:mod:`rltrain.run.dry_run`) trains a recipe for a couple of steps on CPU. What it must prove is
that the recipe's data, rewards, tools, chat template and checkpoints fit together, not that a 32B model
learns; so the model is replaced by the same architecture scaled down (same ``model_type``, RoPE settings,
embedding tying and key/value-head ratio, two layers), and the tokenizer by the model's own when it is on
this machine, otherwise by the built-in byte-level tokenizer (:func:`rltrain.models.tiny.build_tokenizer`)
carrying the model's chat template and the tokens that template writes. What the template renders, what
TRL decodes and parses, and which tokens carry loss are then those of the real model; only the vocabulary
is smaller.

The real templates and ``config.json`` files of the models the shipped recipes name are package data
(:mod:`rltrain.models.shipped`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rltrain.models.shipped import CHAT_TEMPLATE_DIR

QWEN_TOOL_TOKENS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]
"""Single, non-special tokens in the Qwen 2.5 / QwQ / Qwen3 vocabularies (they survive ``skip_special_tokens``)."""

DEEPSEEK_BOS, DEEPSEEK_EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
DEEPSEEK_ROLE_TOKENS = ["<｜User｜>", "<｜Assistant｜>"]

THINK_PREFILL = "<think>\n"
"""What a reasoning model's generation prompt ends with when its template opens the reasoning for it."""


@dataclass(frozen=True)
class ChatModel:
    """One model's template and the facts about it that rendering and tests rely on."""

    key: str
    """File stem under :data:`rltrain.models.shipped.CHAT_TEMPLATE_DIR`."""
    model: str
    """The model whose ``tokenizer_config.json`` carries the template."""
    assistant_header: str
    """What opens an assistant turn."""
    end_of_turn: str
    """What closes an assistant turn in the rendering (the end-of-sequence token, then any newline)."""
    think_prefill: bool
    """The generation prompt ends with ``<think>\\n``: the model's completion starts inside its reasoning."""
    tools: bool
    """The template renders assistant tool calls and tool results (Hermes-style ``<tool_call>`` JSON)."""
    name_pattern: str
    """Model names (hub ids or directory names) that use this template, as a case-insensitive regex."""

    @property
    def path(self) -> Path:
        return CHAT_TEMPLATE_DIR / f"{self.key}.jinja"

    @property
    def template(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def eos(self) -> str:
        return self.end_of_turn.rstrip("\n")


QWQ = ChatModel("qwq_32b", "Qwen/QwQ-32B", "<|im_start|>assistant\n", "<|im_end|>\n", think_prefill=True, tools=True,
                name_pattern=r"qwq")
QWEN3 = ChatModel("qwen3_8b", "Qwen/Qwen3-8B", "<|im_start|>assistant\n", "<|im_end|>\n", think_prefill=False, tools=True,
                  name_pattern=r"qwen3")
R1_DISTILL = ChatModel("deepseek_r1_distill_qwen", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "<｜Assistant｜>", DEEPSEEK_EOS,
                       think_prefill=True, tools=False, name_pattern=r"r1-distill-qwen")
QWEN25 = ChatModel("qwen2_5_7b_instruct", "Qwen/Qwen2.5-7B-Instruct", "<|im_start|>assistant\n", "<|im_end|>\n",
                   think_prefill=False, tools=True, name_pattern=r"qwen2\.5-.*instruct")

CHAT_MODELS = [QWQ, QWEN3, R1_DISTILL, QWEN25]
"""Every shipped template, in the order of the QwQ recipe family (the policy first, then the cold starts)."""


def chat_model_for(name_or_path: str) -> ChatModel | None:
    """The shipped template of the model ``name_or_path`` names (hub id or local directory), if any."""
    name = name_or_path.rstrip("/").lower()
    return next((chat for chat in CHAT_MODELS if re.search(chat.name_pattern, name)), None)


def template_tokenizer(chat: ChatModel) -> Any:
    """The tiny byte-level tokenizer carrying ``chat``'s template, with the tokens that template writes.

    Qwen-family templates write ``<|im_start|>``/``<|im_end|>`` and ``<think>``/``</think>`` (which the tiny
    tokenizer already has, as the Qwen ones do) and the Hermes tool tags. DeepSeek-R1-Distill's write its own
    begin/end-of-sentence tokens (special: its bos, eos and pad) and role markers (not special).
    """
    from tokenizers import AddedToken

    from rltrain.models.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    tokenizer.chat_template = chat.template
    if chat.key == R1_DISTILL.key:
        tokenizer.add_special_tokens({"bos_token": DEEPSEEK_BOS, "eos_token": DEEPSEEK_EOS, "pad_token": DEEPSEEK_EOS})
        extra = DEEPSEEK_ROLE_TOKENS
    else:
        extra = QWEN_TOOL_TOKENS
    tokenizer.add_tokens([AddedToken(token, special=False, normalized=False) for token in extra])
    return tokenizer


@dataclass(frozen=True)
class StandInTokenizer:
    """The tokenizer a stand-in model is saved with, and where it came from (said in the dry run's report)."""

    tokenizer: Any
    origin: str
    """``"the model's own tokenizer (DIR)"``, ``"tiny tokenizer with the qwq_32b.jinja template"``, ..."""
    template: str | None
    """The template file used with the tiny tokenizer; ``None`` with the model's own tokenizer."""


def local_tokenizer_dir(name_or_path: str, base_dir: Path = Path(".")) -> Path | None:
    """A directory on this machine holding ``name_or_path``'s tokenizer: the model directory itself, or its
    snapshot in the Hugging Face cache. Never downloads."""
    local = Path(name_or_path).expanduser()
    for directory in ([local] if local.is_absolute() else [base_dir / local, local]):
        if (directory / "tokenizer_config.json").is_file():
            return directory
    if name_or_path.count("/") != 1:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on it
        return None
    found = try_to_load_from_cache(name_or_path, "tokenizer_config.json")
    if isinstance(found, str) and (Path(found).parent / "tokenizer.json").is_file():
        return Path(found).parent
    return None


def stand_in_tokenizer(name_or_path: str, base_dir: Path = Path(".")) -> StandInTokenizer:
    """The model's own tokenizer when this machine holds it, else the tiny tokenizer with its shipped chat
    template (the tiny tokenizer's own Qwen-style template when no shipped one matches the name)."""
    from transformers import AutoTokenizer

    local = local_tokenizer_dir(name_or_path, base_dir)
    if local is not None:
        tokenizer = AutoTokenizer.from_pretrained(str(local))
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return StandInTokenizer(tokenizer, f"the model's own tokenizer ({local})", None)
    chat = chat_model_for(name_or_path)
    if chat is None:
        from rltrain.models.tiny import build_tokenizer

        return StandInTokenizer(build_tokenizer(), "the tiny tokenizer with its own Qwen-style template "
                                "(no shipped template matches this model name)", None)
    return StandInTokenizer(template_tokenizer(chat), f"the tiny tokenizer with {chat.model}'s template ({chat.path.name})",
                            chat.path.name)


STAND_IN_HEAD_DIM = 16
STAND_IN_LAYERS = 2
STAND_IN_MIN_HIDDEN, STAND_IN_MAX_HIDDEN = 64, 128


def scaled_down_config(raw: dict[str, Any], vocab_size: int) -> dict[str, Any]:
    """``config.json`` fields scaled down to a couple of layers of width 64-128, keeping what makes the
    architecture itself: ``model_type``, the RoPE settings, embedding tying, the query/key-value head ratio
    (grouped-query attention) and any q/k norms. Multimodal and quantization fields are dropped."""
    dropped = ("quantization_config", "layer_types", "auto_map", "_name_or_path", "bos_token_id", "eos_token_id", "pad_token_id")
    config = {k: v for k, v in raw.items() if k not in dropped}
    heads = int(config.get("num_attention_heads", 4))
    kv_heads = int(config.get("num_key_value_heads") or heads)
    ratio = max(1, heads // max(1, kv_heads))
    ratio = min(ratio, STAND_IN_MAX_HIDDEN // STAND_IN_HEAD_DIM)
    kv = -(-STAND_IN_MIN_HIDDEN // (ratio * STAND_IN_HEAD_DIM))  # enough kv heads for a width of at least 64
    new_heads = kv * ratio
    hidden = new_heads * STAND_IN_HEAD_DIM
    config.update(
        hidden_size=hidden,
        num_hidden_layers=STAND_IN_LAYERS,
        num_attention_heads=new_heads,
        num_key_value_heads=kv,
        intermediate_size=2 * hidden,
        vocab_size=vocab_size,
        torch_dtype="float32",
        use_cache=True,
    )
    if "head_dim" in raw:
        config["head_dim"] = STAND_IN_HEAD_DIM
    if "max_window_layers" in config:
        config["max_window_layers"] = STAND_IN_LAYERS
    return config


@dataclass(frozen=True)
class StandIn:
    """A stand-in model written to disk, and what it stands in for."""

    path: Path
    model: str
    config_source: str
    tokenizer_origin: str
    template: str | None
    architecture: str
    num_params: int

    def describe(self) -> str:
        return (f"{self.architecture} ({self.num_params / 1e6:.2f}M params, config from {self.config_source}); "
                f"tokenizer: {self.tokenizer_origin}")


def write_stand_in(name_or_path: str, out_dir: Path, *, base_dir: Path = Path("."), sequence_classification: bool = False,
                   seed: int = 0) -> StandIn:
    """Write a tiny random model of ``name_or_path``'s architecture and its stand-in tokenizer to ``out_dir``
    (reused when already there: recipes of one family share it). ``sequence_classification``: a reward model
    with one score output. Raises :class:`rltrain.planning.model_shape.ModelConfigNotFound` when no
    ``config.json`` of the model is on this machine."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification

    from rltrain.planning.model_shape import locate_config

    info = out_dir / "stand_in.json"
    if info.is_file():
        return StandIn(**{**json.loads(info.read_text()), "path": out_dir})
    config_path = locate_config(name_or_path, base_dir=base_dir)
    chosen = stand_in_tokenizer(name_or_path, base_dir)
    tokenizer = chosen.tokenizer
    raw = scaled_down_config(json.loads(config_path.read_text()), len(tokenizer))
    model_type = raw.pop("model_type")
    config = AutoConfig.for_model(model_type, **raw)
    config.pad_token_id = tokenizer.pad_token_id
    config.eos_token_id = tokenizer.eos_token_id
    config.bos_token_id = tokenizer.bos_token_id
    factory = AutoModelForSequenceClassification if sequence_classification else AutoModelForCausalLM
    if sequence_classification:
        config.num_labels = 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = factory.from_config(config)
    if not sequence_classification:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.eos_token_id = tokenizer.eos_token_id
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    stand_in = StandIn(path=out_dir, model=name_or_path, config_source=str(config_path), tokenizer_origin=chosen.origin,
                       template=chosen.template, architecture=type(model).__name__,
                       num_params=sum(p.numel() for p in model.parameters()))
    info.write_text(json.dumps({k: v for k, v in stand_in.__dict__.items() if k != "path"}, indent=2))
    return stand_in

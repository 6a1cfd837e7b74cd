"""Reading tool calls out of generated text: the response parser a tokenizer needs for tool rollouts.

TRL parses each completion with ``tokenizer.parse_response`` (transformers' response templates) and
sets a parser itself for the chat templates it knows (Qwen 2.5/3, Llama 3, ...). QwQ-32B's template, and
other Hermes-style templates that write ``<tool_call>{"name": ..., "arguments": ...}</tool_call>``
inside ``<|im_start|>assistant`` turns, are not among them: :func:`ensure_tool_parser` gives those the
Hermes parser below, and refuses, naming the fix, a template it cannot read tool calls from.
"""

from __future__ import annotations

from typing import Any

from rltrain.errors import RecipeError

HERMES_RESPONSE_TEMPLATE: dict[str, Any] = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "reasoning_content": {"open": "<think>", "close_pattern": r"</think>\s*", "content": "text"},
        "tool_calls": {
            "open": "<tool_call>",
            "close_pattern": r"</tool_call>\s*",
            "repeats": True,
            "content": "json",
            "transform": {"type": "function", "function": "{content}"},
        },
        "content": {"close_pattern": r"<\|im_end\|>\s*", "content": "text"},
    },
}
"""A transformers response template for ChatML turns with ``<think>`` reasoning and Hermes tool calls."""


def has_tool_parser(tokenizer: Any) -> bool:
    return getattr(tokenizer, "response_template", None) is not None or getattr(tokenizer, "response_schema", None) is not None


def ensure_tool_parser(tokenizer: Any) -> None:
    """Make sure TRL can parse tool calls from this tokenizer's completions (sets a parser if needed).

    Raises:
        RecipeError: the chat template cannot render tool calls, or writes them in a format no parser
            here reads; the message says what to do.
    """
    from trl.chat_template_utils import add_response_schema, supports_tool_calling

    if not supports_tool_calling(tokenizer):
        raise RecipeError(
            "tools: the model's chat template cannot render a tool-calling conversation (assistant tool_calls, "
            "then a tool message); use a model whose template supports tools (Qwen 2.5/3, QwQ, Llama 3.1, ...)"
        )
    if has_tool_parser(tokenizer):
        return
    try:
        add_response_schema(tokenizer)  # TRL's parsers for the templates it knows
        return
    except ValueError:
        pass
    template = tokenizer.chat_template or ""
    if "<tool_call>" in template and "<|im_start|>" in template:
        tokenizer.response_template = HERMES_RESPONSE_TEMPLATE
        return
    raise RecipeError(
        "tools: no parser for tool calls in this chat template; set tokenizer.response_template (see "
        "transformers' response parsing docs) in the model's tokenizer_config.json"
    )

"""Multi-turn generation with tools, for evaluation (training rollouts use TRL's tool loop).

Each conversation is kept as token ids, as TRL does in training: the prompt rendered with the tools,
then per round the generated tokens (up to the end-of-turn token), the tool results rendered by the
chat template (plus the next assistant header), and so on, until a turn calls no tool, ``max_rounds``
rounds of tool calls have run, or the conversation has used ``max_new_tokens`` tokens after the prompt
(generated and tool tokens alike, as ``grpo.max_completion_length`` counts them). Tool calls of all
conversations in a round run concurrently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rltrain.tools.runtime import ERROR_PREFIX, GuardedTool


@dataclass
class Conversation:
    ids: list[int]
    prompt_len: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False


def _ids(encoded: Any) -> list[int]:
    return list(encoded["input_ids"] if isinstance(encoded, dict) or hasattr(encoded, "keys") else encoded)


def multi_turn_template(tokenizer: Any) -> str | None:
    """The chat template to render tool conversations with: ``None`` (the tokenizer's own) when it is
    prefix-preserving, else TRL's training variant of it, as TRL's GRPO tool loop does (Qwen3's own
    template renders an assistant turn differently once tool results follow it)."""
    from trl.chat_template_utils import get_training_chat_template, is_chat_template_prefix_preserving

    return None if is_chat_template_prefix_preserving(tokenizer) else get_training_chat_template(tokenizer)


def tool_suffix_ids(tokenizer: Any, tool_messages: list[dict[str, Any]], chat_template: str | None = None) -> list[int]:
    """The tokens the chat template puts after an assistant turn for ``tool_messages``, through the next
    assistant header (the difference of two renderings, cut at the assistant turn's end token)."""
    call = [{"type": "function", "function": {"name": tool_messages[0]["name"], "arguments": {}}}]
    head = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "", "tool_calls": call}]
    prefix = _ids(tokenizer.apply_chat_template(head, tokenize=True, chat_template=chat_template))
    full = _ids(tokenizer.apply_chat_template(head + tool_messages, tokenize=True, add_generation_prompt=True,
                                              chat_template=chat_template))
    ends = [i for i, t in enumerate(prefix) if t == tokenizer.eos_token_id]
    if ends:
        prefix = prefix[: ends[-1] + 1]
    if full[: len(prefix)] != prefix:
        raise ValueError("the chat template renders an assistant turn differently once tool results follow it")
    return full[len(prefix):]


def _run_calls(calls: list[tuple[int, str, dict[str, Any]]], tools: dict[str, GuardedTool]) -> list[str]:
    async def one(name: str, arguments: Any) -> str:
        if name not in tools:
            return f"{ERROR_PREFIX}there is no tool called {name!r}; tools: {sorted(tools)}"
        if not isinstance(arguments, dict):
            return f"{ERROR_PREFIX}bad call to {name}: arguments must be a JSON object, got {type(arguments).__name__}"
        return await tools[name](**arguments)

    async def every() -> list[str]:
        return list(await asyncio.gather(*(one(name, args) for _, name, args in calls)))

    return asyncio.run(every())


def generate_with_tools(model: Any, tokenizer: Any, prompts: list[list[dict[str, Any]]], *,
                        tools: Sequence[GuardedTool], samples: int, max_new_tokens: int, max_rounds: int,
                        batch_size: int, sampling: dict[str, Any]) -> list[list[list[dict[str, Any]]]]:
    """``samples`` tool-using completions (message lists) per chat prompt; the caller seeds sampling."""
    import torch
    from trl.chat_template_utils import parse_response

    from rltrain.tools.parsing import ensure_tool_parser

    ensure_tool_parser(tokenizer)
    by_name = {t.__name__: t for t in tools}
    template_tools: list[dict[str, Any] | Callable[..., Any]] = list(tools)
    template = multi_turn_template(tokenizer)
    device = next(model.parameters()).device
    convs: list[Conversation] = []
    for prompt in prompts:
        ids = _ids(tokenizer.apply_chat_template(prompt, tools=template_tools, add_generation_prompt=True, tokenize=True,
                                                 chat_template=template))
        convs += [Conversation(ids=list(ids), prompt_len=len(ids)) for _ in range(samples)]
    pad = tokenizer.pad_token_id
    for round_no in range(max_rounds + 1):
        active = [c for c in convs if not c.done]
        for start in range(0, len(active), batch_size):
            batch = active[start : start + batch_size]
            width = max(len(c.ids) for c in batch)
            input_ids = torch.tensor([[pad] * (width - len(c.ids)) + c.ids for c in batch], device=device)
            mask = torch.tensor([[0] * (width - len(c.ids)) + [1] * len(c.ids) for c in batch], device=device)
            budget = max(max_new_tokens - (len(c.ids) - c.prompt_len) for c in batch)
            with torch.inference_mode():
                out = model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=max(budget, 1),
                                     pad_token_id=pad, **sampling)
            for conv, row in zip(batch, out[:, width:].tolist(), strict=True):
                left = max_new_tokens - (len(conv.ids) - conv.prompt_len)
                new = row[:left]
                if tokenizer.eos_token_id in new:
                    new = new[: new.index(tokenizer.eos_token_id) + 1]
                message = parse_response(tokenizer, new, prefix=conv.ids, tools=template_tools) if new else {
                    "role": "assistant", "content": ""}
                conv.ids += new
                conv.messages.append(message)
                finished = tokenizer.eos_token_id in new
                conv.done = not (finished and message.get("tool_calls") and round_no < max_rounds)
        calls = [(i, call["function"]["name"], call["function"].get("arguments", {}))
                 for i, c in enumerate(convs) if not c.done and c.messages
                 for call in c.messages[-1].get("tool_calls") or []]
        if not calls:
            break
        results = _run_calls(calls, by_name)
        replies: dict[int, list[dict[str, Any]]] = {}
        for (i, name, _), text in zip(calls, results, strict=True):
            replies.setdefault(i, []).append({"role": "tool", "name": name, "content": text})
        for i, tool_messages in replies.items():
            conv = convs[i]
            suffix = tool_suffix_ids(tokenizer, tool_messages, template)
            if len(conv.ids) + len(suffix) - conv.prompt_len >= max_new_tokens:
                conv.done = True  # no room for the results and an answer
                continue
            conv.ids += suffix
            conv.messages += tool_messages
    return [[c.messages for c in convs[p * samples : (p + 1) * samples]] for p in range(len(prompts))]

"""A generated agentic task: multiplications a tiny model cannot do in its head, with a python tool.

``tool_multiplication`` rows: ``problem`` ("What is 37*48?"), ``answer`` (the product, for the math
verifier) and ``trace``, a cold-start SFT target as a message list. A ``tool_share`` of the traces
use the tool::

    assistant: </think>  <tool_call>{"name": "python", "arguments": {"code": "print(37*48)"}}</tool_call>
    tool:      1776
    assistant: </think>\\boxed{1776}

and the rest answer at once (``</think>\\boxed{1776}``), as a cold start distilled from a model that
often skipped its tools would. A small model imitating this calls the tool part of the time and is then
right as often as it copies the numbers correctly; when it answers directly it is almost always wrong.
The outcome reward sees the difference, and RL can teach it to reach for the tool.
"""

from __future__ import annotations

import random
from typing import Any

Row = dict[str, Any]


def tool_call_trace(a: int, b: int) -> list[dict[str, Any]]:
    """The tool-using target for ``a*b``: call python, read the product, box it."""
    product = a * b
    call = {"type": "function", "function": {"name": "python", "arguments": {"code": f"print({a}*{b})"}}}
    return [
        {"role": "assistant", "content": "</think>\n", "tool_calls": [call]},
        {"role": "tool", "name": "python", "content": f"{product}\n"},
        {"role": "assistant", "content": f"</think>\n\\boxed{{{product}}}"},
    ]


def tool_multiplication(size: int = 1000, seed: int = 0, min_value: int = 10, max_value: int = 99,
                        tool_share: float = 0.5) -> list[Row]:
    """Distinct problems ``a*b`` with ``min_value <= a, b <= max_value``; ``tool_share`` of the traces call
    the python tool, the others answer directly."""
    if not 0.0 <= tool_share <= 1.0:
        raise ValueError(f"synthetic tool_multiplication: tool_share must be within [0, 1], got {tool_share}")
    if not 0 <= min_value <= max_value:
        raise ValueError("synthetic tool_multiplication: need 0 <= min_value <= max_value")
    span = max_value - min_value + 1
    if size > span * span:
        raise ValueError(f"synthetic tool_multiplication: size={size} exceeds the {span * span} distinct problems")
    rng, trace_rng = random.Random(seed), random.Random(seed + 1)
    seen: set[tuple[int, int]] = set()
    rows: list[Row] = []
    while len(rows) < size:
        a, b = rng.randint(min_value, max_value), rng.randint(min_value, max_value)
        if (a, b) in seen:
            continue
        seen.add((a, b))
        direct = [{"role": "assistant", "content": f"</think>\n\\boxed{{{a * b}}}"}]
        trace = tool_call_trace(a, b) if trace_rng.random() < tool_share else direct
        rows.append({"problem": f"What is {a}*{b}?", "answer": str(a * b), "trace": _uniform(trace)})
    return rows


def _uniform(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every message with the same keys, so a column of traces has one Arrow type."""
    return [{"role": m["role"], "content": m["content"], "name": m.get("name"), "tool_calls": m.get("tool_calls")}
            for m in messages]

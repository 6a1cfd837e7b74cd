"""Generated tasks for the CPU smoke pipeline: nothing is downloaded.

Each task returns rows with ``problem`` (the question), ``answer`` (the gold final answer, checked by
the math verifier) and ``solution`` (a think-format target response for cold-start SFT: reasoning,
``</think>``, then the answer in ``\\boxed{}``). The chat template of the built-in tiny tokenizer
prefills ``<think>\\n`` the way QwQ's does, so ``solution`` starts directly with the reasoning.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

Row = dict[str, str]


def arithmetic(
    size: int = 2000,
    seed: int = 0,
    max_a: int = 99,
    max_b: int = 99,
    ops: str = "+",
    skip_reasoning: float = 0.0,
) -> list[Row]:
    """Distinct problems ``a <op> b`` with ``0 <= a <= max_a`` and ``0 <= b <= max_b``.

    The reasoning spells the sum column by column (``47+38: 7+8=15; 4+3+1=8. 47+38=85``) so that a
    small model can learn the procedure. ``skip_reasoning`` is the share of ``solution`` targets (for
    cold-start SFT) that close the thinking at once and state the answer without working it out, as an
    uneven distilled cold start would. A small model imitating such data answers directly part of the
    time and is then mostly wrong: a mistake the outcome reward sees and RL can remove by learning to
    think first.
    """
    if not 0.0 <= skip_reasoning <= 1.0:
        raise ValueError(f"synthetic arithmetic: skip_reasoning must be within [0, 1], got {skip_reasoning}")
    for op in ops:
        if op not in "+-":
            raise ValueError(f"synthetic arithmetic: op {op!r} not supported; use '+' and/or '-'")
    rng = random.Random(seed)
    skip_rng = random.Random(seed + 1)  # separate stream: the problems do not depend on skip_reasoning
    space = (max_a + 1) * (max_b + 1) * len(ops)
    if size > space:
        raise ValueError(f"synthetic arithmetic: size={size} exceeds the {space} distinct problems")
    seen: set[tuple[int, int, str]] = set()
    rows: list[Row] = []
    while len(rows) < size:
        a, b, op = rng.randint(0, max_a), rng.randint(0, max_b), rng.choice(ops)
        if (a, b, op) in seen:
            continue
        seen.add((a, b, op))
        value = a + b if op == "+" else a - b
        reasoning = "" if skip_rng.random() < skip_reasoning else _reasoning(a, b, op)
        rows.append(
            {
                "problem": f"What is {a}{op}{b}?",
                "answer": str(value),
                "solution": f"{reasoning}</think>\n\\boxed{{{value}}}",
            }
        )
    return rows


def _reasoning(a: int, b: int, op: str) -> str:
    """The column-by-column working of ``a <op> b``."""
    if op == "-":
        return f"{a}-{b}={a - b}"
    steps, carry = [], 0
    da, db = str(a)[::-1], str(b)[::-1]
    for i in range(max(len(da), len(db))):
        x = int(da[i]) if i < len(da) else 0
        y = int(db[i]) if i < len(db) else 0
        total = x + y + carry
        term = f"{x}+{y}" + (f"+{carry}" if carry else "")
        carry = total // 10
        steps.append(f"{term}={total}")
    return f"{a}+{b}: " + "; ".join(steps) + f". {a}+{b}={a + b}"


TASKS: dict[str, Callable[..., list[Row]]] = {"arithmetic": arithmetic}
"""Synthetic tasks by name, used as ``data.source: synthetic:<name>``."""


def generate(task: str, params: dict[str, Any]) -> list[Row]:
    if task not in TASKS:
        raise ValueError(f"unknown synthetic task {task!r}; known: {sorted(TASKS)}")
    try:
        return TASKS[task](**params)
    except TypeError as exc:
        raise ValueError(f"synthetic:{task}: bad parameter in data.synthetic ({exc})") from None

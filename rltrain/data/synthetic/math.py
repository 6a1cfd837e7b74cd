"""Generated arithmetic tasks: additions for the math stages, the same with a verifiable instruction
(IFEval format) for stage two, and chosen/rejected pairs for training the tiny reward model.

The arithmetic task returns rows with ``problem`` (the question), ``answer`` (the gold final answer, checked by
the math verifier) and ``solution`` (a think-format target response for cold-start SFT: reasoning,
``</think>``, then the answer in ``\\boxed{}``). The chat template of the built-in tiny tokenizer
prefills ``<think>\\n`` the way QwQ's does, so ``solution`` starts directly with the reasoning.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rltrain.data.synthetic.code import parse_kinds

Row = dict[str, Any]


def arithmetic(
    size: int = 2000,
    seed: int = 0,
    max_a: int = 99,
    max_b: int = 99,
    ops: str = "+",
    skip_reasoning: float = 0.0,
    direct_accuracy: float = 1.0,
) -> list[Row]:
    """Distinct problems ``a <op> b`` with ``0 <= a <= max_a`` and ``0 <= b <= max_b``.

    The reasoning spells the sum column by column (``47+38: 7+8=15; 4+3+1=8. 47+38=85``) so that a
    small model can learn the procedure. ``skip_reasoning`` is the share of ``solution`` targets (for
    cold-start SFT) that close the thinking at once and state the answer without working it out, as an
    uneven distilled cold start would. A small model imitating such data answers directly part of the
    time and is then mostly wrong: a mistake the outcome reward sees and RL can remove by learning to
    think first.

    ``direct_accuracy`` is the share of those direct answers that are right; the others miss by a few
    units, as the short answers of a model that did not work them out do. Below 1 it bounds, by
    construction, what answering directly can earn, so that thinking first is what the outcome reward
    favours whatever the float kernels of the machine make of the direct path (a model that learns the
    sums by heart still copies the misses).
    """
    for name, share in (("skip_reasoning", skip_reasoning), ("direct_accuracy", direct_accuracy)):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"synthetic arithmetic: {name} must be within [0, 1], got {share}")
    for op in ops:
        if op not in "+-":
            raise ValueError(f"synthetic arithmetic: op {op!r} not supported; use '+' and/or '-'")
    rng = random.Random(seed)
    skip_rng = random.Random(seed + 1)  # separate stream: the problems do not depend on skip_reasoning
    miss_rng = random.Random(seed + 5)  # nor on direct_accuracy (seeds + 2..4 are the instruction tasks')
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
        skip = skip_rng.random() < skip_reasoning
        stated = value if not skip or miss_rng.random() < direct_accuracy else _near_miss(value, miss_rng)
        reasoning = "" if skip else _reasoning(a, b, op)
        rows.append(
            {
                "problem": f"What is {a}{op}{b}?",
                "answer": str(value),
                "solution": f"{reasoning}</think>\n\\boxed{{{stated}}}",
            }
        )
    return rows


def _near_miss(value: int, rng: random.Random) -> int:
    """A wrong answer close to ``value`` (1 to 9 away, never negative unless ``value`` is)."""
    while True:
        guess = value + rng.choice((-1, 1)) * rng.randint(1, 9)
        if guess != value and (guess >= 0 or value < 0):
            return guess


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


# --- instruction following -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Instruction:
    """A verifiable instruction: the sentence added to the question, its IFEval id and kwargs, and how
    an answer that follows it looks."""

    text: str
    instruction_id: str
    kwargs: dict[str, Any]
    follow: Callable[[str], str]


INSTRUCTIONS: dict[str, _Instruction] = {
    "quote": _Instruction("Wrap your answer in double quotes.", "startend:quotation", {}, lambda a: f'"{a}"'),
    "title": _Instruction("Give it a title like <<sum>>.", "detectable_format:title", {}, lambda a: f"<<sum>>\n{a}"),
    "end": _Instruction("End with the word Done.", "startend:end_checker", {"end_phrase": "Done."},
                        lambda a: f"{a} Done."),
    "highlight": _Instruction("Highlight the answer with *stars*.", "detectable_format:number_highlighted_sections",
                              {"num_highlights": 1}, lambda a: f"*{a}*"),
}
"""Instructions of the ``instructions`` and ``preferences`` tasks, by kind. Every one keeps the
``\\boxed{}`` answer intact, so the math verifier still reads it."""


def _kinds(kinds: str) -> list[str]:
    return parse_kinds(kinds, INSTRUCTIONS, "synthetic")


def instructions(
    size: int = 2000,
    seed: int = 0,
    share: float = 1.0,
    follow_rate: float = 1.0,
    kinds: str = "quote,title,end,highlight",
    augment: bool = False,
    holdout: int = 0,
    **arithmetic_params: Any,
) -> list[Row]:
    """The ``arithmetic`` problems (same seed, same problems in the same order) with a verifiable
    instruction put before a ``share`` of them, in IFEval's format: ``instruction_id_list`` and
    ``kwargs`` columns (empty lists on rows without an instruction).

    ``follow_rate`` is the share of ``solution`` targets (for cold-start SFT) that follow their row's
    instruction; the rest ignore it, as an uneven cold start would. With ``augment``, every plain row is
    kept as it is and the instruction rows are added as copies in front of them, made only from rows
    before the last ``holdout`` ones (which stay held out, unchanged). Other parameters are those of
    :func:`arithmetic`.
    """
    for name, value in (("share", share), ("follow_rate", follow_rate)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"synthetic instructions: {name} must be within [0, 1], got {value}")
    if not 0 <= holdout <= size:
        raise ValueError(f"synthetic instructions: holdout must be within [0, size], got {holdout}")
    names = _kinds(kinds)
    plain = arithmetic(size=size, seed=seed, **arithmetic_params)
    for row in plain:
        row["instruction_id_list"], row["kwargs"] = [], []
    if augment:
        rows = [dict(row) for row in plain[: size - holdout]]
    else:
        rows = plain
    pick, follow = random.Random(seed + 2), random.Random(seed + 3)
    tagged = []
    for row in rows:
        if pick.random() >= share:
            continue
        tagged.append(row)
        inst = INSTRUCTIONS[pick.choice(names)]
        # The instruction goes first: the question then sits as close to the answer as in plain rows.
        row["problem"] = f"{inst.text} {row['problem']}"
        row["instruction_id_list"], row["kwargs"] = [inst.instruction_id], [dict(inst.kwargs)]
        if follow.random() < follow_rate:
            reasoning, answer = row["solution"].split("</think>\n")
            row["solution"] = f"{reasoning}</think>\n{inst.follow(answer)}"
    return tagged + plain if augment else rows


def preferences(size: int = 1000, seed: int = 0, kinds: str = "quote,title,end,highlight", **arithmetic_params: Any) -> list[Row]:
    """Preference pairs for training a tiny reward model: ``problem`` (a question with an instruction),
    ``chosen`` (an answer that follows it) and ``rejected`` (the same answer ignoring it, or following
    another instruction instead). Answers only: reward models score the text after ``</think>``."""
    names = _kinds(kinds)
    rows = arithmetic(size=size, seed=seed, **arithmetic_params)
    rng = random.Random(seed + 4)
    pairs: list[Row] = []
    for row in rows:
        kind = rng.choice(names)
        inst = INSTRUCTIONS[kind]
        answer = f"\\boxed{{{row['answer']}}}"
        others = [k for k in names if k != kind]
        rejected = INSTRUCTIONS[rng.choice(others)].follow(answer) if others and rng.random() < 0.3 else answer
        pairs.append({"problem": f"{inst.text} {row['problem']}", "chosen": inst.follow(answer), "rejected": rejected})
    return pairs

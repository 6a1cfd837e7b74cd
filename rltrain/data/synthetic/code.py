"""A generated code task for the smoke pipeline: tiny stdin/stdout programs judged in the sandbox.

Each row asks for a Python program that reads two integers and prints one result (their sum,
difference, product or maximum), and gives an example input of two digits. ``tests`` holds stdin/stdout
cases (JSON) for the ``code_pass_rate`` reward; ``solution`` is a cold-start target: the example worked out
in one formula (``4-8=-4``), ``</think>``, then the program in a fenced block. The reasoning has the form
of the arithmetic task's: it starts by copying a number of the question and works one small sum out,
like the column steps of an addition. (Targets that skip the reasoning taught the model to skip it on
math too, and a fixed formula such as ``a-b`` also cost cold-start math accuracy: the model then
copied the question's first digit less often when it reasoned.)
A ``mistake_rate`` share of the targets hold the program of another kind, as a noisy distilled cold
start would: a small model copies the confusion, and the sandbox's verdicts let RL remove it.

:func:`with_programs` mixes such rows into another task's training rows (``data.synthetic.code_share``)
at seeded random positions, so one dataset trains math and code together as stage one does; the
held-out rows (``data.eval_size``, the last ones) are left as they are.
"""

from __future__ import annotations

import json
import random
from typing import Any

Row = dict[str, Any]

#: kind → (what the prompt asks, the reasoning on the example ``a b``, the program, the function it
#: computes). Targets are short: the smoke pipeline's completions are 64 byte-level tokens.
PROGRAMS: dict[str, tuple[str, str, str, Any]] = {
    "sum": ("prints their sum", "{a}+{b}={v}", "print(sum(map(int,input().split())))", lambda a, b: a + b),
    "difference": ("prints the first minus the second", "{a}-{b}={v}", "print(eval(input().replace(' ','-')))",
                   lambda a, b: a - b),
    "product": ("prints their product", "{a}*{b}={v}", "print(eval(input().replace(' ','*')))", lambda a, b: a * b),
    "maximum": ("prints the larger one", "{a},{b}->{v}", "print(max(map(int,input().split())))", max),
}


def parse_kinds(kinds: str, known: dict[str, Any], task: str) -> list[str]:
    """Names from a comma-separated ``kinds`` parameter, each one of ``known`` (error names ``task``)."""
    names = [k.strip() for k in kinds.split(",") if k.strip()]
    unknown = [k for k in names if k not in known]
    if unknown or not names:
        raise ValueError(f"{task}: kinds {unknown or kinds!r} unknown; choose from {sorted(known)}")
    return names


def programs(size: int = 200, seed: int = 0, kinds: str = "sum,difference,product,maximum", tests: int = 3,
             mistake_rate: float = 0.0) -> list[Row]:
    """``size`` program-writing problems with ``tests`` hidden stdin/stdout cases each; a ``mistake_rate``
    share of the targets hold another kind's program."""
    if not 0.0 <= mistake_rate <= 1.0:
        raise ValueError(f"synthetic programs: mistake_rate must be within [0, 1], got {mistake_rate}")
    if tests < 1:
        raise ValueError(f"synthetic programs: tests must be at least 1, got {tests}")
    names = parse_kinds(kinds, PROGRAMS, "synthetic programs")
    rng, mistakes, examples = random.Random(seed + 5), random.Random(seed + 6), random.Random(seed + 8)
    rows: list[Row] = []
    for _ in range(size):
        kind = rng.choice(names)
        ask, _, _, fn = PROGRAMS[kind]
        cases = []
        for _ in range(tests):
            a, b = rng.randint(-50, 99), rng.randint(-50, 99)
            cases.append({"input": f"{a} {b}\n", "output": f"{fn(a, b)}\n"})
        x, y = examples.randint(1, 9), examples.randint(1, 9)
        written = kind
        if mistakes.random() < mistake_rate and len(names) > 1:
            written = mistakes.choice([k for k in names if k != kind])
        _, reasoning, program, computes = PROGRAMS[written]
        rows.append({
            "problem": f"Write a Python program that reads two integers and {ask}. Example: {x} {y}",
            "solution": f"{reasoning.format(a=x, b=y, v=computes(x, y))}</think>\n```py\n{program}\n```",
            "tests": json.dumps(cases),
        })
    return rows


def with_programs(rows: list[Row], *, share: float, seed: int, held_out: int = 0, **program_params: Any) -> list[Row]:
    """``rows`` with program rows mixed in among all but the last ``held_out`` rows.

    Program rows make up ``share`` of the training part. The last ``held_out`` rows (the evaluation
    split) stay exactly as they were, so stages with and without code hold out the same problems.
    Every row gets every column (``None`` or empty where a column is the other task's), so that a
    dataset can be built from the mixture.
    """
    if not 0.0 <= share < 1.0:
        raise ValueError(f"synthetic: code_share must be within [0, 1), got {share}")
    if share == 0.0:
        return rows
    if not 0 <= held_out <= len(rows):
        raise ValueError(f"synthetic: {held_out} held-out rows but only {len(rows)} rows")
    train, kept = rows[: len(rows) - held_out], rows[len(rows) - held_out :]
    n_code = round(len(train) * share / (1.0 - share))
    code = programs(size=n_code, seed=seed, **program_params)
    columns = {key for row in rows + code for key in row}
    empty: dict[str, list[Any] | None] = {key: [] if key in ("instruction_id_list", "kwargs") else None for key in columns}
    slots = [True] * n_code + [False] * len(train)
    random.Random(seed + 7).shuffle(slots)
    code_iter, train_iter = iter(code), iter(train)
    mixed = [next(code_iter if is_code else train_iter) for is_code in slots]
    return [{**empty, **row} for row in mixed + kept]

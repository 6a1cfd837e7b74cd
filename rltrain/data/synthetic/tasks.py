"""The registry of generated tasks (``data.source: synthetic:<task>``), for the CPU smoke pipeline: nothing
is downloaded.

* ``arithmetic``: additions for the math stages (:mod:`rltrain.data.synthetic.math`);
* ``instructions``: the same additions with a verifiable instruction (IFEval format) for stage two;
* ``preferences``: chosen/rejected answer pairs for training the tiny reward model;
* ``programs``: tiny stdin/stdout programs judged in the sandbox (:mod:`rltrain.data.synthetic.code`); any
  task mixes them in with ``code_share`` (stage one trains math and code together);
* ``tool_multiplication``: products to compute with the python tool, with tool-call traces for the
  agentic cold start (:mod:`rltrain.data.synthetic.tools`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rltrain.data.synthetic.code import programs, with_programs
from rltrain.data.synthetic.math import Row, arithmetic, instructions, preferences
from rltrain.data.synthetic.tools import tool_multiplication

TASKS: dict[str, Callable[..., list[Row]]] = {
    "arithmetic": arithmetic,
    "programs": programs,
    "instructions": instructions,
    "preferences": preferences,
    "tool_multiplication": tool_multiplication,
}
"""Synthetic tasks by name, used as ``data.source: synthetic:<name>``."""


def generate(task: str, params: dict[str, Any], *, held_out: int = 0) -> list[Row]:
    """Rows of ``task``; ``code_share`` (and ``code: {...}`` program parameters) mixes code rows into
    all but the last ``held_out`` rows."""
    if task not in TASKS:
        raise ValueError(f"unknown synthetic task {task!r}; known: {sorted(TASKS)}")
    params = dict(params)
    code_share, code_params = params.pop("code_share", 0.0), params.pop("code", {}) or {}
    try:
        rows = TASKS[task](**params)
        return with_programs(rows, share=float(code_share), seed=params.get("seed", 0), held_out=held_out, **code_params)
    except TypeError as exc:
        raise ValueError(f"synthetic:{task}: bad parameter in data.synthetic ({exc})") from None

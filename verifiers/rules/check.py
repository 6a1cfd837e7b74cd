"""Checking a response against a list of instructions, in IFEval's strict or loose mode.

* **strict**: the response as given must be non-empty and follow the instruction;
* **loose**: the instruction counts as followed if any of eight relaxed versions of the response
  follows it: the response, without its first line, without its last line, without both, and each of
  these with every ``*`` removed (markdown emphasis). Empty versions never count.

The thinking part of a reasoning model's completion is removed first (:func:`strip_thinking`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from verifiers.errors import VerifierError
from verifiers.rules.instructions import INSTRUCTIONS, prepare_kwargs

__all__ = ["check", "check_strict_and_loose", "loose_variants", "strip_thinking"]

OPEN, CLOSE = "<think>", "</think>"


def strip_thinking(text: str) -> str:
    """The answer part of a completion: the text after the last ``</think>``.

    Text with an opening ``<think>`` that is never closed is all reasoning: the answer is ``""``.
    Text without any think tag is returned unchanged.
    """
    if CLOSE in text:
        return text.rsplit(CLOSE, 1)[1]
    if OPEN in text:
        return ""
    return text


def loose_variants(response: str) -> list[str]:
    """The eight versions of ``response`` that loose mode accepts (IFEval's order)."""
    lines = response.split("\n")
    without_first = "\n".join(lines[1:]).strip()
    without_last = "\n".join(lines[:-1]).strip()
    without_both = "\n".join(lines[1:-1]).strip()
    variants = [response, without_first, without_last, without_both]
    return [variants[0], variants[0].replace("*", ""), *variants[1:], *(v.replace("*", "") for v in variants[1:])]


def check(
    response: str,
    instruction_id_list: Sequence[str],
    kwargs_list: Sequence[Mapping[str, Any] | None] | None = None,
    *,
    strict: bool = True,
    thinking: bool = True,
) -> list[bool]:
    """One verdict per instruction: is it followed by ``response``?

    Args:
        response: the completion text.
        instruction_id_list: IFEval instruction ids, e.g. ``["punctuation:no_comma"]``.
        kwargs_list: one kwargs mapping per instruction, exactly as in IFEval's input data; ``None`` (or a
            missing list) means no kwargs, and ``None`` values inside a mapping are ignored.
        strict: IFEval's strict mode; ``False`` for loose mode.
        thinking: remove the ``<think>...</think>`` part first (see :func:`strip_thinking`).

    Raises:
        VerifierError: unknown instruction id, bad kwargs, or lists of different lengths.
    """
    if not isinstance(response, str):
        raise VerifierError(f"response must be a string, got {type(response).__name__}")
    if isinstance(instruction_id_list, str):
        raise VerifierError("instruction_id_list must be a list of ids, got a single string; wrap it in a list")
    ids = list(instruction_id_list)
    kwargs_all = list(kwargs_list) if kwargs_list is not None else [None] * len(ids)
    if len(kwargs_all) != len(ids):
        raise VerifierError(
            f"kwargs has {len(kwargs_all)} entries for {len(ids)} instruction ids; give one mapping (or null) per id"
        )
    prepared = [prepare_kwargs(i, dict(k) if k is not None else None) for i, k in zip(ids, kwargs_all, strict=False)]
    text = strip_thinking(response) if thinking else response
    candidates = [text] if strict else loose_variants(text)
    verdicts = []
    for instruction_id, kwargs in zip(ids, prepared, strict=False):
        rule = INSTRUCTIONS[instruction_id].check
        verdicts.append(any(c.strip() and rule(c, kwargs) for c in candidates))
    return verdicts


def check_strict_and_loose(
    response: str,
    instruction_id_list: Sequence[str],
    kwargs_list: Sequence[Mapping[str, Any] | None] | None = None,
    *,
    thinking: bool = True,
) -> tuple[list[bool], list[bool]]:
    """Both of IFEval's verdict lists for one response, strict then loose (see :func:`check`). A
    module-level function, so that a worker pool can run it under a time limit."""
    strict = check(response, instruction_id_list, kwargs_list, strict=True, thinking=thinking)
    loose = check(response, instruction_id_list, kwargs_list, strict=False, thinking=thinking)
    return strict, loose

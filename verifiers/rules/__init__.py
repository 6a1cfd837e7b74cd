"""Rule verifiers for instruction following: IFEval's 25 instruction types, plus format, length and
repetition rewards.

``check(response, instruction_id_list, kwargs_list, *, strict=True) -> list[bool]`` gives one verdict
per instruction, kwargs exactly as in IFEval's input data. Importing the package registers the rewards
``ifeval``, ``answer_format``, ``length_limit`` and ``repetition_penalty`` (:mod:`verifiers.rules.rewards`).
"""

from verifiers.rules import rewards  # noqa: F401 - importing registers the rule rewards
from verifiers.rules.check import check, check_strict_and_loose, loose_variants, strip_thinking
from verifiers.rules.instructions import (
    INSTRUCTIONS,
    LANGUAGES,
    Instruction,
    prepare_kwargs,
)
from verifiers.rules.text import (
    count_sentences,
    count_words,
    split_sentences,
    word_tokens,
)

INSTRUCTION_IDS: tuple[str, ...] = tuple(sorted(INSTRUCTIONS))
"""Every supported instruction id."""

__all__ = [
    "INSTRUCTIONS",
    "INSTRUCTION_IDS",
    "LANGUAGES",
    "Instruction",
    "check",
    "check_strict_and_loose",
    "count_sentences",
    "count_words",
    "loose_variants",
    "prepare_kwargs",
    "split_sentences",
    "strip_thinking",
    "word_tokens",
]

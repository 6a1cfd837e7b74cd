"""GPQA Diamond: 198 graduate-level multiple-choice questions, fetched from the hub at run time.

The data is never shipped: its authors ask that the questions not be published in plain text, to keep
them out of training corpora. :meth:`GpqaDiamond.load` reads ``gpqa_diamond.csv`` of the gated hub
dataset ``Idavidrein/gpqa`` from ``<cache>/gpqa_diamond/``, downloading it there once (accept the
dataset's terms and set ``HF_TOKEN``); offline, the error names the file to place there.

Each question's four choices are shuffled with a seed drawn from its ``Record ID`` (SHA-256, so the
order is the same on every machine and run) and lettered A-D. The prompt, QwQ's multiple-choice
format::

    {question}

    A) {choice}
    B) {choice}
    C) {choice}
    D) {choice}

    Please show your choice in the `answer` field with only the choice letter, e.g., `"answer": "C"`.

The scorer reads the answer part of a completion (after the last ``</think>``; an unfinished
``<think>`` has none): the last ``"answer"`` field of a JSON object there (code fences, surrounding text
and single quotes tolerated; ``"C"``, ``"(C)"`` and ``"C) text"`` all read as C), else the letter of the
last ``\\boxed{}``. Results are also reported per high-level domain (physics, chemistry, biology).
Eight samples per question by default: 198 questions with four choices need several samples for an
average whose standard error is near two points.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
from collections.abc import Sequence
from pathlib import Path

from rltrain.errors import RecipeError
from rltrain.evaluation.benchmarks.base import Benchmark, BenchmarkItem, DataCache, Verdict
from rltrain.evaluation.benchmarks.sources import fetch_hub_file

__all__ = ["CHOICE_INSTRUCTION", "GPQA_FILE", "GPQA_REPO", "GpqaDiamond", "extract_choice", "format_question"]

logger = logging.getLogger(__name__)

GPQA_REPO = "Idavidrein/gpqa"
GPQA_FILE = "gpqa_diamond.csv"
CHOICE_INSTRUCTION = 'Please show your choice in the `answer` field with only the choice letter, e.g., `"answer": "C"`.'
"""QwQ's instruction for multiple-choice questions, after the lettered choices."""
LETTERS = "ABCD"
_COLUMNS = ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3", "Record ID")
#: Characters at the end of the answer part searched for an answer (a hostile completion can be long).
MAX_ANSWER_CHARS = 20_000

_FIELD = re.compile(r"""["']answer["']\s*:\s*(?:["']([^"'\n]{1,80})["']|([A-Za-z])\b)""", re.IGNORECASE)
_LETTER_VALUE = re.compile(r"\s*\(?\s*([A-Za-z])\s*\)?\s*(?:$|[\s.:)\-,])")
_BOXED = re.compile(r"\\boxed\s*\{\s*(?:\\text(?:bf)?\s*\{)?\s*\(?\s*([A-Za-z])\s*\)?\s*\}")


def choice_order(record_id: str, count: int = 4) -> list[int]:
    """The shuffled order of a question's choices (index 0 is the correct one): a permutation fixed by
    the record id alone, identical on every machine."""
    return sorted(range(count), key=lambda i: hashlib.sha256(f"gpqa\0{record_id}\0{i}".encode()).digest())


def format_question(question: str, choices: Sequence[str]) -> str:
    """The prompt: the question, the lettered choices, then :data:`CHOICE_INSTRUCTION`."""
    lines = [f"{letter}) {choice.strip()}" for letter, choice in zip(LETTERS, choices, strict=True)]
    return f"{question.strip()}\n\n" + "\n".join(lines) + f"\n\n{CHOICE_INSTRUCTION}"


def _answer_part(text: str) -> str | None:
    if "</think>" in text:
        return text.rsplit("</think>", 1)[1]
    return None if "<think>" in text else text


def _letter(value: str, letters: str) -> str | None:
    match = _LETTER_VALUE.match(value)
    letter = match.group(1).upper() if match else None
    return letter if letter is not None and letter in letters else None


def extract_choice(text: str, letters: str = LETTERS) -> str | None:
    """The chosen letter of a completion, or ``None`` (see the module docstring for the rules)."""
    answer = _answer_part(text)
    if answer is None:
        return None
    tail = answer[-MAX_ANSWER_CHARS:]
    fields = list(_FIELD.finditer(tail))
    if fields:
        last = fields[-1]
        letter = _letter(last.group(1), letters) if last.group(1) is not None else _letter(last.group(2), letters)
        if letter is not None:
            return letter
    boxed = list(_BOXED.finditer(tail))
    if boxed:
        return _letter(boxed[-1].group(1), letters)
    return None


def _read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise RecipeError(
                f"{path} is not GPQA's {GPQA_FILE}: it lacks the column(s) {', '.join(missing)}. "
                f"Replace it with {GPQA_FILE} of the hub dataset {GPQA_REPO}"
            )
        return list(reader)


class GpqaDiamond(Benchmark):
    name = "gpqa_diamond"
    description = "GPQA Diamond, 198 questions (hub: Idavidrein/gpqa, gated, not shipped); JSON answer letter; n=8"
    default_n = 8
    has_answers = True
    group_by = "domain"

    def load(self, cache: DataCache) -> list[BenchmarkItem]:
        path = fetch_hub_file(GPQA_REPO, GPQA_FILE, cache.path(self.name, GPQA_FILE), gated=True)
        items = []
        for row in _read_rows(path):
            record = row["Record ID"].strip()
            options = [row["Correct Answer"], row["Incorrect Answer 1"], row["Incorrect Answer 2"], row["Incorrect Answer 3"]]
            order = choice_order(record)
            shuffled = [options[i] for i in order]
            items.append(BenchmarkItem(
                id=record,
                messages=({"role": "user", "content": format_question(row["Question"], shuffled)},),
                reference=LETTERS[order.index(0)],
                meta={"domain": (row.get("High-level domain") or "unknown").strip()},
            ))
        if len({item.id for item in items}) != len(items):
            raise RecipeError(f"{path}: the 'Record ID' column repeats ids; the file is not GPQA's {GPQA_FILE}")
        return items

    def score(self, items: Sequence[BenchmarkItem], completions: Sequence[str]) -> list[Verdict]:
        return [self._score_one(item, completion) for item, completion in zip(items, completions, strict=True)]

    def _score_one(self, item: BenchmarkItem, completion: str) -> Verdict:
        try:
            letter = extract_choice(completion if isinstance(completion, str) else str(completion))
        except Exception as exc:  # noqa: BLE001 - no completion may fail the batch
            logger.warning("gpqa_diamond: could not read a completion of %s: %s", item.id, exc)
            return Verdict(correct=False, reason="error")
        if letter is None:
            return Verdict(correct=False, reason="no_answer")
        correct = letter == item.reference
        return Verdict(correct=correct, reason="correct" if correct else "wrong_answer", answer=letter)

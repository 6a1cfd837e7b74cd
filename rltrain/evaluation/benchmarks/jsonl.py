"""A benchmark from any JSONL file: a prompt column and reference columns, scored by recipe rewards.

What held-out evaluation does with a recipe's data, as a benchmark: ``rltrain eval MODEL --benchmarks
data/test.jsonl`` (named ``test``) or ``--benchmarks mine=data/test.jsonl``.

* **Prompt**: the ``prompt`` column (else ``problem``, else ``question``): a string, used as the user
  message as it is (write the instruction you want into it, e.g. QwQ's "Please reason step by step, and
  put your final answer within \\boxed{}."), or a list of chat messages.
* **Id**: the ``id`` column when there is one (unique), else the line's position among the rows (0, 1, ...).
* **References**: every other column, handed to the rewards as TRL hands dataset columns (``answer``,
  ``tests``, ``instruction_id_list`` + ``kwargs`` ...).
* **Scorers**: rewards of :mod:`verifiers.registry` by name, each with its default parameters and guarded
  as in training (:func:`rltrain.rewards.build.build_reward`: a deadline, errors masked). The first is the
  headline: a completion is correct when its score is at least ``threshold`` (default 1.0: the reward's
  full marks; a reward that could not judge, ``None``, is wrong with reason ``unjudged``). Every reward's
  mean is reported as an extra metric ``reward/<name>``. Without ``rewards``, the columns choose:
  ``answer`` -> ``math_accuracy``, ``tests`` -> ``code_all_pass``, ``instruction_id_list`` -> ``ifeval``
  (prompt-level: all instructions followed).
* With ``math_accuracy`` as headline the extracted, normalized final answer is kept, so maj@n is reported.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rltrain.errors import RecipeError
from rltrain.evaluation.benchmarks.base import Benchmark, BenchmarkItem, DataCache, Verdict
from rltrain.evaluation.benchmarks.sources import numbered_json_objects

__all__ = ["DEFAULT_REWARDS", "PROMPT_COLUMNS", "JsonlBenchmark"]

PROMPT_COLUMNS = ("prompt", "problem", "question")
"""Where the prompt is looked for, in this order."""

DEFAULT_REWARDS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("answer", "math_accuracy", {}),
    ("tests", "code_all_pass", {}),
    ("instruction_id_list", "ifeval", {"mode": "all"}),
)
"""(column, reward, params): the reward chosen when the file has that column and no rewards are named."""


class JsonlBenchmark(Benchmark):
    """Items from a JSONL file, scored by rewards from the verifiers registry."""

    default_n = 1

    def __init__(self, path: str | Path, *, name: str | None = None, rewards: Sequence[str] | None = None,
                 threshold: float = 1.0) -> None:
        self.path = Path(path)
        self.name = name or self.path.stem
        self.description = f"JSONL file {self.path}"
        self.threshold = threshold
        self._reward_names = list(rewards) if rewards else None
        self._rewards: list[Any] | None = None
        self.has_answers = False

    def load(self, cache: DataCache) -> list[BenchmarkItem]:
        rows = _read_rows(self.path)
        if not rows:
            raise RecipeError(f"{self.path}: no rows")
        first_line, first = rows[0]
        column = next((c for c in PROMPT_COLUMNS if c in first), None)
        if column is None:
            raise RecipeError(f"{self.path}: line {first_line} has none of the prompt columns {list(PROMPT_COLUMNS)} "
                              f"(columns: {sorted(first)})")
        items, seen = [], set()
        for position, (line, row) in enumerate(rows):
            item = _item(row, column, position, f"{self.path}: line {line}")
            if item.id in seen:
                raise RecipeError(f"{self.path}: line {line}: id {item.id!r} repeats an earlier row's")
            seen.add(item.id)
            items.append(item)
        self._choose_rewards(first)
        return items

    def _choose_rewards(self, row: Mapping[str, Any]) -> None:
        from rltrain.recipe.schema import RewardConfig
        from rltrain.rewards.build import build_reward

        if self._reward_names:
            configs = [RewardConfig(name=n) for n in self._reward_names]
        else:
            configs = [RewardConfig(name=reward, params=params) for column, reward, params in DEFAULT_REWARDS if column in row]
            if not configs:
                raise RecipeError(f"{self.path}: no column tells how to score it ({', '.join(c for c, _, _ in DEFAULT_REWARDS)}); "
                                  "name the rewards with --rewards (see `rltrain rewards`)")
            configs = configs[:1]
        self._rewards = [build_reward(cfg, i) for i, cfg in enumerate(configs)]
        self.has_answers = configs[0].name == "math_accuracy"

    @property
    def reward_names(self) -> list[str]:
        return [r.__name__ for r in self._rewards or []]

    def score(self, items: Sequence[BenchmarkItem], completions: Sequence[str]) -> list[Verdict]:
        if self._rewards is None:
            raise RuntimeError("JsonlBenchmark.score before load")
        if not items:
            return []
        prompts = [list(item.messages) for item in items]
        wrapped = [[{"role": "assistant", "content": text}] for text in completions]
        names = sorted({key for item in items for key in item.reference})
        columns = {name: [item.reference.get(name) for item in items] for name in names}
        scores = {reward.__name__: _call(reward, prompts, wrapped, columns) for reward in self._rewards}
        headline = scores[self._rewards[0].__name__]
        answers = _answers(completions) if self.has_answers else [None] * len(items)
        verdicts = []
        for i, score in enumerate(headline):
            reason = "unjudged" if score is None else "correct" if score >= self.threshold else "wrong_answer"
            verdicts.append(Verdict(reason == "correct", reason, answers[i], {n: s[i] for n, s in scores.items()}))
        return verdicts

    def extra_metrics(self, items: Sequence[BenchmarkItem], verdicts: Sequence[Verdict]) -> dict[str, float]:
        """The mean of every reward over the completions it judged (truncated ones are not scored)."""
        out = {}
        for name in self.reward_names:
            judged = [float(v.details[name]) for v in verdicts if v.details.get(name) is not None]
            if judged:
                out[f"reward/{name}"] = sum(judged) / len(judged)
        return out


def _call(reward: Any, prompts: list[Any], completions: list[Any], columns: dict[str, list[Any]]) -> list[float | None]:
    """A guarded reward's scores, awaited when it is async (as TRL and held-out evaluation call them)."""
    from rltrain.rewards.guard import awaited_scores

    return asyncio.run(awaited_scores(reward(prompts, completions, **columns)))


def _answers(completions: Sequence[str]) -> list[str | None]:
    from verifiers.math import extract_final_answer, normalize_answer

    answers: list[str | None] = []
    for text in completions:
        answer = extract_final_answer(text)
        answers.append(None if answer is None else normalize_answer(answer))
    return answers


def _read_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """The rows of a JSONL file with their 1-based line numbers (blank lines skipped)."""
    return list(numbered_json_objects(path))


def _item(row: dict[str, Any], column: str, position: int, where: str) -> BenchmarkItem:
    prompt = row.get(column)
    if isinstance(prompt, str):
        messages: tuple[dict[str, str], ...] = ({"role": "user", "content": prompt},)
    elif isinstance(prompt, list) and prompt and all(isinstance(m, dict) and "role" in m and "content" in m for m in prompt):
        messages = tuple({"role": str(m["role"]), "content": str(m["content"])} for m in prompt)
    else:
        raise RecipeError(f"{where}: {column!r} must be a string or a list of role/content messages")
    item_id = str(row["id"]) if row.get("id") is not None else str(position)
    reference = {k: v for k, v in row.items() if k not in (column, "id")}
    return BenchmarkItem(id=item_id, messages=messages, reference=reference)

"""Rows → prompts: rename columns, build chat prompts, hold out eval rows.

Output rows keep every source column (rewards receive them as keyword arguments, e.g. ``answer``)
and add ``prompt`` — a list of chat messages (system, then user) — and, for SFT, ``completion``
(the assistant message to imitate; a column holding a list of messages, such as a tool-use trace of
assistant tool calls and tool results, is kept as is), for reward-model training ``chosen``/``rejected``
(assistant messages). With tools, SFT rows also get ``tools`` (their JSON schemas, as JSON text), so
the chat template renders the same tool list as in the GRPO prompts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rltrain.data.sources import FILE_BUILDERS, first_bad_line, load_rows
from rltrain.errors import RecipeError
from rltrain.recipe.schema import DataConfig, Recipe


@dataclass
class Splits:
    """A recipe's rows after :func:`prepare`: what trains, and the held-out rows evaluations use."""

    train: Any  # datasets.Dataset
    eval: Any | None


def user_message(cfg: DataConfig, row: dict[str, Any]) -> str:
    try:
        return cfg.prompt_template.format(**{**row, "prompt": row[cfg.prompt_column], "instruction": cfg.instruction})
    except KeyError as exc:
        raise RecipeError(
            f"data.prompt_template: field {exc} is neither {{prompt}}, {{instruction}} nor a dataset column "
            f"(columns: {sorted(row)})"
        ) from None


def to_prompt(cfg: DataConfig, row: dict[str, Any]) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": cfg.system_prompt}] if cfg.system_prompt else []
    return messages + [{"role": "user", "content": user_message(cfg, row)}]


def _completion_messages(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, list):
        return value
    return [{"role": "assistant", "content": value}]


def _completion_column(cfg: DataConfig) -> str:
    """``data.completion_column``, which the recipe checks require of an SFT stage."""
    if cfg.completion_column is None:
        raise RecipeError("data.completion_column: an SFT stage needs the column of target responses")
    return cfg.completion_column


def prepare(recipe: Recipe, dataset, tool_schemas: list[dict[str, Any]] | None = None) -> Splits:
    """Rename, check columns, build prompts (and SFT completions), split off the eval rows."""
    cfg = recipe.data
    if cfg.columns:
        missing = sorted(set(cfg.columns) - set(dataset.column_names))
        if missing:
            raise RecipeError(f"data.columns: {missing} not in the dataset (columns: {dataset.column_names})")
        dataset = dataset.rename_columns(cfg.columns)
    required = {cfg.prompt_column: "data.prompt_column"}
    if recipe.stage == "sft":
        required[_completion_column(cfg)] = "data.completion_column"
    if recipe.stage == "reward":
        required.update({cfg.chosen_column: "data.chosen_column", cfg.rejected_column: "data.rejected_column"})
    for column, field in required.items():
        if column not in dataset.column_names:
            raise RecipeError(f"{field}: column {column!r} not in the dataset (columns: {dataset.column_names})")
    if len(dataset) == 0:
        split = f" (split {cfg.split!r})" if cfg.subset or cfg.split != "train" else ""
        raise RecipeError(f"data.source: {cfg.source} has no rows{split}")
    if cfg.eval_size >= len(dataset):
        raise RecipeError(f"data.eval_size: {cfg.eval_size} leaves no training rows (dataset has {len(dataset)})")

    def build(row: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"prompt": to_prompt(cfg, row)}
        if recipe.stage == "sft":
            out["completion"] = _completion_messages(row[_completion_column(cfg)])
            if tool_schemas:
                out["tools"] = tools_json
        if recipe.stage == "reward":  # TRL's conversational preference format
            out["chosen"] = [{"role": "assistant", "content": row[cfg.chosen_column]}]
            out["rejected"] = [{"role": "assistant", "content": row[cfg.rejected_column]}]
        return out

    tools_json = json.dumps(tool_schemas) if tool_schemas else None
    reserved = [c for c in ("prompt", "completion", "chosen", "rejected", "tools") if c in dataset.column_names]
    dataset = dataset.map(build, remove_columns=reserved, desc="Building prompts")
    n_train = len(dataset) - cfg.eval_size
    train = dataset.select(range(n_train))
    if cfg.max_samples is not None:
        train = train.select(range(min(cfg.max_samples, n_train)))
    evaluation = dataset.select(range(n_train, len(dataset))) if cfg.eval_size else None
    return Splits(train=train, eval=evaluation)


def load_splits(recipe: Recipe, tool_schemas: list[dict[str, Any]] | None = None) -> Splits:
    """The recipe's training (and held-out) rows as chat prompts; data errors are RecipeErrors."""
    dataset = load_rows(recipe)
    try:
        return prepare(recipe, dataset, tool_schemas)
    except UnicodeDecodeError as exc:  # Arrow keeps invalid UTF-8 of a JSON file until a row is read
        source = recipe.data.source
        where = first_bad_line(recipe.resolve_input(source)) if Path(source).suffix.lower() in FILE_BUILDERS else None
        raise RecipeError(f"data.source: {where or f'{source}: not UTF-8 text ({exc.reason})'}") from None

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
import os
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


def sft_chat_template(tokenizer: Any, assistant_only_loss: bool) -> str | None:
    """The template TRL's ``SFTTrainer`` renders SFT rows with, when it is not the tokenizer's own.

    With ``assistant_only_loss`` and a template without ``{% generation %}`` marks, TRL swaps in its training
    variant of the templates it knows (DeepSeek-R1-Distill's keeps the reasoning the original drops); ``None``
    otherwise, and for a template TRL cannot patch (its trainer then refuses it itself).
    """
    if not assistant_only_loss:
        return None
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if has_generation_markers(tokenizer.chat_template or ""):
        return None
    try:
        return get_training_chat_template(tokenizer)
    except ValueError:
        return None


def fit_completions_to_template(dataset: Any, tokenizer: Any, *, assistant_only_loss: bool = False) -> Any:
    """SFT rows whose prompt + completion renders as the generation prompt followed by the completion.

    TRL trains on the rendering of prompt + completion, with loss on what follows the rendering of the
    prompt with its generation prompt, and cuts the prompt where the two diverge. Templates of reasoning
    models end the generation prompt with ``<think>\\n`` (QwQ, the R1 distills) but render an assistant
    message as written, so a target in the shape the model generates after that prompt
    (``reasoning</think>answer``) would train on a context without the ``<think>\\n`` the model always sees
    at inference. Such rows get what the generation prompt prefills put in front of their first assistant
    message; rows that already render as the generation prompt followed by the completion (the built-in
    tiny template, Qwen3's, Qwen2.5's) are kept as they are.

    Raises:
        RecipeError: the template renders the trained turn so that it does not follow the generation prompt
            even then (DeepSeek-R1-Distill's drops everything up to ``</think>`` of the turn; QwQ's drops the
            reasoning of an assistant turn that calls a tool before a later one).
    """
    template = sft_chat_template(tokenizer, assistant_only_loss)

    def render(messages: list[dict[str, Any]], tools: Any, generation_prompt: bool) -> str:
        return tokenizer.apply_chat_template(messages, tools=tools, chat_template=template, tokenize=False,
                                             add_generation_prompt=generation_prompt)

    def fit(row: dict[str, Any]) -> dict[str, Any]:
        prompt, completion = row["prompt"], row["completion"]
        tools = json.loads(row["tools"]) if isinstance(row.get("tools"), str) else row.get("tools")
        generation_prompt = render(prompt, tools, True)
        rendered = render(prompt + completion, tools, False)
        if rendered.startswith(generation_prompt):
            return {"completion": completion}
        shared = len(os.path.commonprefix([generation_prompt, rendered]))
        prefill = generation_prompt[shared:]
        first = completion[0] if completion else {}
        content = first.get("content")
        if first.get("role") == "assistant" and isinstance(content, str) and not content.startswith(prefill):
            fitted = [{**first, "content": prefill + content}, *completion[1:]]
            if render(prompt + fitted, tools, False).startswith(generation_prompt):
                return {"completion": fitted}
        excerpt = rendered[max(shared - 40, 0) : shared + 60]
        raise RecipeError(
            f"data.completion_column: the chat template renders the trained assistant turn as {excerpt!r}, not "
            f"after its generation prompt (ending {generation_prompt[-40:]!r}): the model would train on text or a "
            "context it never sees at inference. DeepSeek-R1-Distill's template drops the reasoning before "
            "</think> (sft.assistant_only_loss: true trains with TRL's variant of it, which keeps it); QwQ's drops "
            "it from an assistant turn followed by others"
        )

    return dataset.map(fit, desc="Fitting completions to the chat template")


def load_splits(recipe: Recipe, tool_schemas: list[dict[str, Any]] | None = None) -> Splits:
    """The recipe's training (and held-out) rows as chat prompts; data errors are RecipeErrors."""
    dataset = load_rows(recipe)
    try:
        return prepare(recipe, dataset, tool_schemas)
    except UnicodeDecodeError as exc:  # Arrow keeps invalid UTF-8 of a JSON file until a row is read
        source = recipe.data.source
        where = first_bad_line(recipe.resolve_input(source)) if Path(source).suffix.lower() in FILE_BUILDERS else None
        raise RecipeError(f"data.source: {where or f'{source}: not UTF-8 text ({exc.reason})'}") from None

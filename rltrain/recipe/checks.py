"""Recipe checks beyond the schema: TRL's numeric rules, ``output_dir``, and inputs that must exist.

Each runs when a recipe is read, so that a typo in a path or an option out of range is one error naming
the field before any model loads (the rules are listed in docs/recipes.md#validation).
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from rltrain.errors import RecipeError
from rltrain.recipe.schema import STAGE_OPTIONS, TINY_MODEL, Recipe


@dataclass(frozen=True)
class ValidationContext:
    """What validating a recipe may assume about the run around it.

    A recipe is validated before anything runs, sometimes before all of its inputs exist: a pipeline
    stage that starts from the previous stage's ``final/`` weights is checked before stage one trains.
    Rather than putting a stand-in model into the recipe, the validation is told which input is still
    to come, and skips exactly the check that would look for it.
    """

    num_machines: int | None = None
    """Nodes training together, when known (TRL's generation-batch rule counts every node's ranks)."""
    pending_model: str | None = None
    """Why ``model.name_or_path`` does not exist yet (e.g. "the final weights of stage sft"); ``None``
    when the model must exist now."""


def check_recipe(recipe: Recipe, source: str, context: ValidationContext = ValidationContext()) -> None:
    """Every check beyond the schema's: TRL's numeric rules, ``output_dir``, and the inputs."""
    _check_trl_numbers(recipe, source, context.num_machines)
    _check_output_dir(recipe, source)
    _check_inputs_exist(recipe, source, context)
    _check_adapters(recipe, source, context)


def _check_adapters(recipe: Recipe, source: str, context: ValidationContext) -> None:
    """``model.adapter`` is an adapter directory, and the modules ``peft`` names are the model's own
    (checked on the model built without weights; a model still to be written is not looked at)."""
    from rltrain.models.adapters import adapter_dir_problem, peft_problems

    if recipe.model.adapter is not None and context.pending_model is None:
        problem = adapter_dir_problem(recipe.resolve_input(recipe.model.adapter))
        if problem:
            raise RecipeError(f"{source}: model.adapter: {problem}")
    if recipe.peft is None or context.pending_model is not None:
        return
    problems = peft_problems(recipe)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise RecipeError("\n".join([f"{source}: invalid recipe ({count})", *(f"  - {p}" for p in problems)]))


def _check_trl_numbers(recipe: Recipe, source: str, num_machines: int | None) -> None:
    """The stage's TRL options within their ranges, and (GRPO, node count known) whole prompt groups in a
    generation batch; see :mod:`rltrain.recipe.trl_rules`."""
    from rltrain.recipe.trl_rules import generation_batch_problem, option_problems

    mapping = STAGE_OPTIONS[recipe.stage]
    problems = option_problems(recipe.trl_options(), mapping)
    if not problems and recipe.stage == "grpo" and num_machines is not None:
        batch = generation_batch_problem(recipe.trl_options(), recipe.distributed.num_processes * num_machines)
        problems += [batch] if batch else []
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise RecipeError("\n".join([f"{source}: invalid recipe ({count})", *(f"  - {p}" for p in problems)]))


_KERNEL_FILESYSTEMS = (Path("/proc"), Path("/sys"))
"""Where nothing can be written however the permissions look (root included)."""


def _check_output_dir(recipe: Recipe, source: str) -> None:
    """``output_dir`` can be created (or is a directory) on ordinary storage: found now rather than when
    the first checkpoint or summary is written."""
    path = Path(recipe.output_dir).expanduser().resolve()
    for kernel in _KERNEL_FILESYSTEMS:
        if path == kernel or kernel in path.parents:
            raise RecipeError(
                f"{source}: output_dir: {path} is under {kernel}, a kernel filesystem; use a directory on disk"
            )
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        below = "" if existing == path else f", so {path} cannot be created"
        raise RecipeError(f"{source}: output_dir: {existing} is a file, not a directory{below}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RecipeError(f"{source}: output_dir: {existing} is not writable")


_FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")
"""Local data files rltrain reads (with the datasets builder of the same format)."""
_OTHER_FILE_SUFFIXES = (
    ".txt", ".tsv", ".ndjson", ".arrow", ".gz", ".zip", ".xz", ".bz2", ".zst", ".yaml", ".yml", ".xlsx",
)
"""File types that are not hub dataset names either: a source ending in one is a (missing or unreadable) file."""


def looks_like_local_path(source: str) -> bool:
    """Whether ``data.source`` names a local file or directory rather than a hub dataset.

    Hub ids are ``name`` or ``owner/name`` (names may hold dots: ``AI-MO/NuminaMath-1.5``); a path is
    explicit (``/``, ``./``, ``../``, ``~``), deeper than ``owner/name``, or ends in a file type, a
    readable one or close to one (``data.jsonll``), so a typo is reported as a missing file instead of
    being looked up on the hub.
    """
    if source.startswith("synthetic:"):
        return False
    if source.startswith(("/", "./", "../", "~")) or source in (".", "..") or source.count("/") >= 2:
        return True
    suffix = Path(source).suffix.lower()
    known = [*_FILE_SUFFIXES, *_OTHER_FILE_SUFFIXES]
    if suffix in known:
        return True
    return bool(re.fullmatch(r"\.[a-z]+", suffix) and difflib.get_close_matches(suffix, known, cutoff=0.75))


def _check_data_source(recipe: Recipe, source: str) -> None:
    """A local data source exists and is of a type rltrain reads; a synthetic task is known."""
    src = recipe.data.source
    if src.startswith("synthetic:"):
        from rltrain.data.synthetic import TASKS

        task = src.removeprefix("synthetic:")
        if task not in TASKS:
            raise RecipeError(f"{source}: data.source: unknown synthetic task {task!r}; known: {sorted(TASKS)}")
        return
    path = recipe.resolve_input(src)
    if not looks_like_local_path(src) and not path.exists():
        return  # a hub dataset
    if not path.exists():
        try:
            siblings = [p.name for p in path.parent.iterdir()]
        except OSError:  # no such directory either, or not readable
            siblings = []
        close = difflib.get_close_matches(path.name, siblings, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise RecipeError(f"{source}: data.source: file not found: {path}{hint}")
    if path.suffix.lower() in _FILE_SUFFIXES and not path.is_file():
        raise RecipeError(f"{source}: data.source: {path} is a directory, not a {path.suffix} file")
    if path.is_file() and path.suffix.lower() not in _FILE_SUFFIXES:
        raise RecipeError(
            f"{source}: data.source: {path}: cannot read files of type {path.suffix or '(none)'!r}; "
            f"use {', '.join(_FILE_SUFFIXES)}"
        )


def _check_inputs_exist(recipe: Recipe, source: str, context: ValidationContext) -> None:
    """Catch missing local files now rather than after minutes of start-up (a model still to be written
    by an earlier step, ``context.pending_model``, is not looked for)."""
    _check_data_source(recipe, source)
    name = recipe.model.name_or_path
    looks_local = name.startswith((".", "/", "~")) or (recipe.base_dir / name).exists()
    pending = context.pending_model is not None
    if name != TINY_MODEL and not pending and looks_local and not recipe.resolve_input(name).exists():
        raise RecipeError(f"{source}: model.name_or_path: directory not found: {recipe.resolve_input(name)}")
    if recipe.stage == "grpo" and not recipe.rewards:
        raise RecipeError(f"{source}: rewards: a GRPO stage needs at least one reward (e.g. - name: math_accuracy)")
    if recipe.eval and recipe.eval.retention and not recipe.resolve_input(recipe.eval.retention.recipe).is_file():
        raise RecipeError(f"{source}: eval.retention.recipe: file not found: {recipe.resolve_input(recipe.eval.retention.recipe)}")
    if recipe.eval and recipe.eval.benchmarks:
        from rltrain.evaluation.recipe_benchmarks import benchmark_specs

        try:
            benchmark_specs(recipe)
        except RecipeError as exc:
            raise RecipeError(f"{source}: {exc}") from None
    if recipe.stage == "sft" and not recipe.data.completion_column:
        raise RecipeError(f"{source}: data.completion_column: an SFT stage needs the column of target responses")
    if recipe.tools:  # building a tool imports it and reads its schema (and checks the sandbox for python)
        from rltrain.tools import build_toolset

        try:
            build_toolset(recipe.tools)
        except RecipeError as exc:
            raise RecipeError(f"{source}: {exc}") from None
    if recipe.rewards:
        import verifiers

        known = verifiers.available_rewards()
        for i, reward in enumerate(recipe.rewards):
            if reward.name not in known:
                raise RecipeError(f"{source}: rewards.{i}.name: unknown reward {reward.name!r}; known: {known}")
            try:  # factories are cheap (no model, no worker): building checks the params now
                verifiers.build_reward(reward.name, reward.params)
            except verifiers.VerifierError as exc:
                raise RecipeError(f"{source}: rewards.{i} ({reward.name}).params: {exc}") from None

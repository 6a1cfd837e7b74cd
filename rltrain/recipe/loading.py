"""Reading a recipe: YAML file, ``--set`` overrides, environment references, then validation.

The schema (:mod:`rltrain.recipe.schema`) checks each field on its own; :mod:`rltrain.recipe.checks` then
checks what needs several fields, TRL's rules or the filesystem. Every failure is one
:class:`~rltrain.errors.RecipeError` naming the file and the dotted field path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from rltrain.errors import RecipeError
from rltrain.recipe.checks import ValidationContext, check_recipe
from rltrain.recipe.env import expand_env
from rltrain.recipe.schema import Recipe


def parse_overrides(pairs: list[str]) -> list[tuple[list[str], Any]]:
    """Parse ``key.path=value`` strings; values are YAML (``3``, ``true``, ``[a, b]``, ``null``)."""
    parsed = []
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise RecipeError(f"--set {pair!r}: expected KEY.PATH=VALUE, e.g. --set grpo.learning_rate=1e-5")
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as exc:
            raise RecipeError(f"--set {pair!r}: value is not valid YAML ({exc})") from None
        parsed.append((key.strip().split("."), value))
    return parsed


def apply_overrides(raw: dict[str, Any], overrides: list[tuple[list[str], Any]]) -> dict[str, Any]:
    """Set each dotted path in a nested dict/list structure, creating mappings as needed."""
    for path, value in overrides:
        node: Any = raw
        for i, part in enumerate(path[:-1]):
            where = ".".join(path[: i + 1])
            if isinstance(node, list):
                node = node[_list_index(node, part, where)]
            else:
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
            if not isinstance(node, (dict, list)):
                raise RecipeError(f"--set {'.'.join(path)}: '{where}' is a value, not a mapping")
        last = path[-1]
        if isinstance(node, list):
            node[_list_index(node, last, ".".join(path))] = value
        else:
            node[last] = value
    return raw


def _list_index(node: list, part: str, where: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise RecipeError(f"--set {where}: expected a list index below {len(node)}, got {part!r}")
    return int(part)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a recipe or pipeline file, with ``${NAME}`` references expanded (see :func:`expand_env`)."""
    return expand_env(read_yaml_unexpanded(path), source=str(path))


def read_yaml_unexpanded(path: Path) -> dict[str, Any]:
    """Read a recipe or pipeline file as written (``${NAME}`` references left in place)."""
    if not path.is_file():
        raise RecipeError(f"{path}: no such file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: not valid YAML:\n{exc}") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: expected a mapping of recipe fields at the top level")
    return raw


def format_validation_error(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: invalid recipe ({exc.error_count()} problem{'s' if exc.error_count() > 1 else ''})"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (remove it or check the spelling; see docs/recipes.md)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        got = f" (got {err['input']!r})" if err["type"] not in ("missing", "extra_forbidden") else ""
        lines.append(f"  - {loc}: {msg}{got if len(got) < 120 else ''}")
    return "\n".join(lines)


def recipe_from_dict(
    raw: dict[str, Any], *, source: str = "<recipe>", base_dir: Path = Path("."), num_machines: int | None = None,
    pending_model: str | None = None,
) -> Recipe:
    """Validate a recipe given as plain data; raises RecipeError naming the field at fault.

    ``num_machines`` is the node count of the run about to train (``rltrain train --num-machines``):
    TRL's generation-batch rule counts every node's processes, so it is checked only when the count
    is known (``None``: the recipe is read for something else, e.g. evaluation or a SLURM plan).
    ``pending_model`` says that ``model.name_or_path`` names weights an earlier step will write (e.g.
    "the final weights of stage sft"): the recipe keeps its real model path and only that path's
    existence is not checked (see :class:`rltrain.recipe.checks.ValidationContext`).
    """
    try:
        recipe = Recipe.model_validate({**raw, "base_dir": base_dir})
    except ValidationError as exc:
        raise RecipeError(format_validation_error(source, exc)) from None
    check_recipe(recipe, source, ValidationContext(num_machines=num_machines, pending_model=pending_model))
    return recipe


def load_recipe(path: str | Path, overrides: list[str] | None = None, *, num_machines: int | None = None) -> Recipe:
    """Read, override and validate a recipe; raises RecipeError naming the field at fault (see
    :func:`recipe_from_dict` for ``num_machines``)."""
    path = Path(path)
    raw = apply_overrides(read_yaml(path), parse_overrides(overrides or []))
    return recipe_from_dict(raw, source=str(path), base_dir=path.resolve().parent, num_machines=num_machines)

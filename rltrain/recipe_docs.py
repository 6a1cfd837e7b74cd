"""Render the recipe reference (docs/recipes.md) from the schema, so the docs cannot drift from the code.

Run ``python -m rltrain.recipe_docs > docs/recipes.md``; a test fails when the file is stale.
"""

from __future__ import annotations

from typing import Literal, get_args, get_origin

from pydantic import BaseModel

from rltrain.config import Recipe

HEADER = """# Recipe reference

Generated from `rltrain/config.py` by `python -m rltrain.recipe_docs`; do not edit by hand.
A recipe is one YAML mapping; unknown keys are errors. Input paths are relative to the recipe file,
`output_dir` to the working directory. Any field can be overridden on the command line with
`--set dotted.path=value` (the value is parsed as YAML).

The `grpo` and `sft` mappings take the options of TRL's `GRPOConfig` and `SFTConfig`, checked against
TRL's own field names and types. rltrain's defaults on top of TRL's: `logging_steps`, `save_steps`,
`save_total_limit`, `activation_checkpointing: false`; `bf16` on GPUs that support it, fp32 on CPU.
`output_dir`, `seed`, `report_to`, `reward_weights` and `resume_from_checkpoint` are set from the recipe
and the CLI, not in these mappings.
"""


def _type_name(annotation) -> str:
    if get_origin(annotation) is Literal:
        return " \\| ".join(repr(v) for v in get_args(annotation))
    if get_origin(annotation) is not None or get_args(annotation):
        text = str(annotation)
    else:
        text = getattr(annotation, "__name__", str(annotation))
    return text.replace("typing.", "").replace("NoneType", "None").replace("rltrain.config.", "").replace("|", "\\|")


def _section(title: str, model: type[BaseModel]) -> list[str]:
    lines = [f"## `{title}`", "", "| field | type | default | meaning |", "|---|---|---|---|"]
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        annotation = field.annotation
        inner = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        for arg in getattr(annotation, "__args__", ()):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                inner = arg
        if inner is not None:
            nested.append((f"{title}.{name}" if title != "recipe" else name, inner))
        default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
        if inner is not None and not field.is_required():
            default = "see below" if field.default is not None else "None"
        description = (field.description or "").replace("|", "\\|")
        type_name = _type_name(annotation)
        lines.append(f"| `{name}` | `{type_name}` | `{default}` | {description} |".replace("`see below`", "see below"))
    lines.append("")
    for sub_title, sub_model in nested:
        lines += _section(sub_title, sub_model)
    return lines


def render() -> str:
    return HEADER + "\n" + "\n".join(_section("recipe", Recipe))


if __name__ == "__main__":
    print(render(), end="")

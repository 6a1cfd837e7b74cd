"""Render the recipe reference (docs/recipes.md) from the schema, so the docs cannot drift from the code.

Run ``python -m rltrain.recipe.docs > docs/recipes.md``; a test fails when the file is stale.
"""

from __future__ import annotations

from typing import Literal, get_args, get_origin

from pydantic import BaseModel

from rltrain.recipe.schema import Recipe

HEADER = """# Recipe reference

Generated from `rltrain/recipe/schema.py` by `python -m rltrain.recipe.docs`; do not edit by hand.
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
    return text.replace("typing.", "").replace("NoneType", "None").replace("rltrain.recipe.schema.", "").replace("|", "\\|")


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


VALIDATION = """## Validation

`rltrain train` and `rltrain pipeline` check a recipe before any model loads. A problem ends the command
with exit status 2 and a short message naming the field (`grpo.learning_rate`; list items by index, as
with `--set`: `rewards.1.weight`) or, for data, the file and line. What is checked:

- **Schema**: unknown or missing fields, wrong types, the ranges in the tables above; `rewards[].weight`
  and `gate_threshold` must be finite numbers.
- **TRL options** of the stage (`grpo`, `sft` or `rm`, with rltrain's defaults): an option of TRL's class,
  of its type, within the range below (`rltrain.recipe.trl_rules.BOUNDS`); NaN is refused for every option.
- **Generation batch** (GRPO, TRL's rule): the generation batch is `per_device_train_batch_size` x
  processes x `steps_per_generation` (default: `gradient_accumulation_steps`), with processes =
  `distributed.num_processes` x `--num-machines`; or `generation_batch_size`, a multiple of
  `per_device_train_batch_size` x processes (not together with `steps_per_generation`). It must be a
  multiple of `num_generations`, so every prompt's group of completions is whole; the message names the
  value to set. Checked by `train` and `pipeline`, which know the node count (not by `eval`,
  `rollout` or `slurm-plan`).
- **`output_dir`**: a directory, or one that can be created: not a file, not below a file, not under
  `/proc` or `/sys`, writable.
- **`data.source`**: a `synthetic:<task>` must be known. A source that looks like a path (starts with
  `/`, `./`, `../` or `~`, has more than one `/`, or ends in a file type, also a misspelt one such as
  `.jsonll`) must exist and be `.jsonl`, `.json`, `.parquet` or `.csv`; anything else is a hub dataset.
- **Data**, when the stage reads it, before any tokenizer or model (a multi-process stage reads it
  before launching its ranks): a file or split with no rows; the first line of a file that is not UTF-8
  or, in JSON lines, not one JSON object (`train.jsonl:7: not valid JSON: Expecting ',' delimiter
  (column 31)`); a file `datasets` cannot read (its reason); missing columns; `data.eval_size` leaving
  no training rows.
- **Inputs**: a local `model.name_or_path` must exist; rewards must be registered and their `params`
  accepted; tools must import; `eval.retention.recipe` must exist; `eval.benchmarks` must name known
  benchmarks (the message lists them) or existing JSONL files, each once, and not in a reward-model stage.
- **Adapters** (`peft`): every module in `peft.target_modules` and `peft.modules_to_save` must name a
  module of the model, built without weights from its config (the message lists the model's own names:
  `q_proj`, `down_proj`, ...); a target must be a layer LoRA adapts (Linear, Embedding, Conv), not a
  block (`mlp`). Not checked for a model still to be written by an earlier stage, nor a hub model whose
  config is not in the local cache. `model.adapter` must be a directory with `adapter_config.json`.
  `grpo.sync_ref_model` is refused with `peft` (the reference is the base with the adapters disabled).

| option | allowed |
|---|---|
"""


def _bounds_rows() -> list[str]:
    from rltrain.recipe.trl_rules import BOUNDS

    rows = []
    for name, bound in BOUNDS.items():
        low = f"> {bound.minimum:g}" if bound.exclusive else f">= {bound.minimum:g}"
        allowed = low + (f", <= {bound.maximum:g}" if bound.maximum is not None else "")
        allowed += "" if bound.finite else ", or inf"
        rows.append(f"| `{name}` | {allowed}{f' ({bound.why})' if bound.why else ''} |")
    return rows


def render() -> str:
    return HEADER + "\n" + "\n".join(_section("recipe", Recipe)) + "\n" + VALIDATION + "\n".join(_bounds_rows()) + "\n"


if __name__ == "__main__":
    print(render(), end="")

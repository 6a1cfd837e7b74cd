"""``rltrain train|pipeline RECIPE --dry-run``: a recipe end to end for two steps on CPU, before a cluster
job is queued.

The recipe is rewritten into a miniature of itself and run by the ordinary stage runner, in this process:

* the model becomes a tiny random model of the same architecture family (:mod:`rltrain.models.stand_in`),
  with the model's own tokenizer when this machine holds it, else the tiny tokenizer carrying its real
  chat template; a reward model (``reward_model`` rewards, reward stages) likewise;
* the data becomes the first rows of the real data (a local file or dataset directory, a hub dataset from
  the local cache, or streamed when online), else rows synthesized from the columns the recipe declares
  (prompt, template fields, the columns the rewards read, SFT and preference columns), said with a WARNING
  naming the file or dataset and why it could not be read; ``eval.retention``'s recipe becomes a miniature
  the same way and is evaluated before and after;
* vLLM is replaced by in-process generation, sandbox and reward-model servers by their in-process
  equivalents, sizes are cut (two steps, two generations, short lengths, one or two eval prompts);
* step one is trained and checkpointed, then the run resumes from that checkpoint to step two.

A failure names the recipe field at fault: the column a reward reads that the data lacks
(``rewards.0.params.answer_column``), a reward param TRL would reject, or a chat template that gives a model
no ``<think>`` when the rewards score its reasoning (:func:`thinking_problem`). The report is one screen:
PASS/FAIL per stage and what was exercised.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import io
import json
import logging
import os
import re
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rltrain.errors import RecipeError
from rltrain.recipe.env import expand_env
from rltrain.run.layout import RunLayout

logger = logging.getLogger(__name__)

DRY_RUN_ROWS = 6
"""Rows of data a dry run trains and evaluates on (2 held out)."""
DRY_RUN_EVAL_ROWS = 2
DRY_RUN_STEPS = 2
DRY_RUN_COMPLETION_TOKENS = 24
DRY_RUN_PROMPT_TOKENS = 384

THINKING_REWARDS = ("think_format", "answer_format")
"""Rewards that score the reasoning block: a policy whose template never opens ``<think>`` scores 0 on them."""

_SERVER_PARAMS = ("server_url", "url")


@dataclass
class StageReport:
    """What a dry run of one stage did: PASS/FAIL, what was exercised, and the error naming the field."""

    name: str
    recipe: str
    passed: bool = False
    exercised: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    output_dir: str | None = None

    def note(self, what: str) -> None:
        self.exercised.append(what)

    def warn(self, what: str) -> None:
        logger.warning("dry run: %s", what)
        self.warnings.append(what)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class DryRunReport:
    """Every stage's report; passed when every stage passed."""

    target: str
    output_dir: str
    stages: list[StageReport] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.stages) and all(s.passed for s in self.stages)

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "output_dir": self.output_dir, "passed": self.passed,
                "stages": [s.as_dict() for s in self.stages]}


# --------------------------------------------------------------------------- reading recipes


def _read_tolerant(path: Path, report: StageReport | None = None) -> dict[str, Any]:
    """A recipe or pipeline file with ``${NAME}`` expanded; a variable unset without a default reads as empty
    (its servers are replaced in a dry run), with a warning naming it."""
    if not path.is_file():
        raise RecipeError(f"{path}: no such file")
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: expected a mapping of recipe fields at the top level")
    unset = sorted({m.group(1) for m in re.finditer(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", path.read_text())} - set(os.environ))
    for name in unset:
        if report is not None:
            report.warn(f"environment variable {name} is not set: read as empty (its server is replaced in a dry run)")
    return expand_env(raw, source=str(path), environ={**os.environ, **{name: "" for name in unset}})


# --------------------------------------------------------------------------- columns and synthetic rows


def reward_columns(rewards: list[dict[str, Any]]) -> dict[str, str]:
    """Dataset columns the rewards read, column -> the field that names it (``rewards.0.params.answer_column``):
    every ``*_column`` parameter of a reward's factory, as the recipe sets it or by its default."""
    import verifiers

    columns: dict[str, str] = {}
    for i, reward in enumerate(rewards):
        try:
            factory = verifiers.get_reward(str(reward.get("name"))).build
        except verifiers.VerifierError:
            continue  # an unknown reward is reported by the recipe check, naming rewards.i.name
        params = reward.get("params") or {}
        for pname, parameter in inspect.signature(factory).parameters.items():
            if not pname.endswith("_column"):
                continue
            value = params.get(pname, parameter.default)
            if isinstance(value, str) and value:
                columns.setdefault(value, f"rewards.{i}.params.{pname}")
    return columns


def _template_fields(template: str) -> list[str]:
    """Fields of ``data.prompt_template`` other than ``{prompt}`` and ``{instruction}``."""
    import string

    names = [f for _, f, _, _ in string.Formatter().parse(template) if f]
    return [n for n in dict.fromkeys(names) if n not in ("prompt", "instruction")]


_SYNTHETIC_VALUES: dict[str, Any] = {
    "answer": "4",
    "tests": json.dumps([{"input": "", "output": "4\n"}]),
    "instruction_id_list": ["punctuation:no_comma"],
    "kwargs": json.dumps([{}]),
    "format_instruction": "Put the final answer in \\boxed{}.",
}


def _synthetic_value(column: str, row: int) -> Any:
    """A plausible value for a column the recipe declares (the rewards' own formats where known)."""
    if column in _SYNTHETIC_VALUES:
        return _SYNTHETIC_VALUES[column]
    if column.endswith("tests"):
        return _SYNTHETIC_VALUES["tests"]
    return f"{column} of row {row}"


def synthetic_rows(data: dict[str, Any], stage: str, rewards: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows holding every column the recipe declares, by their names in the source (before ``data.columns``
    renames them), and the columns written."""
    renamed_from = {target: source for source, target in (data.get("columns") or {}).items()}
    wanted = [data.get("prompt_column", "problem"), *_template_fields(data.get("prompt_template", "{prompt}\n{instruction}"))]
    wanted += list(reward_columns(rewards))
    if stage == "sft" and data.get("completion_column"):
        wanted.append(data["completion_column"])
    if stage == "reward":
        wanted += [data.get("chosen_column", "chosen"), data.get("rejected_column", "rejected")]
    columns = [renamed_from.get(c, c) for c in dict.fromkeys(wanted)]
    columns += [c for c in renamed_from.values() if c not in columns]
    prompt_column = renamed_from.get(data.get("prompt_column", "problem"), data.get("prompt_column", "problem"))
    rows = []
    for i in range(DRY_RUN_ROWS):
        row = {c: _synthetic_value(c, i) for c in columns}
        row[prompt_column] = f"What is {i} + {4 - i}?"
        rows.append(row)
    return rows, columns


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows))


HUB_ROWS_TIMEOUT_S = 60.0
"""How long a dry run waits for the first rows of a hub dataset before it synthesizes rows instead."""


def _first_rows(dataset: Any, n: int) -> list[dict[str, Any]]:
    """The first ``n`` rows of a ``Dataset`` or an ``IterableDataset`` (streamed: only those are read)."""
    import itertools

    return [dict(row) for row in itertools.islice(iter(dataset), n)]


def hub_rows(source: str, subset: str | None, split: str, n: int = DRY_RUN_ROWS,
             timeout_s: float | None = None) -> tuple[list[dict[str, Any]] | None, str]:
    """The first ``n`` rows of a hub dataset (or a dataset directory), and where they came from; ``None`` and
    the reason when they cannot be had. Offline (``HF_HUB_OFFLINE``/``HF_DATASETS_OFFLINE``) only the local
    cache is read; online the rows are streamed, so nothing but them is downloaded, within ``timeout_s``
    (default :data:`HUB_ROWS_TIMEOUT_S`)."""
    import threading

    import datasets

    offline = bool(datasets.config.HF_HUB_OFFLINE) or Path(source).is_dir()
    outcome: dict[str, Any] = {}

    def load() -> None:
        try:
            with contextlib.redirect_stderr(io.StringIO()), _quiet_logger("huggingface_hub"):
                # a streamed split takes no slice ("train[:90%]"): its first rows are the split's first rows
                dataset = datasets.load_dataset(source, subset, split=split if offline else split.split("[")[0],
                                                streaming=not offline)
                outcome["rows"] = _first_rows(dataset, n)
        except Exception as exc:  # noqa: BLE001 - any failure means: synthesize instead, saying why
            outcome["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")

    worker = threading.Thread(target=load, name="dry-run-hub-rows", daemon=True)  # a stuck request is left behind
    worker.start()
    timeout_s = HUB_ROWS_TIMEOUT_S if timeout_s is None else timeout_s
    worker.join(timeout_s)
    if worker.is_alive():
        return None, f"no rows within {timeout_s:g} s"
    if "error" in outcome:
        return None, outcome["error"]
    if not outcome["rows"]:
        return None, f"split {split!r} has no rows"
    return outcome["rows"], "the local cache" if offline else "streamed from the hub"


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    """The hub client's retry chatter hidden while a dry run tries for rows; the outcome is reported instead."""
    quiet = logging.getLogger(name)
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        yield
    finally:
        quiet.setLevel(level)


def dry_run_data(raw: dict[str, Any], base_dir: Path, work: Path, report: StageReport) -> None:
    """Point ``data.source`` at a few rows: the first rows of the real file or dataset (a hub dataset from the
    local cache, or streamed when online), else synthesized ones."""
    data = raw.setdefault("data", {})
    source = str(data.get("source", ""))
    target = work / "data.jsonl"
    local = Path(source).expanduser()
    local = local if local.is_absolute() else base_dir / local
    is_file_path = bool(local.suffix) or source.startswith((".", "/", "~"))
    if source.startswith("synthetic:"):
        report.note(f"data: {source} (generated, {DRY_RUN_ROWS} rows)")
        data["synthetic"] = {**(data.get("synthetic") or {}), "size": DRY_RUN_ROWS}
        _cut_data_options(data, raw)
        return
    if local.is_file():
        from rltrain.data.sources import load_file

        dataset = load_file(local)
        rows = dataset.select(range(min(DRY_RUN_ROWS, len(dataset)))).to_list()
        report.note(f"data: first {len(rows)} rows of {local}")
    else:
        name = str(local) if local.is_dir() else source
        if local.is_dir() or not is_file_path:
            found, why = hub_rows(name, data.get("subset"), str(data.get("split") or "train"))
        else:
            found, why = None, "no such file"
        if found is not None:
            rows = found
            report.note(f"data: first {len(rows)} rows of {name!r} ({why}), columns {sorted(rows[0])}")
        else:
            rows, columns = synthetic_rows(data, str(raw.get("stage", "grpo")), list(raw.get("rewards") or []))
            where = f"the file {local}" if is_file_path else f"the dataset {source!r}"
            report.warn(f"data.source: {where} could not be read here ({why}); {len(rows)} rows SYNTHESIZED from "
                        f"the declared columns {columns}")
            report.note(f"data: {len(rows)} synthesized rows with columns {columns}")
    _write_jsonl(target, rows)
    data["source"] = str(target)
    _cut_data_options(data, raw)


def _cut_data_options(data: dict[str, Any], raw: dict[str, Any]) -> None:
    """The data section reads the few rows written, whole: no subset, sample cap or other split."""
    for key in ("subset", "max_samples"):
        data.pop(key, None)
    data["split"] = "train"
    data["eval_size"] = DRY_RUN_EVAL_ROWS if raw.get("eval") else 0


def check_reward_columns(raw: dict[str, Any], columns: list[str]) -> list[str]:
    """The reward columns the data lacks, each naming the field that asks for it."""
    renamed = dict(raw["data"].get("columns") or {})
    present = {renamed.get(c, c) for c in columns}
    return [f"{where}: column {column!r} is not in the data (columns: {sorted(present)})"
            for column, where in reward_columns(list(raw.get("rewards") or [])).items() if column not in present]


# --------------------------------------------------------------------------- templates


def generation_prompt(tokenizer: Any, tools: list[dict[str, Any]] | None = None) -> str:
    """What the template writes before the model's first token, for a one-line user turn."""
    return tokenizer.apply_chat_template([{"role": "user", "content": "What is 2 + 2?"}], tools=tools or None,
                                         tokenize=False, add_generation_prompt=True)


def thinking_problem(tokenizer: Any, rewards: list[dict[str, Any]]) -> str | None:
    """Why rewards that score reasoning would read 0 under this chat template, or ``None``.

    A thinking reward (``think_format``, ``answer_format``) needs the completion to hold a ``<think>`` block.
    The template passes when its generation prompt opens one (the ``<think>\\n`` prefill of QwQ and
    DeepSeek-R1-Distill), or when it knows ``<think>`` at all without prefilling (Qwen3: the model opens
    its reasoning itself). A template that never mentions ``<think>`` (an instruct model's) fails.
    """
    thinking = [f"rewards.{i} ({r.get('name')})" for i, r in enumerate(rewards) if r.get("name") in THINKING_REWARDS]
    if not thinking:
        return None
    prompt = generation_prompt(tokenizer)
    if prompt.endswith("<think>\n") or "<think>" in (tokenizer.chat_template or ""):
        return None
    return (f"model.name_or_path: the chat template's generation prompt ends {prompt[-40:]!r} and the template never "
            f"writes <think>, but {', '.join(thinking)} score the reasoning block: every completion would score 0; "
            "use a reasoning model (its template prefills <think>) or drop those rewards")


# --------------------------------------------------------------------------- the miniature recipe


def _cut_trl_options(options: dict[str, Any], stage: str) -> dict[str, Any]:
    """The stage's TRL options cut to two CPU steps with a tiny batch; the objective options are kept."""
    cut = {k: v for k, v in options.items() if not k.startswith("vllm_")}
    for key in ("generation_batch_size", "steps_per_generation", "num_train_epochs", "deepspeed", "fsdp", "torch_compile"):
        cut.pop(key, None)
    cut.update(max_steps=DRY_RUN_STEPS, save_steps=1, save_total_limit=2, logging_steps=1, per_device_train_batch_size=2,
               gradient_accumulation_steps=1, bf16=False, fp16=False, warmup_steps=0, dataloader_num_workers=0)
    if stage == "grpo":
        cut.update(use_vllm=False, num_generations=2, max_completion_length=DRY_RUN_COMPLETION_TOKENS)
        cut["num_iterations"] = min(int(cut.get("num_iterations", 1)), 2)
        if "max_prompt_length" in cut:
            cut["max_prompt_length"] = DRY_RUN_PROMPT_TOKENS
        if "max_tool_calling_iterations" in cut:
            cut["max_tool_calling_iterations"] = min(int(cut["max_tool_calling_iterations"]), 2)
        cut.pop("num_generations_eval", None)
    else:
        cut["max_length"] = DRY_RUN_PROMPT_TOKENS
    return cut


def _local_servers(raw: dict[str, Any], report: StageReport) -> None:
    """Sandbox and reward-model servers replaced by in-process equivalents."""
    for section in ("rewards", "tools"):
        for i, entry in enumerate(raw.get(section) or []):
            params = entry.setdefault("params", {}) if isinstance(entry, dict) else {}
            for key in _SERVER_PARAMS:
                if params.get(key):
                    report.note(f"{section}.{i}.params.{key}: {params[key]} replaced by this process")
                if key in params and section == "rewards" and entry.get("name") == "reward_model":
                    params.pop(key)
                elif key in params:
                    params[key] = ""


def _stand_in_reward_models(raw: dict[str, Any], base_dir: Path, stand_ins: Path, report: StageReport) -> None:
    """``reward_model`` rewards score with a tiny reward model of the named architecture, in this process."""
    from rltrain.models.stand_in import write_stand_in

    for i, reward in enumerate(raw.get("rewards") or []):
        if reward.get("name") != "reward_model":
            continue
        params = reward.setdefault("params", {})
        named = params.get("model_path") or params.get("model") or "Skywork/Skywork-Reward-V2-Qwen3-1.7B"
        if params.get("mode", "in_process") != "in_process":
            report.note(f"rewards.{i}: reward model served ({params['mode']}) -> scored in this process")
        stand_in = write_stand_in(str(named), stand_ins / f"{_flat(str(named))}-rm", base_dir=base_dir,
                                  sequence_classification=True)
        params.update(model_path=str(stand_in.path), mode="in_process", batch_size=4, max_length=256)
        params.pop("model", None)
        report.note(f"rewards.{i} (reward_model): stand-in for {named}: {stand_in.architecture}")


def _flat(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "__", name.strip("/")) or "model"


def _cut_eval(ev: dict[str, Any]) -> None:
    ev.update(num_prompts=DRY_RUN_EVAL_ROWS, num_samples=2, max_new_tokens=16, batch_size=2)


def _miniature_retention(recipe: str, *, base_dir: Path, work: Path, stand_ins: Path, report: StageReport) -> str:
    """``eval.retention``'s recipe made a miniature too (its data cut to a few rows, servers in-process, its
    reward model a stand-in, its evaluation cut), written beside the run; returns that file's path. The
    stage's own model replaces the other recipe's, as in a real run."""
    path = base_dir / recipe
    if not path.is_file():
        raise RecipeError(f"eval.retention.recipe: file not found: {path}")
    other_report = StageReport(name="retention", recipe=str(path))
    other = _read_tolerant(path, other_report)
    other_dir = path.resolve().parent
    other.pop("model", None)
    other_eval = other["eval"] = other.get("eval") or {}
    for key in ("retention", "benchmarks", "benchmark_n", "benchmark_limit"):
        other_eval.pop(key, None)
    _cut_eval(other_eval)
    dry_run_data(other, other_dir, work / "retention", other_report)
    _local_servers(other, other_report)
    _stand_in_reward_models(other, other_dir, stand_ins, other_report)
    for item in other_report.exercised:
        report.note(f"eval.retention ({recipe}): {item}")
    for item in other_report.warnings:
        report.warn(f"eval.retention ({recipe}): {item}")
    out = work / "retention" / path.name
    out.write_text(yaml.safe_dump(other, sort_keys=False))
    return str(out)


def miniature(raw: dict[str, Any], *, base_dir: Path, work: Path, stand_ins: Path, report: StageReport,
              model_override: str | None = None) -> tuple[dict[str, Any], Any]:
    """The dry-run copy of a recipe (plain data) and the stand-in tokenizer of its policy."""
    from transformers import AutoTokenizer

    from rltrain.models.stand_in import write_stand_in
    from rltrain.recipe.schema import STAGE_OPTIONS, TINY_MODEL

    mini = copy.deepcopy(raw)
    stage = str(mini.get("stage", "grpo"))
    model = mini.setdefault("model", {})
    named = str(model.get("name_or_path", TINY_MODEL))
    if model_override is not None:
        model["name_or_path"] = model_override
        report.note(f"model: the previous stage's final weights ({model_override})")
    elif named != TINY_MODEL:
        stand_in = write_stand_in(named, stand_ins / (_flat(named) + ("-rm" if stage == "reward" else "")), base_dir=base_dir,
                                  sequence_classification=stage == "reward", seed=int(mini.get("seed", 0)))
        model["name_or_path"] = str(stand_in.path)
        report.note(f"model: stand-in for {named}: {stand_in.describe()}")
    model["dtype"] = "float32"
    dry_run_data(mini, base_dir, work, report)
    _local_servers(mini, report)
    _stand_in_reward_models(mini, base_dir, stand_ins, report)
    key = STAGE_OPTIONS[stage]
    mini[key] = _cut_trl_options(dict(mini.get(key) or {}), stage)
    mini["distributed"] = {"mode": "single", "num_processes": 1}
    if mini.get("eval"):
        ev = mini["eval"]
        if (ev.get("retention") or {}).get("recipe"):
            ev["retention"]["recipe"] = _miniature_retention(str(ev["retention"]["recipe"]), base_dir=base_dir, work=work,
                                                             stand_ins=stand_ins, report=report)
        for dropped in ("benchmarks", "benchmark_n", "benchmark_limit"):
            if ev.pop(dropped, None):
                report.note(f"eval.{dropped}: not run in a dry run")
        _cut_eval(ev)
    mini["logging"] = {"report_to": [], "progress": False}
    mini["output_dir"] = str(work / "run")
    tokenizer = None
    path = model["name_or_path"]
    if path != TINY_MODEL:
        tokenizer = AutoTokenizer.from_pretrained(path if Path(path).is_absolute() else str(base_dir / path))
    return mini, tokenizer


# --------------------------------------------------------------------------- running


def _with_steps(recipe: Any, steps: int) -> Any:
    from rltrain.recipe.schema import STAGE_OPTIONS

    key = STAGE_OPTIONS[recipe.stage]
    return recipe.model_copy(update={key: {**getattr(recipe, key), "max_steps": steps}})


def _exercise_template(recipe: Any, tokenizer: Any, raw: dict[str, Any], report: StageReport) -> None:
    """The first training prompt as the template renders it, and the thinking check."""
    from rltrain.data.prompts import load_splits
    from rltrain.models.loading import load_tokenizer

    splits = load_splits(recipe)
    tokenizer = tokenizer or load_tokenizer(recipe)
    row = splits.train[0]
    report.note(f"data mapping: {len(splits.train)} train / {len(splits.eval) if splits.eval is not None else 0} held-out "
                f"rows, columns {sorted(splits.train.column_names)}")
    if "prompt" in row and isinstance(row["prompt"], list):
        rendered = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
        if rendered.endswith("<think>\n"):
            prefill = "<think>\\n prefill"
        elif "<think>" in (tokenizer.chat_template or ""):
            prefill = "no prefill; the template knows <think>, the model opens it"
        else:
            prefill = "no <think> in the template"
        report.note(f"template: generation prompt ends {rendered[-24:]!r} ({prefill})")
    problem = thinking_problem(tokenizer, list(raw.get("rewards") or []))
    if problem:
        raise RecipeError(problem)


def dry_run_stage(raw: dict[str, Any], *, source: str, base_dir: Path, work: Path, stand_ins: Path, name: str,
                  model_override: str | None = None) -> StageReport:
    """Dry-run one stage given as plain data (already ``${NAME}``-expanded); never raises for the recipe's
    faults: they are in the report, naming the field."""
    from rltrain.recipe.loading import recipe_from_dict
    from rltrain.run.stage import run_stage
    from rltrain.run.trainer import train_process

    report = StageReport(name=name, recipe=source, output_dir=str(work / "run"))
    started = time.monotonic()
    try:
        _check_schema(raw, source, base_dir)
        mini, tokenizer = miniature(raw, base_dir=base_dir, work=work, stand_ins=stand_ins, report=report,
                                    model_override=model_override)
        recipe = recipe_from_dict(mini, source=f"{source} (dry run)", base_dir=base_dir, num_machines=1)
        rows = [json.loads(line) for line in Path(recipe.data.source).read_text().splitlines() if line.strip()] \
            if Path(recipe.data.source).is_file() else []
        if rows:
            missing = check_reward_columns(mini, list(rows[0]))
            if missing:
                raise RecipeError(f"{source}: " + "; ".join(missing))
        _exercise_template(recipe, tokenizer, mini, report)
        train_process(_with_steps(recipe, 1), None)
        checkpoint = RunLayout.of(recipe.output_dir).checkpoint(1)
        if not checkpoint.is_dir():
            raise RecipeError(f"{source}: save_steps: no checkpoint written after step 1 ({checkpoint})")
        summary = run_stage(recipe, resume=True)
        _exercised_run(recipe, mini, summary, report)
        report.passed = True
    except RecipeError as exc:
        report.error = str(exc)
    except Exception as exc:  # every failure is reported per stage, the traceback logged
        logger.debug("dry run of %s failed", source, exc_info=True)
        report.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}"
    report.seconds = round(time.monotonic() - started, 1)
    return report


def _check_schema(raw: dict[str, Any], source: str, base_dir: Path) -> None:
    """The recipe as written against the schema: a misspelt field is reported as the real recipe's. Its
    inputs are not looked for (the dry run replaces them)."""
    from pydantic import ValidationError

    from rltrain.recipe.loading import format_validation_error
    from rltrain.recipe.schema import Recipe

    try:
        Recipe.model_validate({**copy.deepcopy(raw), "base_dir": base_dir})
    except ValidationError as exc:
        raise RecipeError(format_validation_error(source, exc)) from None


def _exercised_run(recipe: Any, mini: dict[str, Any], summary: dict[str, Any], report: StageReport) -> None:
    """What the two steps exercised, from the stage summary and the run directory; a step that did not happen
    (no resume, no final weights, no metrics) fails the stage."""
    layout = RunLayout.of(recipe.output_dir)
    if summary.get("steps") != DRY_RUN_STEPS or not summary.get("resumed_from"):
        raise RuntimeError(f"expected {DRY_RUN_STEPS} steps resumed from checkpoint-1, got steps={summary.get('steps')} "
                           f"resumed_from={summary.get('resumed_from')}")
    report.note(f"checkpoint: step 1 saved, resumed from {Path(summary['resumed_from']).name} to step {summary['steps']}")
    columns = reward_columns(list(mini.get("rewards") or []))
    for name, stats in (summary.get("rewards") or {}).items():
        reads = [c for c, where in columns.items() if where.split(".")[1] == str(_reward_index(mini, name))]
        report.note(f"reward {name}: {stats.get('calls')} calls, {stats.get('completions')} completions, "
                    f"{stats.get('masked')} masked; reads {reads or 'no column'}")
    if mini.get("tools"):
        report.note(f"tools: {[t.get('name') for t in mini['tools']]} offered in rollouts")
    for label in ("eval_before", "eval_after"):
        if summary.get(label):
            report.note(f"{label}: held-out evaluation ran")
    retention = summary.get("retention") or {}
    if mini.get("eval", {}).get("retention"):
        if not (retention.get("before") and retention.get("after")):
            raise RuntimeError(f"eval.retention: expected evaluations before and after, got {sorted(retention)}")
        report.note(f"eval.retention: {retention['recipe']} evaluated before and after "
                    f"({retention['after'].get('metric')})")
    written = [p.name for p in (layout.metrics, layout.summary, layout.final) if p.exists()]
    if layout.final.name not in written:
        raise RuntimeError(f"no final weights in {layout.final}")
    report.note(f"reports: {', '.join(written)} written")


def _reward_index(mini: dict[str, Any], name: str) -> int:
    names = [str(r.get("name")) for r in mini.get("rewards") or []]
    return names.index(name) if name in names else -1


def _work_dir(output_dir: str | None) -> Path:
    if output_dir:
        return Path(output_dir).resolve()
    return Path(tempfile.mkdtemp(prefix="rltrain-dry-run-"))


def dry_run_recipe(path: str | Path, overrides: list[str] | None = None, *, output_dir: str | None = None,
                   stand_ins: Path | None = None) -> DryRunReport:
    """Dry-run one recipe file; ``overrides`` are ``--set`` pairs (``output_dir=`` sets where it all goes).
    ``stand_ins``: where stand-in models are built, shared between calls (default: inside the output)."""
    from rltrain.recipe.loading import apply_overrides, parse_overrides

    path = Path(path)
    pairs = [p for p in overrides or [] if not p.startswith("output_dir=")]
    output_dir = output_dir or next((p.partition("=")[2] for p in overrides or [] if p.startswith("output_dir=")), None)
    work = _work_dir(output_dir)
    placeholder = StageReport(name=path.stem, recipe=str(path))
    try:
        raw = apply_overrides(_read_tolerant(path, placeholder), parse_overrides(pairs))
    except RecipeError as exc:
        placeholder.error = str(exc)
        return DryRunReport(str(path), str(work), [placeholder])
    stage = dry_run_stage(raw, source=str(path), base_dir=path.resolve().parent, work=work,
                          stand_ins=stand_ins or work / "stand_ins", name=str(raw.get("name", path.stem)))
    stage.warnings[:0] = placeholder.warnings
    report = DryRunReport(str(path), str(work), [stage])
    _write_report(report, work)
    return report


def dry_run_pipeline(path: str | Path, overrides: list[str] | None = None, *, output_dir: str | None = None,
                     stand_ins: Path | None = None) -> DryRunReport:
    """Dry-run every stage of a pipeline in order, each later stage starting from the previous one's final
    weights (as the pipeline does); a stage after a failed one is not run."""
    from rltrain.recipe.loading import apply_overrides, parse_overrides
    from rltrain.run.pipeline import Pipeline

    path = Path(path)
    pairs = [p for p in overrides or [] if not p.startswith("output_dir=")]
    output_dir = output_dir or next((p.partition("=")[2] for p in overrides or [] if p.startswith("output_dir=")), None)
    work = _work_dir(output_dir)
    report = DryRunReport(str(path), str(work))
    try:
        pipeline = Pipeline.model_validate(apply_overrides(_read_tolerant(path), parse_overrides(pairs)))
    except (RecipeError, ValueError) as exc:
        report.stages.append(StageReport(name=path.stem, recipe=str(path), error=str(exc)))
        return report
    previous: StageReport | None = None
    for i, spec in enumerate(pipeline.stages):
        recipe_path = path.resolve().parent / spec.recipe
        stage_work = work / spec.name
        if previous is not None and not previous.passed:
            report.stages.append(StageReport(name=spec.name, recipe=str(recipe_path), error="not run: an earlier stage failed"))
            continue
        holder = StageReport(name=spec.name, recipe=str(recipe_path))
        try:
            stage_pairs = [f"{k}={json.dumps(v.replace('{output_dir}', str(work)) if isinstance(v, str) else v)}"
                           for k, v in spec.set.items()]
            raw = apply_overrides(_read_tolerant(recipe_path, holder), parse_overrides(stage_pairs))
        except RecipeError as exc:
            holder.error = str(exc)
            report.stages.append(holder)
            previous = holder
            continue
        override = None
        if i > 0 and spec.from_previous and previous is not None and previous.output_dir:
            override = str(RunLayout.of(previous.output_dir).final)
        stage = dry_run_stage(raw, source=f"{recipe_path} (stage {spec.name})", base_dir=recipe_path.parent, work=stage_work,
                              stand_ins=stand_ins or work / "stand_ins", name=spec.name, model_override=override)
        stage.warnings[:0] = holder.warnings
        report.stages.append(stage)
        previous = stage
    _write_report(report, work)
    return report


def _write_report(report: DryRunReport, work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / "dry_run.json").write_text(json.dumps(report.as_dict(), indent=2, default=str))


def print_report(report: DryRunReport, console: Any) -> None:
    """One screen: PASS/FAIL per stage, what it exercised, warnings and the error naming the field."""
    from rich.markup import escape

    verdict = "[bold green]PASS[/]" if report.passed else "[bold red]FAIL[/]"
    console.print(f"\n[bold]dry run of {escape(report.target)}[/]: {verdict}  (everything under {escape(report.output_dir)})")
    for stage in report.stages:
        mark = "[green]PASS[/]" if stage.passed else "[red]FAIL[/]"
        console.print(f"  {mark} {escape(stage.name)} ({stage.seconds:.0f}s)")
        for warning in stage.warnings:
            console.print(f"      [bold yellow]WARNING[/] {escape(warning)}")
        for item in stage.exercised:
            console.print(f"      - {escape(item)}")
        if stage.error:
            console.print(f"      [red]error:[/] {escape(stage.error)}")

"""The seam between the rollout mixins and TRL's GRPOTrainer, pinned against the installed TRL in seconds.

Every private TRL method or attribute the mixins override, call or read is declared in
``rltrain.rollout.trl_seam.SEAMS``; this file checks each declaration against TRL (existence, parameters, the
behaviour relied on), finds undeclared uses in the mixins' source, and refuses mixin names that would
shadow TRL's. A failure after a TRL upgrade reads ``TRL seam broken: <Mixin> (<file>) <use>s TRL's
<member>: <what changed>`` and says where to look.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
import trl
from trl import GRPOTrainer

from rltrain.rollout import grpo, trl_seam
from rltrain.rollout.dynamic_sampling import PADDING, PER_ROW, RECOMPUTED
from rltrain.rollout.reward_schedule import score_batch
from rltrain.rollout.trl_seam import (
    GENERATE_RESULT,
    MIXINS,
    MULTIMODAL_SCORED_KEYS,
    RLTRAIN_ATTRIBUTES,
    SCORED_KEYS,
    SEAMS,
    TOOL_LOOP_RESULT,
    Seam,
)

REPO = Path(__file__).resolve().parents[1]
DECLARATION = Path(trl_seam.__file__).relative_to(REPO).as_posix()  # where SEAMS lives


# --- reading the mixins and TRL ---------------------------------------------------------------------


def load(path: str) -> object:
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


@dataclass
class MixinSource:
    """What a mixin class's source refers to: ``self.X``/``super().X`` reads and what it defines."""

    path: str
    file: str
    uses: dict[str, list[int]] = field(default_factory=dict)  # name -> line numbers in the file
    super_calls: set[str] = field(default_factory=set)
    methods: set[str] = field(default_factory=set)
    owned: set[str] = field(default_factory=set)  # defined in the class body or assigned on self

    def lines(self, name: str) -> str:
        found = self.uses.get(name) or []
        return ", ".join(f"{self.file}:{n}" for n in found[:4]) or self.file


@functools.cache
def mixin_source(path: str) -> MixinSource:
    cls = load(path)
    lines, first = inspect.getsourcelines(cls)
    node = ast.parse(textwrap.dedent("".join(lines))).body[0]
    assert isinstance(node, ast.ClassDef)
    source = MixinSource(path, str(Path(inspect.getfile(cls)).relative_to(REPO)))
    for item in node.body:
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
            source.methods.add(item.name)
            source.owned.add(item.name)
        elif isinstance(item, ast.Assign):
            source.owned.update(t.id for t in item.targets if isinstance(t, ast.Name))
        elif isinstance(item, ast.AnnAssign) and item.value is not None and isinstance(item.target, ast.Name):
            source.owned.add(item.target.id)
    for name, value in vars(cls).items():  # also what is set on the class outside its body
        source.owned.add(name)
        if callable(value):
            source.methods.add(name)
    for sub in ast.walk(node):
        if not isinstance(sub, ast.Attribute):
            continue
        target = sub.value
        is_self = isinstance(target, ast.Name) and target.id == "self"
        is_super = isinstance(target, ast.Call) and isinstance(target.func, ast.Name) and target.func.id == "super"
        if is_self and isinstance(sub.ctx, ast.Store):
            source.owned.add(sub.attr)
        elif is_self or is_super:
            source.uses.setdefault(sub.attr, []).append(first + sub.lineno - 1)
            if is_super:
                source.super_calls.add(sub.attr)
    return source


@functools.cache
def trl_attributes() -> frozenset[str]:
    """Every name TRL's trainer has: class attributes of its MRO and every ``self.X = ...`` in their source."""
    names: set[str] = set()
    for cls in GRPOTrainer.__mro__[:-1]:
        names.update(vars(cls))
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                if isinstance(node.value, ast.Name) and node.value.id == "self":
                    names.add(node.attr)
    return frozenset(names)


def trl_member(seam: Seam) -> object:
    if "." in seam.member:
        module, name = seam.member.rsplit(".", 1)
        return getattr(importlib.import_module(module), name)
    return getattr(GRPOTrainer, seam.member)


@functools.cache
def trl_function_ast(name: str) -> ast.FunctionDef:
    node = ast.parse(textwrap.dedent(inspect.getsource(getattr(GRPOTrainer, name)))).body[0]
    assert isinstance(node, ast.FunctionDef)
    return node


def broken(seam: Seam, what: str) -> str:
    uses = mixin_source(seam.mixin).lines(seam.member.rsplit(".", 1)[-1])
    return (
        f"TRL seam broken: {seam.describe()}: {what}. Look at {uses} and the declaration in {DECLARATION} "
        f"(installed TRL {trl.__version__}; relied on: {seam.relies_on or 'its existence and parameters'})"
    )


def declared(member: str, mixin: str | None = None) -> Seam:
    for seam in SEAMS:
        if seam.member == member and (mixin is None or seam.mixin == mixin):
            return seam
    raise AssertionError(f"no seam declares {member!r} in {DECLARATION}")


def expect(condition: bool, seam: Seam, what: str) -> None:
    if not condition:
        pytest.fail(broken(seam, what), pytrace=False)


# --- parameters -------------------------------------------------------------------------------------


def param_spec(fn: Callable) -> tuple[str, ...]:
    """``fn``'s parameters after ``self`` in the notation of :class:`rltrain.rollout.trl_seam.Seam`."""
    spec = []
    for p in inspect.signature(fn).parameters.values():
        if p.name == "self":
            continue
        default = "=" if p.default is not inspect.Parameter.empty else ""
        if p.kind is p.VAR_POSITIONAL:
            spec.append(f"*{p.name}")
        elif p.kind is p.VAR_KEYWORD:
            spec.append(f"**{p.name}")
        elif p.kind is p.KEYWORD_ONLY:
            spec.append(f"kw:{p.name}{default}")
        else:
            spec.append(f"{p.name}{default}")
    return tuple(spec)


def parameter_problems(seam: Seam, trl_fn: Callable) -> list[str]:
    """How ``trl_fn``'s parameters differ from what ``seam`` declares (empty: they match)."""
    if inspect.isclass(trl_fn):
        trl_fn = trl_fn.__init__
    actual = param_spec(trl_fn)
    wanted = seam.params or ()
    if seam.use == "override":
        if actual != wanted:
            return [f"its parameters changed from {wanted} to {actual}; the override must take what TRL passes"]
        return []
    if actual[: len(wanted)] != wanted:
        return [f"its parameters changed: the mixin expects them to start with {wanted}, TRL has {actual}"]
    required = [p for p in actual[len(wanted):] if not p.endswith("=") and not p.startswith("*")]
    if required:
        return [f"it gained required parameters {tuple(required)} that the mixin does not pass"]
    return []


def wrapper_forwards(seam: Seam) -> list[str]:
    """Whether the mixin's wrapper takes the declared leading parameters and passes the rest on."""
    method = getattr(load(seam.mixin), seam.member)
    params = list(inspect.signature(method).parameters.values())[1:]
    leading = tuple(p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD)
    kinds = {p.kind for p in params}
    declared_names = tuple(p.rstrip("=") for p in seam.params or ())
    problems = []
    if declared_names[: len(leading)] != leading:
        problems.append(f"the mixin's wrapper takes {leading}, not a prefix of the declared {declared_names}")
    if not {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD} <= kinds:
        problems.append(f"the mixin's wrapper {seam.member}{inspect.signature(method)} does not pass *args, **kwargs on")
    return problems


def override_accepts(seam: Seam) -> list[str]:
    """Whether the mixin's own method takes TRL's arguments, by position and by keyword."""
    method = getattr(load(seam.mixin), seam.member)
    names = [p.rstrip("=").removeprefix("kw:") for p in seam.params or () if not p.startswith("*")]
    signature = inspect.signature(method)
    problems = []
    for how, bind in (("by position", lambda: signature.bind(None, *names)),
                      ("by keyword", lambda: signature.bind(None, **{n: n for n in names}))):
        try:
            bind()
        except TypeError as exc:
            problems.append(f"the mixin's {seam.member}{signature} cannot take {tuple(names)} {how}: {exc}")
    return problems


@pytest.mark.parametrize("seam", SEAMS, ids=lambda s: f"{s.mixin_name}-{s.member}")
def test_declared_member_exists_with_its_parameters(seam: Seam) -> None:
    if seam.use == "read":
        expect(seam.member in trl_attributes(), seam,
               "the trainer no longer sets or defines this attribute (no self.<name> = ... in its source)")
        return
    try:
        member = trl_member(seam)
    except (AttributeError, ImportError) as exc:
        pytest.fail(broken(seam, f"it is gone ({type(exc).__name__}: {exc})"), pytrace=False)
    expect(callable(member), seam, f"it is no longer callable ({type(member).__name__})")
    for problem in parameter_problems(seam, member):
        pytest.fail(broken(seam, problem), pytrace=False)
    if seam.use == "override":
        for problem in override_accepts(seam):
            pytest.fail(broken(seam, problem), pytrace=False)
    if seam.use == "wraps":
        for problem in wrapper_forwards(seam):
            pytest.fail(broken(seam, problem), pytrace=False)


def test_a_changed_trl_signature_is_reported_with_the_seam() -> None:
    # What an upgrade that adds a parameter to _generate would look like, fed to the same check.
    seam = declared("_generate")

    def _generate(self, prompts, images):
        return None

    (problem,) = parameter_problems(seam, _generate)
    message = broken(seam, problem)
    where = mixin_source(seam.mixin).file
    assert message.startswith(f"TRL seam broken: RewardSchedule ({where}) overrides TRL's GRPOTrainer._generate: "
                              "its parameters changed from ('prompts',) to ('prompts', 'images')")
    assert f"{where}:" in message and DECLARATION in message
    call = declared("_get_per_token_logps_and_entropies")

    def renamed(self, model, input_ids, attention_mask, logits_to_keep, chunk_size=None):
        return None

    assert "expects them to start with" in parameter_problems(call, renamed)[0]


# --- discovery: nothing undeclared, nothing stale, nothing shadowed ------------------------------------


@pytest.mark.parametrize("path", MIXINS)
def test_every_use_of_the_trainer_in_a_mixin_is_declared(path: str) -> None:
    source = mixin_source(path)
    names = {s.member for s in SEAMS if s.mixin == path}
    overrides = {s.member for s in SEAMS if s.mixin == path and s.use in ("override", "wraps")}
    undeclared = sorted(set(source.uses) - source.owned - set(RLTRAIN_ATTRIBUTES) - names)
    assert not undeclared, (
        f"{path} uses {', '.join(f'{n} ({source.lines(n)})' for n in undeclared)} of TRL's trainer without a "
        f"seam: declare each in {DECLARATION} SEAMS (override, call or read) so a TRL upgrade is checked"
    )
    private = {m for m in source.methods if m.startswith("_") and not m.startswith("__")}
    trl_methods = {m for m in private if hasattr(GRPOTrainer, m)}
    for name in sorted((trl_methods | source.super_calls) - {"__init__"}):
        assert name in overrides, (
            f"{path} overrides GRPOTrainer.{name} ({source.file}) without declaring it: add a Seam(..., "
            f"{name!r}, 'override', <TRL's parameters>) to {DECLARATION} SEAMS"
        )


@pytest.mark.parametrize("seam", SEAMS, ids=lambda s: f"{s.mixin_name}-{s.member}")
def test_every_declared_seam_is_used(seam: Seam) -> None:
    source = mixin_source(seam.mixin)
    if seam.use == "assumes":
        return  # never referenced by name: a behaviour the mixin builds on
    if seam.use == "function":
        text = Path(REPO / seam.where).read_text()
        module, name = seam.member.rsplit(".", 1)
        assert f"from {module} import {name}" in text, f"{seam.describe()}, but {seam.where} no longer imports it"
        return
    used = seam.member in source.uses or seam.member in source.methods
    assert used, f"{seam.describe()}, but the mixin no longer refers to it: remove the seam from {DECLARATION}"


@pytest.mark.parametrize("path", MIXINS)
def test_no_mixin_name_shadows_a_trl_attribute(path: str) -> None:
    source = mixin_source(path)
    overrides = {s.member for s in SEAMS if s.mixin == path and s.use in ("override", "wraps")}
    clashes = sorted(n for n in source.owned - overrides if not n.startswith("__") and n in trl_attributes())
    assert not clashes, (
        f"{path} ({source.file}) defines {clashes}, which TRL's trainer also defines or sets: rename them in the "
        f"mixin (or declare a deliberate override in {DECLARATION})"
    )
    taken = sorted(set(RLTRAIN_ATTRIBUTES) & trl_attributes())
    assert not taken, f"TRL's trainer now defines {taken}, which {grpo.__name__} sets on the composed class: rename"


def test_the_composed_trainer_uses_only_declared_mixins() -> None:
    rollout = grpo.RolloutConfig(reward_mode="sync", dynamic_sampling={"enabled": True})
    cls = grpo.grpo_trainer_class(rollout, with_tools=True)
    mro = cls.__mro__
    mixins = [f"{c.__module__}.{c.__qualname__}" for c in mro[1 : mro.index(GRPOTrainer)]]
    assert sorted(mixins) == sorted(MIXINS), f"{grpo.__name__} composes {mixins}; {DECLARATION} MIXINS lists {MIXINS}"


# --- behaviours the mixins rely on -----------------------------------------------------------------------


def returned_names(name: str) -> list[tuple[str, ...]]:
    """The names in each ``return a, b, ...`` of TRL's method ``name``."""
    found = []
    for node in ast.walk(trl_function_ast(name)):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
            found.append(tuple(e.id if isinstance(e, ast.Name) else ast.unparse(e) for e in node.value.elts))
    return found


@pytest.mark.parametrize(("member", "layout"), [("_generate", GENERATE_RESULT), ("_tool_call_loop", TOOL_LOOP_RESULT)],
                         ids=["_generate", "_tool_call_loop"])
def test_returned_tuples_have_the_declared_layout(member: str, layout: tuple[str, ...]) -> None:
    seam = declared(member)
    returns = returned_names(member)
    expect(returns == [layout], seam, f"it now returns {returns or 'no tuple'} instead of {layout}")


def test_generate_and_score_passes_the_generated_completions_to_the_rewards() -> None:
    seam = declared("_generate_and_score_completions", "rltrain.rollout.reward_schedule.RewardSchedule")
    fn = trl_function_ast("_generate_and_score_completions")

    def self_calls(name: str) -> list[ast.Call]:
        return [n for n in ast.walk(fn) if isinstance(n, ast.Call) and ast.unparse(n.func) == f"self.{name}"]

    generates, rewards = self_calls("_generate"), self_calls("_calculate_rewards")
    expect(len(generates) == 1, seam, f"it calls self._generate {len(generates)} times, not once")
    expect(len(rewards) == 1, seam, f"it calls self._calculate_rewards {len(rewards)} times, not once")
    (assign,) = [n for n in ast.walk(fn) if isinstance(n, ast.Assign) and n.value is generates[0]]
    target = assign.targets[0]
    expect(isinstance(target, ast.Tuple) and len(target.elts) == len(GENERATE_RESULT), seam,
           f"the result of self._generate is unpacked as {ast.unparse(target)}")
    completions = ast.unparse(target.elts[GENERATE_RESULT.index("completions")])
    args = [ast.unparse(a) for a in rewards[0].args]
    expect(len(args) == 4 and args[2] == completions, seam,
           f"self._calculate_rewards gets {args}, not the completions list self._generate returned ({completions})")
    names = [n for n in ast.walk(fn) if isinstance(n, ast.Name) and n.id == completions]
    stores = [n for n in names if isinstance(n.ctx, ast.Store)]
    expect(len(stores) == 1, seam, f"{completions!r} is rebound between _generate and _calculate_rewards")


def test_scored_output_keys_are_the_declared_ones() -> None:
    seam = declared("_generate_and_score_completions", "rltrain.rollout.dynamic_sampling.DynamicSampling")
    fn = trl_function_ast("_generate_and_score_completions")
    keys: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and any(ast.unparse(t) == "output" for t in node.targets):
            if isinstance(node.value, ast.Dict):
                keys.update(k.value for k in node.value.keys if isinstance(k, ast.Constant))
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) and ast.unparse(node.value) == "output":
            if isinstance(node.slice, ast.Constant):
                keys.add(node.slice.value)
    known = set(SCORED_KEYS) | set(MULTIMODAL_SCORED_KEYS)
    expect(keys == known, seam, f"its output gained {sorted(keys - known)} and lost {sorted(known - keys)}; "
           "rltrain.rollout.dynamic_sampling needs a PADDING/PER_ROW/RECOMPUTED rule for every text-model key")
    rules = set(PADDING) | PER_ROW | RECOMPUTED
    assert rules == set(SCORED_KEYS), f"dynamic sampling's rules {sorted(rules)} do not match SCORED_KEYS"


def test_num_items_in_batch_counts_the_loss_tokens_of_all_processes() -> None:
    seam = declared("_generate_and_score_completions", "rltrain.rollout.dynamic_sampling.DynamicSampling")
    fn = trl_function_ast("_generate_and_score_completions")
    assigned = {ast.unparse(n.targets[0]): ast.unparse(n.value) for n in ast.walk(fn) if isinstance(n, ast.Assign)}
    expect(assigned.get("loss_mask") == "completion_mask if tool_mask is None else completion_mask * tool_mask", seam,
           f"loss_mask is now {assigned.get('loss_mask')!r}")
    expect(assigned.get("num_items_in_batch") == "self.accelerator.gather(loss_mask.sum()).sum()", seam,
           f"num_items_in_batch is now {assigned.get('num_items_in_batch')!r}; "
           "DynamicSampling._dynamic_batch recounts it the same way")


def test_compute_loss_takes_old_logps_from_the_batch() -> None:
    seam = declared("_compute_loss")
    source = inspect.getsource(GRPOTrainer._compute_loss)
    expect('inputs.get("old_per_token_logps")' in source and "log_ratio = per_token_logps - old_per_token_logps"
           in source, seam, "the loss no longer takes the ratio against inputs['old_per_token_logps']")


def test_the_old_logprob_pass_comes_first_and_feeds_the_vllm_importance_weight() -> None:
    seam = declared("_get_per_token_logps_and_entropies")
    fn = trl_function_ast("_generate_and_score_completions")
    passes = sorted(((n, n.value) for n in ast.walk(fn) if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)
                     and ast.unparse(n.value.func) == "self._get_per_token_logps_and_entropies"), key=lambda p: p[0].lineno)
    first, call = passes[0] if passes else (None, None)
    expect(first is not None and call is not None and ast.unparse(first.targets[0]) == "(old_per_token_logps, _, _)"
           and ast.unparse(call.args[0]) == "self.model", seam,
           f"the first log-prob pass is now {ast.unparse(first) if first else 'gone'}, not old_per_token_logps of self.model")
    guards = [n for n in ast.walk(fn) if isinstance(n, ast.If) and first in list(ast.walk(n))]
    expect(any("self.use_vllm and self.vllm_importance_sampling_correction" in ast.unparse(g.test) for g in guards), seam,
           "the old log-prob pass no longer always runs under the vLLM importance-sampling correction")
    source = ast.unparse(fn)
    expect("(old_per_token_logps - sampling_per_token_logps) * mask" in source
           and "output['importance_sampling_ratio'] = vllm_importance_sampling_ratio" in source, seam,
           "the vLLM importance weight is no longer exp(old_per_token_logps - sampling_per_token_logps)")
    loss = declared("_compute_loss")
    expect("per_token_loss * inputs['importance_sampling_ratio']" in ast.unparse(trl_function_ast("_compute_loss")), loss,
           "the loss no longer multiplies the per-token loss by inputs['importance_sampling_ratio']")


def test_per_token_logps_returns_three_values() -> None:
    seam = declared("_get_per_token_logps_and_entropies")
    returns = returned_names("_get_per_token_logps_and_entropies")
    expect(bool(returns) and all(len(r) == 3 for r in returns), seam,
           f"it returns {returns}, not (logps, entropies, aux_loss)")


def test_metrics_are_per_mode_lists() -> None:
    seam = declared("_metrics")
    init = ast.parse(textwrap.dedent(inspect.getsource(GRPOTrainer.__init__))).body[0]
    values = [ast.unparse(n.value) for n in ast.walk(init) if isinstance(n, ast.Assign)
              and any(ast.unparse(t) == "self._metrics" for t in n.targets)]
    expect(values == ["{'train': defaultdict(list), 'eval': defaultdict(list)}"], seam,
           f"_metrics is now set to {values}")


def test_step_counts_micro_steps() -> None:
    seam = declared("_step")
    source = inspect.getsource(GRPOTrainer.training_step)
    expect("self._step += 1" in source, seam, "training_step no longer counts micro-steps in self._step")


class _StandIn:
    """The attributes TRL's _calculate_rewards reads, without a model."""

    def __init__(self, reward_funcs: list[Callable]) -> None:
        self.reward_funcs = reward_funcs
        self.reward_processing_classes = [None] * len(reward_funcs)
        self.reward_func_names = [f.__name__ for f in reward_funcs]
        self.accelerator = types.SimpleNamespace(device=torch.device("cpu"), is_main_process=True)
        self.state = types.SimpleNamespace(global_step=7)
        self.args = types.SimpleNamespace(report_to=[])
        self.environments = None
        self.metrics: list[tuple[str, float]] = []
        self.extras: list[tuple[str, list]] = []

    def _log_metric(self, name: str, value: float) -> None:
        self.metrics.append((name, value))

    def _log_completion_extra(self, column: str, values: list) -> None:
        self.extras.append((column, values))


def test_calculate_rewards_builds_the_table_score_batch_builds() -> None:
    seam = declared("_calculate_rewards", "rltrain.rollout.reward_schedule.RewardSchedule")
    seen: list[dict] = []

    def right(prompts, completions, completion_ids, **kwargs):
        seen.append({"completion_ids": completion_ids, **kwargs})
        kwargs["log_metric"]("right/calls", 1.0)
        kwargs["log_extra"]("why", ["a", "b", "c"])
        return [1.0 if c == kwargs["answer"][i] else 0.0 for i, c in enumerate(completions)]

    def unsure(prompts, completions, **kwargs):
        return [None, 0.5, None]

    inputs = [{"prompt": p, "answer": a} for p, a in (("p1", "1"), ("p2", "2"), ("p3", "3"))]
    prompts, completions, ids = ["p1", "p2", "p3"], ["1", "x", "3"], [[1], [2], [3]]
    stand_in = _StandIn([right, unsure])
    try:
        table = GRPOTrainer._calculate_rewards(stand_in, inputs, prompts, completions, ids)
    except Exception as exc:  # noqa: BLE001 - reported as the seam that changed
        pytest.fail(broken(seam, f"it no longer runs on what it used to read: {type(exc).__name__}: {exc}"),
                    pytrace=False)
    expected = torch.tensor([[1.0, float("nan")], [0.0, 0.5], [1.0, float("nan")]])
    expect(table.shape == (3, 2) and torch.allclose(table.float(), expected, equal_nan=True), seam,
           f"it returned {table!r} for two functions over three completions, expected {expected!r}")
    trl_kwargs = seen[0]
    expect({"trainer_state", "log_metric", "log_extra", "answer", "completion_ids"} <= set(trl_kwargs), seam,
           f"reward functions now get {sorted(trl_kwargs)}")
    expect(trl_kwargs["trainer_state"] is stand_in.state, seam, "trainer_state is no longer the trainer's state")
    expect(stand_in.metrics == [("right/calls", 1.0)] and stand_in.extras == [("why", ["a", "b", "c"])], seam,
           "log_metric/log_extra no longer reach _log_metric/_log_completion_extra")

    columns = {k: v for k, v in trl_kwargs.items() if k not in ("log_metric", "log_extra", "completion_ids")}
    seen.clear()
    scored = score_batch([right, unsure], prompts, completions, ids, columns)
    assert torch.allclose(scored.rewards, expected, equal_nan=True), "score_batch and TRL disagree on the table"
    assert set(seen[0]) == set(trl_kwargs), f"score_batch passes {sorted(seen[0])}, TRL passes {sorted(trl_kwargs)}"
    assert scored.metrics == [("right/calls", 1.0)] and scored.extras == [("why", ["a", "b", "c"])]


def test_pad_pads_and_rounds_widths() -> None:
    seam = declared("trl.trainer.utils.pad")
    from trl.trainer.utils import pad

    rows = [torch.tensor([1, 2, 3]), torch.tensor([4])]
    left = pad(rows, padding_value=0, padding_side="left", pad_to_multiple_of=4)
    right = pad(rows, padding_value=9, padding_side="right")
    expect(left.tolist() == [[0, 1, 2, 3], [0, 0, 0, 4]], seam, f"left padding to a multiple of 4 gave {left.tolist()}")
    expect(right.tolist() == [[1, 2, 3], [4, 9, 9]], seam, f"right padding gave {right.tolist()}")


def test_disable_gradient_checkpointing_restores_the_model() -> None:
    seam = declared("trl.models.utils.disable_gradient_checkpointing")
    from trl.models.utils import disable_gradient_checkpointing

    calls: list[str] = []
    model = types.SimpleNamespace(is_gradient_checkpointing=True,
                                  gradient_checkpointing_disable=lambda: calls.append("off"),
                                  gradient_checkpointing_enable=lambda kwargs=None: calls.append("on"))
    with disable_gradient_checkpointing(model, None):
        inside = list(calls)
    expect(inside == ["off"] and calls == ["off", "on"], seam, f"it made the calls {calls} around the block")


def test_repeat_sampler_repeats_each_prompt_in_a_row() -> None:
    seam = declared("trl.trainer.utils.RepeatSampler")
    from trl.trainer.utils import RepeatSampler

    order = list(RepeatSampler(range(3), mini_repeat_count=2, batch_size=3, repeat_count=1, shuffle=False))
    expect(order == [0, 0, 1, 1, 2, 2], seam, f"it yields {order} for 3 prompts x 2 generations")
    source = inspect.getsource(GRPOTrainer._get_train_sampler)
    expect("RepeatSampler(" in source and "mini_repeat_count=self.num_generations" in source, seam,
           "the train sampler no longer repeats each prompt num_generations times in a row")


def test_the_declaration_module_stays_free_of_heavy_imports() -> None:
    text = Path(trl_seam.__file__).read_text()
    assert "import torch" not in text and "import trl" not in text and "from trl" not in text

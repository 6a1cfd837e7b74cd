"""Numeric rules on the TRL options of a recipe (``grpo``/``sft``/``rm``), checked when the recipe loads.

TRL checks some of these only when its config is built, others only when training starts (a negative
learning rate is refused by the optimiser, after the model has loaded) and some never (a negative KL
coefficient trains away from the reference). Checking them with the recipe turns each into a one-line
error naming the option, before anything heavy runs.

The generation-batch rule is TRL 1.16's (``GRPOConfig.__post_init__``), restated on the recipe's
numbers: a generation batch of ``per_device_train_batch_size x processes x steps_per_generation``
completions (``steps_per_generation`` defaults to ``gradient_accumulation_steps``), or an explicit
``generation_batch_size`` that is a multiple of ``per_device_train_batch_size x processes``, must
hold whole groups of ``num_generations`` completions of one prompt.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TRL_CONFIGS: dict[str, str] = {"grpo": "GRPOConfig", "sft": "SFTConfig", "reward": "RewardConfig"}
"""The TRL config class of each recipe ``stage``."""


@dataclass(frozen=True)
class Bound:
    """The range a numeric option must lie in (``None`` values are left to TRL, which reads them as unset)."""

    minimum: float
    exclusive: bool = False
    """The minimum itself is not allowed (e.g. a temperature of 0 divides by zero)."""
    maximum: float | None = None
    finite: bool = True
    why: str = ""

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value``, or ``None`` when it is allowed."""
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if math.isnan(value) or (self.finite and math.isinf(value)):
            return f"must be a finite number, got {value}"
        too_low = value <= self.minimum if self.exclusive else value < self.minimum
        too_high = self.maximum is not None and value > self.maximum
        if not (too_low or too_high):
            return None
        low = f"greater than {self.minimum:g}" if self.exclusive else f"at least {self.minimum:g}"
        expected = low if self.maximum is None else f"{low} and at most {self.maximum:g}"
        return f"must be {expected}, got {value}" + (f" ({self.why})" if self.why else "")


BOUNDS: dict[str, Bound] = {
    "learning_rate": Bound(0),
    "per_device_train_batch_size": Bound(1),
    "per_device_eval_batch_size": Bound(1),
    "gradient_accumulation_steps": Bound(1),
    "num_generations": Bound(2, why="GRPO's advantage compares completions of the same prompt"),
    "generation_batch_size": Bound(1),
    "steps_per_generation": Bound(1),
    "num_iterations": Bound(1),
    "max_completion_length": Bound(1, why="a completion needs at least one token"),
    "max_length": Bound(1),
    "temperature": Bound(0, exclusive=True, why="sampling divides the logits by it"),
    "top_p": Bound(0, exclusive=True, maximum=1),
    "top_k": Bound(0, why="0 disables top-k"),
    "beta": Bound(0, why="the KL coefficient; 0 disables the reference model"),
    "epsilon": Bound(0),
    "epsilon_high": Bound(0),
    "weight_decay": Bound(0),
    "max_grad_norm": Bound(0, finite=False),
    "warmup_steps": Bound(0),
    "num_train_epochs": Bound(0),
    "logging_steps": Bound(0, exclusive=True),
    "save_steps": Bound(0, exclusive=True),
}
"""Options whose values TRL or the optimiser would refuse late, or silently misuse."""


@functools.cache
def trl_defaults(stage: str) -> dict[str, Any]:
    """The defaults of TRL's config class for ``stage`` (``grpo``, ``sft`` or ``reward``)."""
    import trl

    fields = dataclasses.fields(getattr(trl, TRL_CONFIGS[stage]))
    return {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}


def option_problems(options: Mapping[str, Any], mapping: str) -> list[str]:
    """``mapping.option: problem`` for every option outside its :data:`BOUNDS` (``mapping`` is the
    recipe's name for the options, e.g. ``grpo``). NaN is refused for any option."""
    problems = []
    for key, value in options.items():
        bound = BOUNDS.get(key, Bound(-math.inf, finite=False))
        problem = bound.problem(value)
        if problem:
            problems.append(f"{mapping}.{key}: {problem}")
    return problems


def generation_batch_problem(options: Mapping[str, Any], processes: int) -> str | None:
    """What breaks TRL's generation-batch rule for GRPO ``options`` over ``processes`` ranks in all (every
    node's), with the fields to change; ``None`` when the batch holds whole prompt groups."""
    given = {**trl_defaults("grpo"), **options}
    per_device, generations = given["per_device_train_batch_size"], given["num_generations"]
    batch, steps = given["generation_batch_size"], given["steps_per_generation"]
    if generations is None:
        return "grpo.num_generations: must be set (completions sampled per prompt, at least 2)"
    if any(not isinstance(v, int) or v < 1 for v in (per_device, generations, batch or 1, steps or 1)):
        return None  # reported by option_problems
    step_batch = per_device * processes
    ranks = f"{processes} process{'es' if processes > 1 else ''}"
    if batch is not None and steps is not None:
        return ("grpo.generation_batch_size and grpo.steps_per_generation: set one of them; TRL derives the other "
                "(generation_batch_size = per_device_train_batch_size x processes x steps_per_generation)")
    if batch is not None and batch % step_batch:
        return (f"grpo.generation_batch_size: {batch} must be a multiple of {step_batch} (per_device_train_batch_size "
                f"{per_device} x {ranks}), the completions one forward pass of all processes takes; e.g. "
                f"{_next_multiple(batch, step_batch)}")
    if batch is None:
        steps = steps or given["gradient_accumulation_steps"]
        batch = step_batch * steps
        source = "steps_per_generation" if given["steps_per_generation"] else "gradient_accumulation_steps"
        how = f"per_device_train_batch_size {per_device} x {ranks} x {source} {steps}"
        group_step = generations // math.gcd(generations, processes * steps)  # per-device rows that fill groups
        fix = f"grpo.per_device_train_batch_size to {_next_multiple(per_device, group_step)}"
    else:
        how = "grpo.generation_batch_size"
        fix = f"grpo.generation_batch_size to {_next_multiple(batch, math.lcm(generations, step_batch))}"
    if batch % generations == 0:
        return None
    divisors = _divisors(batch)[:6]
    alternative = f", or grpo.num_generations to one of {divisors}" if divisors else ""
    return (f"grpo.num_generations: {generations} completions per prompt must divide the generation batch of {batch} "
            f"({how}), so that each prompt's group is whole; set {fix}{alternative}")


def _divisors(n: int) -> list[int]:
    """The divisors of ``n`` from 2 up, in order (found up to its square root: ``n`` may be large)."""
    small = [d for d in range(2, math.isqrt(n) + 1) if n % d == 0]
    return sorted({*small, *(n // d for d in small), *([n] if n > 1 else [])})


def _next_multiple(value: int, step: int) -> int:
    """The smallest multiple of ``step`` that is at least ``value``."""
    return -(-value // step) * step

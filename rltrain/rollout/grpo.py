"""The GRPO trainer class of a recipe: TRL's ``GRPOTrainer`` plus the rollout features it asks for.

Each feature is a mixin with one job, layered over TRL's class:

* :class:`rltrain.rollout.reward_schedule.RewardSchedule` (always; ``rollout.reward_mode``): step-time
  metrics (generation, reward wait, reward compute); with ``overlapped`` or ``pipelined``, rewards
  run beside the log-prob passes or behind the previous batch's training. With ``sync`` it only
  measures and TRL's own order is kept.
* :class:`rltrain.rollout.dynamic_sampling.DynamicSampling` (when ``rollout.dynamic_sampling.enabled``):
  DAPO's dynamic sampling, zero-spread groups dropped and the batch refilled.
* :class:`rltrain.rollout.tools.ToolRollout` (when the recipe has ``tools``): ``tools/*`` metrics
  after TRL's tool loop.

Mixins read their settings from ``self.rollout`` (a :class:`rltrain.recipe.RolloutConfig`), set by
:func:`build_grpo_trainer` before TRL's constructor runs. Every private TRL method or attribute they
override, call or read is declared in :mod:`rltrain.rollout.trl_seam` and pinned against the installed TRL by
``tests/test_trl_seam.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rltrain.recipe.schema import RolloutConfig

if TYPE_CHECKING:
    from rltrain.tools import Toolset


def grpo_trainer_class(rollout: RolloutConfig, *, with_tools: bool = False) -> type[Any]:
    """A subclass of TRL's ``GRPOTrainer`` with the mixins ``rollout`` (and tools) ask for."""
    from trl import GRPOTrainer

    from rltrain.rollout.reward_schedule import RewardSchedule

    mixins: list[type] = []
    if rollout.dynamic_sampling.enabled:
        from rltrain.rollout.dynamic_sampling import DynamicSampling

        mixins.append(DynamicSampling)
    mixins.append(RewardSchedule)
    if with_tools:
        from rltrain.rollout.tools import ToolRollout

        mixins.append(ToolRollout)
    return type("RolloutGRPOTrainer", (*mixins, GRPOTrainer), {"rollout": rollout})


def build_grpo_trainer(rollout: RolloutConfig, toolset: Toolset | None = None, **kwargs: Any) -> Any:
    """Construct the GRPO trainer for ``rollout`` with TRL's keyword arguments; ``toolset`` (a
    :class:`rltrain.tools.Toolset`) gives TRL its tools."""
    cls = grpo_trainer_class(rollout, with_tools=bool(toolset))
    if toolset:
        cls.toolset = toolset
        kwargs["tools"] = toolset.functions
    return cls(**kwargs)

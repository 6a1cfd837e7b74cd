"""Memory planning: will a recipe fit its GPUs, before the first GPU hour is spent finding out.

``model_shape`` counts a model's parameters from its ``config.json`` alone (the architecture built on the
meta device), ``workload`` reduces a recipe to the numbers memory depends on, ``memory`` estimates each
term per training process and phase of a GRPO step (model states agreeing with DeepSpeed's estimators),
``verdict`` judges the peak and computes advice, and ``plan`` ties them together for a recipe or a
pipeline (``rltrain plan``; the one-line verdict of ``rltrain train``). docs/planning.md has the formulas.
"""

from rltrain.planning.memory import MemoryPlan, PlanContext, Term, estimate_memory
from rltrain.planning.model_shape import ModelConfigNotFound, ModelShape, locate_config
from rltrain.planning.plan import PlanRequest, StagePlan, plan_file, plan_stage, plans_json
from rltrain.planning.verdict import Verdict, judge
from rltrain.planning.workload import GIB, Hardware, Workload

__all__ = [
    "GIB",
    "Hardware",
    "MemoryPlan",
    "ModelConfigNotFound",
    "ModelShape",
    "PlanContext",
    "PlanRequest",
    "StagePlan",
    "Term",
    "Verdict",
    "Workload",
    "estimate_memory",
    "judge",
    "locate_config",
    "plan_file",
    "plan_stage",
    "plans_json",
]

"""GRPO rollouts: TRL's ``GRPOTrainer`` composed with the mixins a recipe's ``rollout`` and ``tools`` ask
for (``grpo``): reward scheduling and step-time metrics (``reward_schedule``), DAPO dynamic sampling
(``dynamic_sampling``), tool-use metrics after TRL's tool loop (``tools``). What the mixins override or
read of TRL is declared in ``trl_seam`` and checked against the installed TRL."""

from rltrain.rollout.grpo import build_grpo_trainer, grpo_trainer_class

__all__ = ["build_grpo_trainer", "grpo_trainer_class"]

"""GRPO rollouts with tools: the trainer mixin that logs :mod:`rltrain.tools.metrics` per batch.

The rollout itself is TRL's: ``GRPOTrainer(tools=...)`` parses tool calls from each completion,
calls the (guarded) tools, appends their results and generates on, up to
``grpo.max_tool_calling_iterations`` rounds and ``grpo.max_completion_length`` tokens in all, and
masks the tool-result tokens out of the loss. This mixin only reads what the loop produced (its use of
TRL is declared in :data:`rltrain.rollout.trl_seam.SEAMS`).
"""

from __future__ import annotations

from typing import Any

from rltrain.rollout.trl_seam import TOOL_LOOP_RESULT, result_field
from rltrain.tools.metrics import batch_counters, batch_metrics


class ToolRollout:
    """Logs ``tools/*`` metrics after TRL's tool loop; ``self.toolset`` is the run's :class:`~rltrain.tools.Toolset`."""

    toolset: Any

    def _tool_call_loop(self, *args: Any, **kwargs: Any):
        import torch

        result = super()._tool_call_loop(*args, **kwargs)  # type: ignore[misc]
        completions = result_field(result, TOOL_LOOP_RESULT, "completions")
        sums = torch.tensor(batch_counters(completions, self.toolset.ledger.take()), dtype=torch.float64,
                            device=self.accelerator.device)  # type: ignore[attr-defined]
        sums = self.accelerator.reduce(sums, reduction="sum")  # type: ignore[attr-defined]
        mode = "train" if self.model.training else "eval"  # type: ignore[attr-defined]
        for key, value in batch_metrics(sums.tolist()).items():
            self._metrics[mode][key].append(value)  # type: ignore[attr-defined]
        return result

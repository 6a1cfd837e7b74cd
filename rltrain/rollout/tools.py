"""GRPO rollouts with tools: the trainer mixin that logs :mod:`rltrain.tools.metrics` per batch.

The rollout itself is TRL's: ``GRPOTrainer(tools=...)`` parses tool calls from each completion,
calls the (guarded) tools, appends their results and generates on, up to
``grpo.max_tool_calling_iterations`` rounds and ``grpo.max_completion_length`` tokens in all, and
masks the tool-result tokens out of the loss. This mixin only reads what the loop produced (its use of
TRL is declared in :data:`rltrain.rollout.trl_seam.SEAMS`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rltrain.rollout.trl_seam import TOOL_LOOP_RESULT, result_field
from rltrain.tools.metrics import batch_counters, batch_metrics

if TYPE_CHECKING:
    from rltrain.tools import Toolset


class ToolRollout:
    """Logs ``tools/*`` metrics after TRL's tool loop; ``self.toolset`` is the run's :class:`~rltrain.tools.Toolset`."""

    toolset: Toolset  # set on the composed class by rltrain.rollout.grpo
    # What the mixin reads of GRPOTrainer (annotations only: nothing here shadows TRL's attributes).
    model: Any
    accelerator: Any
    _metrics: dict[str, dict[str, list[float]]]

    def _tool_call_loop(self, *args: Any, **kwargs: Any) -> Any:
        import torch

        result = super()._tool_call_loop(*args, **kwargs)  # type: ignore[misc]  # GRPOTrainer's, next in the MRO
        completions = result_field(result, TOOL_LOOP_RESULT, "completions")
        sums = torch.tensor(batch_counters(completions, self.toolset.ledger.take()), dtype=torch.float64,
                            device=self.accelerator.device)
        sums = self.accelerator.reduce(sums, reduction="sum")
        mode = "train" if self.model.training else "eval"
        for key, value in batch_metrics(sums.tolist()).items():
            self._metrics[mode][key].append(value)
        return result

"""Tools the model may call while it thinks (agentic rollouts); see docs/agentic.md.

* :mod:`rltrain.tools.registry`: recipe ``tools:`` → guarded functions (built-in ``python``, or
  ``package.module:function``) and the :class:`~rltrain.tools.runtime.ToolLedger` counting calls;
* :mod:`rltrain.tools.runtime`: the guard (argument check, deadline, errors as text);
* :mod:`rltrain.tools.python_tool`: the sandboxed code interpreter;
* :mod:`rltrain.tools.parsing`: making sure tool calls can be parsed from the model's chat format;
* :mod:`rltrain.tools.metrics`: per-batch tool metrics;
* :mod:`rltrain.tools.loop`: multi-turn generation with tools for evaluation.

Training rollouts use TRL's tool loop (``GRPOTrainer(tools=...)``), which masks tool-result tokens
out of the loss.
"""

from rltrain.tools.registry import BUILTIN_TOOLS, Toolset, build_toolset
from rltrain.tools.runtime import ToolCounts, ToolFailure, ToolLedger, guarded_tool

__all__ = ["BUILTIN_TOOLS", "ToolCounts", "ToolFailure", "ToolLedger", "Toolset", "build_toolset", "guarded_tool"]

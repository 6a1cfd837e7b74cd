"""Recipe ``tools:`` → the guarded tool functions TRL is given, plus the ledger that counts their calls.

A tool is named in a recipe either as a built-in (``python``: the sandboxed code interpreter) or as
``package.module:function``, a function importable on every rank. With ``params``, that function is a
factory called once with them, returning the tool function. Either way the tool function needs type
hints and a Google-style docstring: they are its JSON schema, rendered into the prompt by the chat
template and used to check the model's arguments.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rltrain.errors import RecipeError
from rltrain.tools.python_tool import python_tool
from rltrain.tools.runtime import GuardedTool, ToolLedger, ToolSchemaError, guarded_tool

BUILTIN_TOOLS: dict[str, Callable[..., Callable[..., Any]]] = {"python": python_tool}
"""Built-in tool factories by recipe name; each takes the recipe's ``params``."""


@dataclass
class Toolset:
    """The tools of a run: the functions TRL calls and the ledger counting those calls."""

    functions: list[GuardedTool] = field(default_factory=list)
    ledger: ToolLedger = field(default_factory=ToolLedger)

    def __bool__(self) -> bool:
        return bool(self.functions)

    @property
    def names(self) -> list[str]:
        return [f.__name__ for f in self.functions]

    def by_name(self) -> dict[str, GuardedTool]:
        return {f.__name__: f for f in self.functions}


def _import(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ValueError(f"{target!r} is neither a built-in tool {sorted(BUILTIN_TOOLS)} nor 'package.module:function'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def tool_function(name: str, params: dict[str, Any]) -> Callable[..., Any]:
    """The raw (unguarded) tool function a recipe entry names."""
    if name in BUILTIN_TOOLS:
        return BUILTIN_TOOLS[name](**params)
    target = _import(name)
    fn = target(**params) if params else target
    if not (inspect.isfunction(fn) or inspect.ismethod(fn)):
        raise ValueError(f"{name!r} gives a {type(fn).__name__}, not a function (a tool must be a def or async def)")
    return fn


def build_toolset(configs: list[Any]) -> Toolset:
    """Build every ``tools[]`` entry of a recipe (``rltrain.recipe.ToolConfig``), guarded, sharing one ledger.

    Raises:
        RecipeError: naming the entry, for an unknown tool, bad params, or a function without a schema.
    """
    toolset = Toolset()
    for i, cfg in enumerate(configs):
        try:
            fn = tool_function(cfg.name, cfg.params)
            exposed = cfg.name if cfg.name in BUILTIN_TOOLS else fn.__name__
            toolset.functions.append(
                guarded_tool(exposed, fn, timeout=cfg.timeout, ledger=toolset.ledger, max_chars=cfg.max_chars))
        except (ValueError, TypeError, ToolSchemaError) as exc:
            raise RecipeError(f"tools.{i} ({cfg.name}): {exc}") from None
    names = toolset.names
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RecipeError(f"tools: more than one tool is called {duplicates}; the model calls tools by name")
    return toolset

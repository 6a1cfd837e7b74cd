"""Reward registry: recipes name rewards, factories build them.

A factory takes the recipe's ``params`` as keyword arguments and returns a TRL reward function
``fn(prompts, completions, **kwargs) -> list[float | None]``. Register one with::

    @register_reward("my_reward", description="what it scores")
    def build_my_reward(*, threshold: float = 0.5) -> RewardFn:
        def my_reward(prompts, completions, **kwargs):
            ...
        return my_reward

:func:`build_reward` checks ``params`` against the factory's signature and type hints (with pydantic, so
YAML's ``timeout: 5`` is accepted for a ``float``) before calling it, and names the rewards registry name
on the returned function (TRL logs ``rewards/<__name__>/mean``).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import pydantic

from verifiers.errors import VerifierError

__all__ = [
    "RewardEntry",
    "RewardFactory",
    "RewardFn",
    "Scores",
    "available_rewards",
    "build_reward",
    "get_reward",
    "is_async_reward",
    "is_collective",
    "mark_collective",
    "register_reward",
]

Scores = list[float | None]
"""One score per completion; ``None`` means "could not judge" (masked, never scored as wrong)."""


class RewardFn(Protocol):
    """The one reward-function contract of the project (TRL's): ``fn(prompts, completions, **columns)``.

    TRL passes every argument by keyword, ``prompts`` and ``completions`` included, so a reward must take
    them under those names (not positional-only). ``columns`` are the dataset's other columns (``answer``,
    ``tests``, ...) plus TRL's ``log_metric`` hook; the result holds one score per completion, or is
    awaitable for an ``async def`` reward (TRL gathers those concurrently). ``__name__`` is what TRL logs it
    as (``rewards/<name>/mean``).

    A reward may carry a ``collective`` flag (read it with :func:`is_collective`, set it with
    :func:`mark_collective`; a function without it is not collective): its calls are collectives every
    rank must join, as for a reward model sharded with the policy under ZeRO-3, so rltrain's guard calls
    it in the trainer's thread without a deadline (a rank that gave up would leave the others waiting).
    """

    __name__: str

    def __call__(self, prompts: list[Any], completions: list[Any], **columns: Any) -> Scores | Awaitable[Scores]: ...


RewardFactory = Callable[..., RewardFn]

_COLLECTIVE = "collective"


def is_collective(fn: object) -> bool:
    """Whether ``fn`` is marked collective (see :class:`RewardFn`)."""
    return bool(getattr(fn, _COLLECTIVE, False))


def mark_collective(fn: RewardFn, collective: bool = True) -> RewardFn:
    """Set ``fn``'s collective flag (see :class:`RewardFn`) and return it."""
    setattr(fn, _COLLECTIVE, collective)
    return fn


def is_async_reward(fn: object) -> bool:
    """True for ``async def`` functions and for objects whose ``__call__`` is ``async def``."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004 - the method itself, not callable()


@dataclass(frozen=True)
class RewardEntry:
    """A registered reward: its name, its factory and a one-line description."""

    name: str
    build: RewardFactory
    description: str


_REGISTRY: dict[str, RewardEntry] = {}


def register_reward(name: str, *, description: str = "") -> Callable[[RewardFactory], RewardFactory]:
    """Decorator registering a reward factory under ``name``; the factory is returned unchanged.

    Registering a different factory under a taken name raises :class:`VerifierError` (re-registering the
    same function, e.g. on module reload, is allowed). ``description`` defaults to the first line of the
    factory's docstring.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise VerifierError(f"reward name {name!r} must be a Python identifier (TRL logs it as rewards/<name>/mean)")

    def decorator(factory: RewardFactory) -> RewardFactory:
        existing = _REGISTRY.get(name)
        if existing is not None and _qualname(existing.build) != _qualname(factory):
            raise VerifierError(
                f"reward {name!r} is already registered by {_qualname(existing.build)}; pick another name for "
                f"{_qualname(factory)}"
            )
        doc = (inspect.getdoc(factory) or "").strip().splitlines()
        _REGISTRY[name] = RewardEntry(name, factory, description or (doc[0] if doc else ""))
        return factory

    return decorator


def _qualname(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def available_rewards() -> list[str]:
    """Names of all registered rewards, sorted."""
    return sorted(_REGISTRY)


def get_reward(name: str) -> RewardEntry:
    """The entry registered as ``name``; an unknown name raises :class:`VerifierError` listing the known ones."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        known = ", ".join(available_rewards()) or "(none)"
        raise VerifierError(f"unknown reward {name!r}; available rewards: {known}") from None


def _check_params(entry: RewardEntry, params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``params`` against the factory signature; returns them coerced to the annotated types."""
    signature = inspect.signature(entry.build)
    accepted = {
        p.name: p
        for p in signature.parameters.values()
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    }
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    listing = ", ".join(
        f"{n} (required)" if p.default is p.empty else f"{n} (default {p.default!r})" for n, p in accepted.items()
    )
    listing = listing or "none"
    for key in params:
        if not isinstance(key, str) or (key not in accepted and not takes_any):
            raise VerifierError(f"reward {entry.name!r}: unknown parameter {key!r}; accepted parameters: {listing}")
    missing = [n for n, p in accepted.items() if p.default is p.empty and n not in params]
    if missing:
        raise VerifierError(
            f"reward {entry.name!r}: missing required parameter {missing[0]!r}; accepted parameters: {listing}"
        )
    try:
        hints = typing.get_type_hints(entry.build)
    except Exception:  # noqa: BLE001 - unresolvable annotations: skip type checks
        hints = {}
    checked = dict(params)
    for key, value in params.items():
        hint = hints.get(key)
        if hint is None:
            continue
        try:
            checked[key] = pydantic.TypeAdapter(hint).validate_python(value)
        except pydantic.ValidationError as exc:
            if typing.get_origin(hint) is typing.Literal:
                expected = "one of " + ", ".join(map(repr, typing.get_args(hint)))
            else:
                expected = getattr(hint, "__name__", None) or str(hint)
            problem = exc.errors()[0].get("msg", str(exc)) if exc.errors() else str(exc)
            raise VerifierError(
                f"reward {entry.name!r}: parameter {key!r} must be {expected}, got {value!r} ({problem}); "
                f"accepted parameters: {listing}"
            ) from None
    return checked


def build_reward(name: str, params: Mapping[str, Any] | None = None) -> RewardFn:
    """Build the reward function registered as ``name`` with ``params`` (the recipe's ``params:``).

    Raises :class:`VerifierError` for an unknown name (listing the available ones), an unknown or
    missing parameter or a value of the wrong type (naming the parameter and listing the accepted ones).
    The returned function's ``__name__`` is ``name``.
    """
    entry = get_reward(name)
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise VerifierError(
            f"reward {name!r}: params must be a mapping of parameter names to values, got {type(params).__name__}"
        )
    checked = _check_params(entry, params)
    try:
        fn = entry.build(**checked)
    except VerifierError:
        raise
    except (TypeError, ValueError) as exc:
        raise VerifierError(f"reward {name!r}: invalid params {dict(params)!r}: {exc}") from exc
    if not callable(fn):
        raise VerifierError(f"reward {name!r}: its factory returned {type(fn).__name__}, not a reward function")
    if getattr(fn, "__name__", None) != name:
        try:
            fn.__name__ = name
        except (AttributeError, TypeError):
            pass
    return fn

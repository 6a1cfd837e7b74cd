"""Reward registry: lookup by name, parameter checking, names TRL logs under."""

from __future__ import annotations

import pytest

import verifiers
from verifiers import VerifierError, available_rewards, build_reward, get_reward, register_reward, registry


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a test register rewards without leaving them behind for other tests."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_builtin_rewards_are_registered_on_import() -> None:
    assert {"math_accuracy", "think_format"} <= set(available_rewards())
    assert available_rewards() == sorted(available_rewards())
    assert get_reward("math_accuracy").description
    assert verifiers.get_reward("think_format").name == "think_format"


def test_unknown_name_lists_available_rewards() -> None:
    with pytest.raises(VerifierError) as info:
        get_reward("math_acuracy")
    message = str(info.value)
    assert "'math_acuracy'" in message and "math_accuracy" in message and "think_format" in message
    with pytest.raises(VerifierError, match="think_format"):
        build_reward("nope", {})


def test_unknown_param_is_named_with_the_accepted_ones() -> None:
    with pytest.raises(VerifierError) as info:
        build_reward("math_accuracy", {"timout": 3})
    message = str(info.value)
    assert "'timout'" in message and "timeout" in message and "answer_column" in message
    with pytest.raises(VerifierError, match="'strict'.*none"):
        build_reward("think_format", {"strict": True})


def test_bad_param_values_are_named() -> None:
    with pytest.raises(VerifierError, match="'timeout'"):
        build_reward("math_accuracy", {"timeout": "soon"})
    with pytest.raises(VerifierError, match="'timeout'"):
        build_reward("math_accuracy", {"timeout": -1})
    with pytest.raises(VerifierError, match="mapping"):
        build_reward("math_accuracy", ["timeout"])  # type: ignore[arg-type]


def test_built_functions_carry_the_registry_name() -> None:
    assert build_reward("math_accuracy", {"timeout": 2}).__name__ == "math_accuracy"  # YAML int for a float
    assert build_reward("think_format", None).__name__ == "think_format"


def test_math_accuracy_reads_the_configured_column() -> None:
    reward = build_reward("math_accuracy", {"answer_column": "solution"})
    kwargs = {"solution": ["4", "5"], "answer": ["x", "y"], "trainer_state": None}
    assert reward(["p", "p"], ["r</think>\\boxed{4}", "r</think>\\boxed{4}"], **kwargs) == [1.0, 0.0]
    with pytest.raises(VerifierError) as info:
        reward(["p"], ["\\boxed{4}"], problem=["q"], trainer_state=None, log_metric=print)
    message = str(info.value)
    assert "'solution'" in message and "problem" in message and "trainer_state" not in message


def test_think_format_built_reward() -> None:
    reward = build_reward("think_format", {})
    assert reward(["p", "p"], ["r</think>4", "4"], trainer_state=None) == [1.0, 0.0]


def test_register_custom_reward_and_duplicate_names(scratch_registry: None) -> None:
    @register_reward("_test_constant", description="always the given value")
    def build_constant(*, value: float) -> verifiers.RewardFn:
        def constant(prompts: list, completions: list, **kwargs: object) -> list[float | None]:
            return [value] * len(completions)

        return constant

    assert "_test_constant" in available_rewards()
    with pytest.raises(VerifierError, match="missing required parameter 'value'"):
        build_reward("_test_constant", {})
    reward = build_reward("_test_constant", {"value": 0.25})
    assert reward.__name__ == "_test_constant" and reward([], ["a", "b"]) == [0.25, 0.25]

    with pytest.raises(VerifierError, match="already registered"):

        @register_reward("_test_constant")
        def other(**params: object) -> verifiers.RewardFn:
            raise AssertionError

    with pytest.raises(VerifierError, match="identifier"):
        register_reward("not a name")


def test_math_accuracy_policy_params() -> None:
    reward = build_reward("math_accuracy", {"percent": "number", "lists": "ordered", "require_boxed": True})
    completions = [r"\boxed{50}", r"\boxed{0.5}", r"\boxed{3, 2}", "Answer: 4"]
    assert reward(["p"] * 4, completions, answer=[r"50\%", r"50\%", "2, 3", "4"]) == [1.0, 0.0, 0.0, 0.0]
    default = build_reward("math_accuracy", {})
    assert default(["p"] * 4, completions, answer=[r"50\%", r"50\%", "2, 3", "4"]) == [1.0, 1.0, 1.0, 1.0]
    with pytest.raises(VerifierError, match="'percent' must be one of 'either', 'number', 'fraction', got 'half'"):
        build_reward("math_accuracy", {"percent": "half"})
    with pytest.raises(VerifierError, match="'require_boxed' must be bool"):
        build_reward("math_accuracy", {"require_boxed": "maybe"})

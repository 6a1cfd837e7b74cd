"""Think-format reward and completion text extraction."""

from __future__ import annotations

import pytest

from verifiers.completions import completion_text
from verifiers.errors import VerifierError
from verifiers.format import answer_after_think, think_format_reward


@pytest.mark.parametrize(
    ("completion", "score"),
    [
        ("<think>reasoning</think>\\boxed{4}", 1.0),
        ("reasoning</think>\nThe answer is 4.", 1.0),  # <think> prefilled by the chat template
        ("\n<think>\nreasoning\n</think>\n\n4", 1.0),
        ("reasoning without a closing tag \\boxed{4}", 0.0),
        ("<think>reasoning never closed", 0.0),
        ("<think>reasoning</think>   \n", 0.0),  # empty answer
        ("<think></think>4", 0.0),  # empty reasoning
        ("<think>a</think>4<think>b</think>5", 0.0),  # a second block
        ("r</think>4</think>", 0.0),
        ("preamble <think>r</think>4", 0.0),
        ("", 0.0),
    ],
)
def test_think_format_reward(completion: str, score: float) -> None:
    assert think_format_reward(["prompt"], [completion]) == [score]


def test_think_format_reward_on_conversational_completions() -> None:
    completions = [
        [{"role": "assistant", "content": "r</think>4"}],
        [{"role": "assistant", "content": "no tags"}],
        [{"role": "assistant", "content": "4", "reasoning_content": "two plus two"}],
    ]
    assert think_format_reward(None, completions, trainer_state=None, answer=["4"] * 3) == [1.0, 0.0, 1.0]


def test_answer_after_think() -> None:
    assert answer_after_think("r</think>  42 ") == "42"
    assert answer_after_think("<think>r</think>42") == "42"
    assert answer_after_think("42") is None
    assert answer_after_think("r</think> ") is None


def test_completion_text_shapes() -> None:
    assert completion_text("plain") == "plain"
    assert completion_text(None) == ""
    assert completion_text([{"role": "assistant", "content": "a"}]) == "a"
    content = [{"type": "text", "text": "a"}, {"type": "image"}, {"type": "text", "text": "b"}]
    parts = [{"role": "assistant", "content": content}]
    assert completion_text(parts) == "ab"
    turns = [
        {"role": "assistant", "content": "call"},
        {"role": "tool", "content": "result"},
        {"role": "assistant", "content": "done"},
    ]
    assert completion_text(turns) == "call\ndone"
    with pytest.raises(VerifierError, match="int"):
        completion_text(3)

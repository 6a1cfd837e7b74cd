"""The evaluation rollout loop with tools, driven by a scripted model: tool calls are executed, results
appended, generation goes on; rounds and the token budget end it; a hostile tool call inside a rollout
is contained and the model reads an error."""

from __future__ import annotations

import json

import pytest
import torch

from rltrain.models.tiny import build_tokenizer
from rltrain.recipe import ToolConfig
from rltrain.tools import build_toolset
from rltrain.tools.loop import generate_with_tools
from tests.sandbox_guard import guard, sandbox_available  # noqa: F401 - fixtures


def tool_call(name: str, **arguments) -> str:
    return f'</think>\n<tool_call>\n{json.dumps({"name": name, "arguments": arguments})}\n</tool_call><|im_end|>'


class ScriptedModel(torch.nn.Module):
    """Replies by turn: the k-th reply of a conversation is ``replies[k]`` (the last one repeats)."""

    def __init__(self, tokenizer, replies: list[str]):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.tokenizer, self.replies = tokenizer, replies

    def generate(self, input_ids, attention_mask, max_new_tokens, pad_token_id, **sampling):
        rows = []
        for ids in input_ids.tolist():
            turn = self.tokenizer.decode(ids).count("<|im_start|>tool")
            reply = self.replies[min(turn, len(self.replies) - 1)]
            rows.append(ids + self.tokenizer(reply, add_special_tokens=False)["input_ids"][:max_new_tokens])
        width = max(map(len, rows))
        return torch.tensor([r + [pad_token_id] * (width - len(r)) for r in rows])


def rollout(replies, tools, *, max_new_tokens=400, max_rounds=4, samples=1):
    tok = build_tokenizer()
    prompts = [[{"role": "user", "content": "What is 40+2?"}], [{"role": "user", "content": "What is 1+1?"}]]
    return generate_with_tools(ScriptedModel(tok, replies), tok, prompts, tools=tools.functions, samples=samples,
                               max_new_tokens=max_new_tokens, max_rounds=max_rounds, batch_size=8, sampling={})


def test_a_tool_call_is_executed_and_generation_goes_on():
    tools = build_toolset([ToolConfig(name="tests.tool_helpers:add")])
    out = rollout([tool_call("add", a=40, b=2), "</think>\n\\boxed{42}<|im_end|>"], tools, samples=2)
    assert len(out) == 2 and len(out[0]) == 2
    first, tool, last = out[0][0]
    assert first["tool_calls"][0]["function"] == {"name": "add", "arguments": {"a": 40, "b": 2}}
    assert tool == {"role": "tool", "name": "add", "content": "42"}
    assert last["content"] == "\\boxed{42}" and "tool_calls" not in last
    assert tools.ledger.take().ok == 4  # two prompts x two samples


def test_rounds_and_the_token_budget_end_a_rollout():
    tools = build_toolset([ToolConfig(name="tests.tool_helpers:add")])
    looping = rollout([tool_call("add", a=1, b=1)], tools, max_rounds=2)[0][0]
    assert [m["role"] for m in looping] == ["assistant", "tool", "assistant", "tool", "assistant"]
    short = rollout([tool_call("add", a=1, b=1), "</think>\n\\boxed{2}<|im_end|>"], tools, max_new_tokens=70)[0][0]
    assert [m["role"] for m in short] == ["assistant"]  # no room left for the result and an answer
    cut = rollout([tool_call("add", a=1, b=1)], tools, max_new_tokens=10)[0][0]
    assert len(cut) == 1 and "tool_calls" not in cut[0]  # the call itself was cut: nothing to run


def test_unknown_tools_and_bad_arguments_are_answered_not_raised():
    tools = build_toolset([ToolConfig(name="tests.tool_helpers:add")])
    unknown = rollout([tool_call("mul", a=1, b=1), "</think>\n\\boxed{1}<|im_end|>"], tools)[0][0]
    assert unknown[1]["content"] == "Error: there is no tool called 'mul'; tools: ['add']"
    text = '</think>\n<tool_call>\n{"name": "add", "arguments": "1, 2"}\n</tool_call><|im_end|>'
    as_text = rollout([text, "</think>\n\\boxed{1}<|im_end|>"], tools)[0][0]
    assert as_text[1]["content"] == "Error: bad call to add: arguments must be a JSON object, got str"
    bad = rollout([tool_call("add", a="x", b=1), "</think>\n\\boxed{1}<|im_end|>"], tools)[0][0]
    assert bad[1]["content"] == "Error: bad call to add: argument 'a' must be integer, got str"
    assert bad[2]["content"] == "\\boxed{1}"


HOSTILE = {
    "fork bomb": ("import os\nwhile True:\n    os.fork()", "BlockingIOError"),
    "network": ("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)", "Operation not permitted"),
    "host files": ("print(open('/etc/passwd').read())", "FileNotFoundError"),
    "busy loop": ("while True:\n    pass", "timed out"),
    "memory bomb": ("x = bytearray(1 << 34)", "ran out of memory"),
}


@pytest.fixture
def guarded_sandbox(sandbox_available, guard, monkeypatch):  # noqa: F811
    """The python tool's sandbox, created inside the guard cgroup (its run cgroups nest under the creator's),
    and gone with it: the process-wide default sandbox must not outlive the guard."""
    import sandbox

    with sandbox.Sandbox() as box:
        monkeypatch.setattr(sandbox, "default_sandbox", lambda: box)
        yield guard


@pytest.mark.parametrize("what", sorted(HOSTILE))
def test_a_hostile_tool_call_is_contained_and_the_rollout_goes_on(what, guarded_sandbox):
    code, expected = HOSTILE[what]
    tools = build_toolset([ToolConfig(name="python", params={"wall_s": 1.0, "memory_mb": 256})])
    messages = rollout([tool_call("python", code=code), "</think>\n\\boxed{0}<|im_end|>"], tools, max_new_tokens=4000)[0][0]
    assert [m["role"] for m in messages] == ["assistant", "tool", "assistant"]
    assert messages[1]["content"].startswith("Error: ") and expected in messages[1]["content"], messages[1]
    assert messages[2]["content"] == "\\boxed{0}"
    assert guarded_sandbox.wait_no_strays() == []


def test_the_python_tool_returns_what_the_program_prints(guarded_sandbox):
    tools = build_toolset([ToolConfig(name="python")])
    messages = rollout([tool_call("python", code="print(6*7)"), "</think>\n\\boxed{42}<|im_end|>"], tools)[0][0]
    assert messages[1] == {"role": "tool", "name": "python", "content": "42\n"}
    counts = tools.ledger.take()
    assert counts.ok == 2 and counts.by_tool == {"python": 2}

"""Tools for agentic rollouts: the guard, the sandboxed python tool, recipe wiring, parsing, metrics,
and the evaluation rollout loop (driven by a scripted model, so the tests are exact and fast)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from rltrain.errors import RecipeError
from rltrain.recipe import ToolConfig, recipe_from_dict
from rltrain.tools import ToolLedger, build_toolset, guarded_tool
from rltrain.tools.metrics import batch_counters, batch_metrics, used_tool
from rltrain.tools.runtime import check_arguments
from tests import tool_helpers


def call(tool, **arguments):
    return asyncio.run(tool(**arguments))


def test_a_guarded_tool_answers_errors_as_text_and_counts_every_call():
    ledger = ToolLedger()
    add = guarded_tool("add", tool_helpers.add, timeout=5, ledger=ledger)
    assert call(add, a=2, b=3) == "5"
    assert call(add, a=2) == "Error: bad call to add: missing required argument(s) ['b']"
    assert call(add, a=2, b=3, c=4).startswith("Error: bad call to add: unknown argument(s) ['c']")
    assert call(add, a="2", b=3) == "Error: bad call to add: argument 'a' must be integer, got str"
    broken = guarded_tool("broken", tool_helpers.broken, timeout=5, ledger=ledger)
    assert call(broken, x="y") == "Error: RuntimeError: cannot handle 'y'"
    counts = ledger.take()
    assert (counts.calls, counts.ok, counts.bad_arguments, counts.error) == (5, 1, 3, 1)
    assert counts.by_tool == {"add": 4, "broken": 1}
    assert ledger.take().calls == 0 and ledger.total.calls == 5


def test_a_tool_that_exits_is_an_error_not_an_exit():
    ledger = ToolLedger()
    quits = guarded_tool("quits", tool_helpers.quits, timeout=5, ledger=ledger)
    assert call(quits, code=3) == "Error: RuntimeError: SystemExit: 3"
    assert ledger.take().error == 1


def test_a_hanging_sync_tool_is_abandoned_at_its_deadline():
    ledger = ToolLedger()
    slow = guarded_tool("slow", tool_helpers.slow, timeout=0.3, ledger=ledger)
    started = time.monotonic()
    assert call(slow, seconds=5) == "Error: slow timed out after 0.3 s"
    assert time.monotonic() - started < 2
    assert ledger.take().timeout == 1


def test_async_tools_json_results_and_long_results_are_cut():
    ledger = ToolLedger()
    lookup = guarded_tool("lookup", tool_helpers.lookup, timeout=5, ledger=ledger)
    assert json.loads(call(lookup, key="abc")) == {"key": "abc", "value": 3}
    echo = guarded_tool("add", tool_helpers.add, timeout=5, ledger=ledger, max_chars=3)
    assert call(echo, a=12345, b=0) == "123\n... [2 more characters cut]"


def test_the_wrapper_keeps_the_schema_chat_templates_render():
    from transformers.utils import get_json_schema

    add = guarded_tool("add", tool_helpers.add, timeout=5, ledger=ToolLedger())
    schema = get_json_schema(add)
    assert schema["function"]["name"] == "add"
    assert schema["function"]["parameters"]["required"] == ["a", "b"]
    assert schema["function"]["parameters"]["properties"]["a"] == {"type": "integer", "description": "The first number."}
    assert asyncio.iscoroutinefunction(add)


def test_check_arguments_accepts_numbers_for_number_and_rejects_bools_for_integers():
    schema = {"function": {"parameters": {"properties": {"x": {"type": "number"}, "n": {"type": "integer"}},
                                          "required": ["x"]}}}
    assert check_arguments(schema, {"x": 1, "n": 2}) is None
    assert check_arguments(schema, {"x": 1.5}) is None
    assert "integer" in check_arguments(schema, {"x": 1, "n": True})
    assert "JSON object" in check_arguments(schema, ["x"])


def test_recipe_tools_build_user_functions_and_factories():
    toolset = build_toolset([ToolConfig(name="tests.tool_helpers:add"),
                             ToolConfig(name="tests.tool_helpers:make_greeter", params={"greeting": "Hi"})])
    assert toolset.names == ["add", "greet"]
    assert call(toolset.by_name()["greet"], name="Ada") == "Hi, Ada!"


@pytest.mark.parametrize("name,params,message", [
    ("nosuch", {}, "neither a built-in tool"),
    ("tests.no_such_module:f", {}, "cannot import"),
    ("tests.tool_helpers:missing", {}, "has no attribute"),
    ("tests.tool_helpers:undocumented", {}, "docstring"),
    ("python", {"wall_s": -1}, "wall_s must be positive"),
])
def test_bad_tools_fail_at_load_naming_the_entry(name, params, message):
    with pytest.raises(RecipeError, match=rf"tools\.0 \({name}\): .*{message}"):
        build_toolset([ToolConfig(name=name, params=params)])


def test_two_tools_with_one_name_are_refused():
    with pytest.raises(RecipeError, match=r"more than one tool is called \['add'\]"):
        build_toolset([ToolConfig(name="tests.tool_helpers:add"), ToolConfig(name="tests.tool_helpers:add")])


def _recipe(**extra):
    base = {"model": {"name_or_path": "tiny"}, "data": {"source": "synthetic:arithmetic"}, "output_dir": "/tmp/x",
            "rewards": [{"name": "math_accuracy"}], "tools": [{"name": "python"}]}
    return recipe_from_dict({**base, **extra})


def test_recipe_validation_of_tools():
    assert _recipe().trl_options()["max_tool_calling_iterations"] == 4
    assert _recipe(grpo={"max_tool_calling_iterations": 2}).trl_options()["max_tool_calling_iterations"] == 2
    with pytest.raises(RecipeError, match="tools: not supported with rollout.reward_mode 'pipelined'"):
        _recipe(rollout={"reward_mode": "pipelined"})
    with pytest.raises(RecipeError, match="reward-model stage"):
        _recipe(stage="reward")
    with pytest.raises(RecipeError, match=r"tools\.0\.timeout"):
        _recipe(tools=[{"name": "python", "timeout": 0}])


def test_tool_metrics_count_use_turns_and_clean_calls():
    from rltrain.tools.runtime import ToolCounts

    used = [{"role": "assistant", "content": ""}, {"role": "tool", "name": "python", "content": "6\n"},
            {"role": "assistant", "content": "6"}]
    failed = [{"role": "assistant", "content": ""}, {"role": "tool", "name": "python", "content": "Error: boom"},
              {"role": "assistant", "content": ""}, {"role": "tool", "name": "python", "content": "1"},
              {"role": "assistant", "content": "1"}]
    plain = [{"role": "assistant", "content": "7"}]
    counts = ToolCounts(calls=3, ok=2, error=1)
    metrics = batch_metrics(batch_counters([used, failed, plain, plain], counts))
    assert metrics["tools/calls_per_completion"] == 3 / 4
    assert metrics["tools/used_share"] == 2 / 4 and metrics["tools/clean_use_share"] == 1 / 4
    assert metrics["tools/turns"] == (2 + 3 + 1 + 1) / 4
    assert metrics["tools/error_share"] == 1 / 3 and metrics["tools/timeout_share"] == 0
    assert used_tool(used) and not used_tool(plain) and not used_tool("text")


def test_rewards_are_split_by_tool_use_when_the_recipe_has_tools():
    from rltrain.rewards import guard as guard_reward

    logged = {}
    reward = guard_reward("r", lambda prompts, completions, **kw: [1.0, 0.0, 0.5], 5, split_by_tool_use=True)
    with_tool = [{"role": "assistant", "content": ""}, {"role": "tool", "content": "1"}]
    reward([None] * 3, [with_tool, [{"role": "assistant", "content": "x"}], with_tool], log_metric=logged.__setitem__)
    assert logged["rewards/r/with_tool"] == 0.75 and logged["rewards/r/without_tool"] == 0.0


def test_the_tiny_template_renders_tool_calls_and_is_unchanged_without_tools():
    from trl.chat_template_utils import is_chat_template_prefix_preserving, supports_tool_calling

    from rltrain.models.tiny import build_tokenizer

    tok = build_tokenizer()
    plain = [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4</think>\n\\boxed{4}"}]
    assert tok.apply_chat_template(plain, tokenize=False) == (
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n4</think>\n\\boxed{4}<|im_end|>\n")
    assert supports_tool_calling(tok) and is_chat_template_prefix_preserving(tok)
    from rltrain.data.synthetic.tools import tool_call_trace

    text = tok.apply_chat_template([plain[0], *tool_call_trace(3, 4)], tools=[tool_helpers.add], tokenize=False)
    assert text.startswith("<|im_start|>system\nTools: add<|im_end|>\n")
    assert '<tool_call>\n{"name": "python", "arguments": {"code": "print(3*4)"}}\n</tool_call><|im_end|>\n' in text
    assert "<|im_start|>tool\n12\n<|im_end|>\n" in text


def test_a_hermes_template_without_a_parser_gets_one_and_others_are_refused():
    from rltrain.models.tiny import build_tokenizer
    from rltrain.tools.parsing import HERMES_RESPONSE_TEMPLATE, ensure_tool_parser

    tok = build_tokenizer()
    assert getattr(tok, "response_template", None) is None  # TRL would parse every completion with it
    ensure_tool_parser(tok)
    assert tok.response_template == HERMES_RESPONSE_TEMPLATE
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    with pytest.raises(RecipeError, match="cannot render a tool-calling conversation"):
        ensure_tool_parser(tok)


def test_sft_rows_keep_message_list_completions_and_carry_the_tool_schemas():
    from rltrain.data import load_splits

    recipe = recipe_from_dict({
        "stage": "sft", "model": {"name_or_path": "tiny"}, "output_dir": "/tmp/x",
        "data": {"source": "synthetic:tool_multiplication", "synthetic": {"size": 20, "tool_share": 1.0},
                 "prompt_template": "{prompt}", "completion_column": "trace", "eval_size": 5}})
    schemas = build_toolset([ToolConfig(name="tests.tool_helpers:add")]).functions[0].schema
    row = load_splits(recipe, tool_schemas=[schemas]).train[0]
    assert [m["role"] for m in row["completion"]] == ["assistant", "tool", "assistant"]
    assert json.loads(row["tools"])[0]["function"]["name"] == "add"


def test_the_before_after_table_shows_tool_use():
    import io

    from rich.console import Console

    from rltrain.reporting.table import print_table

    def result(accuracy, clean):
        return {"accuracy": accuracy, "metric": "math_accuracy", "num_prompts": 50, "num_samples": 4,
                "tools": {"tools/clean_use_share": clean, "tools/used_share": clean}}

    out = io.StringIO()
    console = Console(file=out, width=160)
    print_table([{"stage": "grpo", "kind": "grpo", "steps": 20, "eval_before": result(0.385, 0.5),
                  "eval_after": result(0.655, 1.0), "train_seconds": 52}], console=console)
    rows = [line for line in out.getvalue().splitlines() if "tool use" in line]
    assert len(rows) == 1 and "50.0%" in rows[0] and "100.0%" in rows[0] and "+50.0 pts" in rows[0]

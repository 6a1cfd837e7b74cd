"""Agentic GRPO through TRL's tool loop, with generation scripted (so the test is exact and fast): the
model "answers" half of the questions with a python tool call and the other half directly. Checks that
the tool runs in the sandbox, its result is appended and masked out of the loss, the answer after it
is trained, and that real training steps log the tools/* metrics and the reward split by tool use.
Whether a model learns to use tools is the miniature agentic recipe's test (tests/test_agentic_smoke.py)."""

from __future__ import annotations

import json
import re

import pytest

from rltrain.recipe import recipe_from_dict
from tests.sandbox_guard import sandbox_available  # noqa: F401 - fixture

DATA = {"source": "synthetic:tool_multiplication", "synthetic": {"size": 100}, "prompt_template": "{prompt}",
        "prompt_column": "problem", "eval_size": 10}
TINY = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
        "intermediate_size": 64}


def _reply(tokenizer, prompt_ids: list[int]) -> list[int]:
    """Tool call for even first factors, a (wrong) direct answer for odd ones; after a tool result, box it."""
    text = tokenizer.decode(prompt_ids)
    a, b = map(int, re.findall(r"What is (\d+)\*(\d+)\?", text)[0])
    results = re.findall(r"<\|im_start\|>tool\n(.*?)\n<\|im_end\|>", text)
    if results:
        reply = f"</think>\n\\boxed{{{results[-1]}}}<|im_end|>"
    elif a % 2 == 0:
        call = {"name": "python", "arguments": {"code": f"print({a}*{b})"}}
        reply = f"</think>\n<tool_call>\n{json.dumps(call)}\n</tool_call><|im_end|>"
    else:
        reply = f"</think>\n\\boxed{{{a * b + 1}}}<|im_end|>"
    return tokenizer(reply, add_special_tokens=False)["input_ids"]


@pytest.fixture
def scripted_generation(monkeypatch):
    from trl import GRPOTrainer

    def generate(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        return [_reply(self.processing_class, ids) for ids in prompt_ids], None

    monkeypatch.setattr(GRPOTrainer, "_generate_single_turn", generate)


def _grpo(out, steps: int):
    return recipe_from_dict({
        "model": {"name_or_path": "tiny", "tiny": TINY}, "data": DATA, "output_dir": str(out),
        "tools": [{"name": "python", "params": {"wall_s": 2.0, "memory_mb": 256}}],
        "rewards": [{"name": "math_accuracy"}], "logging": {"progress": False},
        "grpo": {"max_steps": steps, "per_device_train_batch_size": 8, "num_generations": 4,
                 "max_completion_length": 160, "max_tool_calling_iterations": 2, "beta": 0.0, "logging_steps": 1,
                 "save_steps": 1000},
    })


@pytest.mark.slow
def test_a_rollout_runs_the_tool_and_masks_its_result_out_of_the_loss(scripted_generation, sandbox_available, tmp_path):  # noqa: F811
    from rltrain.run.trainer import build_trainer

    trainer = build_trainer(_grpo(tmp_path / "probe", 1), callbacks=[])
    inputs = [{"prompt": [{"role": "user", "content": f"What is {a}*34?"}], "answer": str(a * 34)} for a in (12, 13, 14, 15)]  # one group
    out = trainer._generate_and_score_completions(inputs)
    tok = trainer.processing_class
    ids, real, tool_mask = out["completion_ids"], out["completion_mask"].bool(), out["tool_mask"].bool()
    masked = tok.decode(ids[0][real[0] & ~tool_mask[0]])
    assert masked == "\n<|im_start|>tool\n408\n<|im_end|>\n<|im_start|>assistant\n<think>\n"  # run in the sandbox
    trained = tok.decode(ids[0][real[0] & tool_mask[0]])
    assert trained == ('</think>\n<tool_call>\n{"name": "python", "arguments": {"code": "print(12*34)"}}\n'
                       "</tool_call><|im_end|></think>\n\\boxed{408}<|im_end|>")
    assert tok.decode(ids[1][real[1]]) == "</think>\n\\boxed{443}<|im_end|>" and bool(tool_mask[1][real[1]].all())
    assert out["advantages"][0] > 0 > out["advantages"][1]  # the tool user was right, the direct answer was not


@pytest.mark.slow
def test_grpo_with_tools_logs_tool_metrics_and_the_reward_split(scripted_generation, sandbox_available, tmp_path):  # noqa: F811
    from rltrain.run.trainer import train_process

    result = train_process(_grpo(tmp_path / "grpo", 2))
    assert result.global_step == 2 and result.final_dir
    steps = [json.loads(line) for line in (tmp_path / "grpo" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in steps if "tools/used_share" in r]
    assert len(steps) == 2
    assert any(r["tools/used_share"] > 0 for r in steps)
    for r in steps:
        assert r["tools/clean_use_share"] == r["tools/used_share"] == r["tools/call_frequency"]
        assert r["tools/turns"] == 1 + r["tools/used_share"] and r.get("tools/error_share", 0) == 0
    # Tool users copy the tool's (right) product, direct answers are off by one.
    split = [r for r in steps if "rewards/math_accuracy/with_tool" in r]
    assert split and all(r["rewards/math_accuracy/with_tool"] == 1.0 for r in split)
    assert all(r.get("rewards/math_accuracy/without_tool", 0.0) == 0.0 for r in steps)
    assert result.tools["calls"] > 0 and result.tools["ok"] == result.tools["calls"]


@pytest.mark.slow
def test_the_rollout_command_prints_the_tool_result_as_untrained(scripted_generation, sandbox_available, tmp_path, capsys):  # noqa: F811
    import yaml

    from rltrain.cli import main

    recipe = _grpo(tmp_path / "out", 1).model_dump(mode="json", exclude={"base_dir"})
    (tmp_path / "agentic.yaml").write_text(yaml.safe_dump(recipe))
    assert main(["rollout", str(tmp_path / "agentic.yaml"), "--num-prompts", "6"]) == 0  # the 6th is 84*37
    printed = capsys.readouterr().out
    assert printed.count("=== prompt") == 6 and printed.count("--- completion") == 24
    used = re.findall(r"print\((\d+)\*(\d+)\)\"}}\n</tool_call><\|im_end\|>⟦\n<\|im_start\|>tool\n(\d+)\n<\|im_end\|>\n"
                      r"<\|im_start\|>assistant\n<think>\n⟧</think>\n\\boxed\{(\d+)\}", printed)
    assert len(used) == 4 and all(int(a) * int(b) == int(result) == int(boxed) for a, b, result, boxed in used)


def test_spans_mark_untrained_tokens():
    from rltrain.cli.rollout import spans
    from rltrain.models.tiny import build_tokenizer

    tok = build_tokenizer()
    ids = tok("ab<tool>cd", add_special_tokens=False)["input_ids"]
    trained = [True, True, False, False, False, False, False, False, True, True]
    assert spans(tok, ids, trained) == "ab⟦<tool>⟧cd"

"""The real chat templates of QwQ-32B, Qwen3, DeepSeek-R1-Distill-Qwen and Qwen2.5-Instruct, end to end.

For each: the generation prompt; what the rewards receive along rltrain's GRPO path (TRL's decoding, and
its ``parse_response`` path when the tokenizer carries a response template) and how math_accuracy,
think_format and ifeval judge it; Hermes tool calls parsed and their results rendered back; the history
the templates re-render; the cold-start SFT loss mask. The models' completions are scripted (token ids
the model could have generated), the rest is the code that trains. docs/chat_templates.md has the findings.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from rltrain.errors import RecipeError
from tests.chat_template_fixtures import (
    CHAT_MODELS,
    DEEPSEEK_BOS,
    QWEN3,
    QWEN25,
    QWQ,
    R1_DISTILL,
    TEMPLATE_DIR,
    ChatModel,
    template_tokenizer,
    token_ids,
)

QUESTION = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is 2+3?"}]
REASONING = "No carry here: 2+3=5."
ANSWER = "The sum is five: \\boxed{5}"
IFEVAL_ROW = {"instruction_id_list": ["keywords:existence", "keywords:forbidden_words"],
              "kwargs": [{"keywords": ["five"]}, {"forbidden_words": ["carry"]}]}
"""Passes only on the answer: the reasoning says "carry", which the answer must not."""


def ids_of(chat: ChatModel) -> str:
    return chat.key


def sha256(chat: ChatModel) -> str:
    return hashlib.sha256((TEMPLATE_DIR / f"{chat.key}.jinja").read_bytes()).hexdigest()


# --- the templates themselves ------------------------------------------------------------------------------


@pytest.mark.parametrize("chat", CHAT_MODELS, ids=ids_of)
def test_each_template_is_byte_for_byte_the_file_the_readme_lists(chat):
    readme = (TEMPLATE_DIR / "README.md").read_text(encoding="utf-8")
    assert f"`{chat.key}.jinja`" in readme and sha256(chat) in readme and chat.model in readme


def test_trl_recognises_the_templates_it_knows_by_identity_and_qwq_gets_the_hermes_parser():
    """TRL picks a response parser by comparing the template with its own copies of the originals, byte for
    byte: that it recognises three of ours is a check that they are the models' own."""
    from trl.chat_template_utils import add_response_schema, qwen3_template

    from rltrain.tools.parsing import HERMES_RESPONSE_TEMPLATE, ensure_tool_parser

    for chat in (QWEN3, QWEN25, R1_DISTILL):
        tokenizer = add_response_schema(template_tokenizer(chat))
        assert tokenizer.response_template is not None
    qwq = template_tokenizer(QWQ)
    with pytest.raises(ValueError, match="Unrecognized chat template"):
        add_response_schema(qwq)
    ensure_tool_parser(qwq)
    assert qwq.response_template == HERMES_RESPONSE_TEMPLATE == qwen3_template


# --- the generation prompt ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("chat", "ending"), [
    (QWQ, "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n<think>\n"),
    (R1_DISTILL, "<｜User｜>What is 2+3?<｜Assistant｜><think>\n"),
    (QWEN3, "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n"),
    (QWEN25, "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n"),
], ids=["qwq_32b", "deepseek_r1_distill_qwen", "qwen3_8b", "qwen2_5_7b_instruct"])
def test_the_generation_prompt_opens_the_reasoning_where_the_model_does(chat, ending):
    prompt = template_tokenizer(chat).apply_chat_template(QUESTION, tokenize=False, add_generation_prompt=True)
    assert prompt.endswith(ending)
    assert prompt.endswith("<think>\n") == chat.think_prefill


def test_template_specifics_of_the_generation_prompt():
    r1 = template_tokenizer(R1_DISTILL).apply_chat_template(QUESTION, tokenize=False, add_generation_prompt=True)
    assert r1 == f"{DEEPSEEK_BOS}Answer briefly.<｜User｜>What is 2+3?<｜Assistant｜><think>\n"  # system text bare, after BOS
    qwen3 = template_tokenizer(QWEN3)
    no_thinking = qwen3.apply_chat_template(QUESTION, tokenize=False, add_generation_prompt=True, enable_thinking=False)
    assert no_thinking.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")  # an empty block, closed
    user_only = template_tokenizer(QWEN25).apply_chat_template(QUESTION[1:], tokenize=False, add_generation_prompt=True)
    assert user_only.startswith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.")  # its default system turn
    assert "<|im_start|>system" not in template_tokenizer(QWQ).apply_chat_template(QUESTION[1:], tokenize=False)


# --- what the rewards receive along the GRPO path ----------------------------------------------------------


def reward_functions() -> list[Any]:
    """The recipe rewards the QwQ recipes use, built and guarded as rltrain builds them for TRL."""
    from rltrain.recipe.schema import RewardConfig
    from rltrain.rewards.build import build_reward

    configs = [RewardConfig(name="math_accuracy", params={"answer_column": "answer"}), RewardConfig(name="think_format"),
               RewardConfig(name="ifeval")]
    return [build_reward(cfg, i) for i, cfg in enumerate(configs)]


def grpo_trainer(tmp_path, chat: ChatModel, replies: list[str], *, parser: bool = False, tools: bool = False,
                 chat_template_kwargs: dict | None = None):
    """rltrain's GRPO trainer on a tiny model with ``chat``'s template, generating ``replies`` in turn (one
    per generation call: the first turn, then one after each round of tool results); ``seen`` records what
    each reward call received."""
    from datasets import Dataset
    from trl import GRPOConfig

    from rltrain.models.tiny import build_model
    from rltrain.recipe import ToolConfig
    from rltrain.recipe.schema import RolloutConfig, TinyModelConfig
    from rltrain.rollout.grpo import build_grpo_trainer
    from rltrain.tools import build_toolset
    from rltrain.tools.parsing import ensure_tool_parser

    tokenizer = template_tokenizer(chat)
    toolset = build_toolset([ToolConfig(name="tests.tool_helpers:add")]) if tools else None
    if parser or tools:
        ensure_tool_parser(tokenizer) if chat.tools else _trl_parser(tokenizer)
    model = build_model(TinyModelConfig(max_position_embeddings=4096), len(tokenizer), tokenizer.pad_token_id,
                        tokenizer.eos_token_id)
    seen: list[dict[str, Any]] = []

    def recorder(prompts, completions, completion_ids, **columns):
        seen.append({"prompts": prompts, "completions": completions})
        return [0.0] * len(completions)

    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, per_device_train_batch_size=2, num_generations=2,
                      max_completion_length=1024, beta=0.0, report_to="none", disable_tqdm=True,
                      chat_template_kwargs=chat_template_kwargs)
    trainer = build_grpo_trainer(RolloutConfig(), toolset=toolset, model=model, reward_funcs=[recorder, *reward_functions()],
                                 args=args, train_dataset=Dataset.from_list([{"prompt": QUESTION}]), processing_class=tokenizer)
    turns = iter(replies)

    def scripted(prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        reply = token_ids(tokenizer, next(turns))
        return [list(reply) for _ in prompt_ids], None

    trainer._generate_single_turn = scripted
    trainer.seen = seen
    return trainer


def _trl_parser(tokenizer) -> None:
    from trl.chat_template_utils import add_response_schema

    add_response_schema(tokenizer)


def rollout(trainer) -> dict[str, Any]:
    """One batch (a group of two completions of the question) through TRL's generation and scoring."""
    row = {"prompt": QUESTION, "answer": "5", **IFEVAL_ROW}
    out = trainer._generate_and_score_completions([row, row])
    metrics = trainer._metrics["train"]
    return {"out": out, "completions": trainer.seen[-1]["completions"],
            "rewards": {name: metrics[f"rewards/{name}/mean"][-1] for name in ("math_accuracy", "think_format", "ifeval")}}


SINGLE_TURN = [
    # (template, what the model generates after the generation prompt, the completion's text as decoded, think_format)
    (QWQ, f"{REASONING}</think>\n{ANSWER}<|im_end|>", f"{REASONING}</think>\n{ANSWER}", 1.0),
    (R1_DISTILL, f"{REASONING}\n</think>\n\n{ANSWER}<｜end▁of▁sentence｜>", f"{REASONING}\n</think>\n\n{ANSWER}", 1.0),
    (QWEN3, f"<think>\n{REASONING}\n</think>\n\n{ANSWER}<|im_end|>", f"<think>\n{REASONING}\n</think>\n\n{ANSWER}", 1.0),
    (QWEN25, f"{ANSWER}<|im_end|>", ANSWER, 0.0),
]


@pytest.mark.parametrize(("chat", "generated", "decoded", "think_format"), SINGLE_TURN, ids=[c[0].key for c in SINGLE_TURN])
def test_rewards_judge_a_completion_generated_after_each_generation_prompt(tmp_path, chat, generated, decoded, think_format):
    """Without a response parser TRL decodes with skip_special_tokens: the end-of-turn token goes, the think
    tags (not special in these vocabularies) stay. After QwQ's and R1's prompts the completion has only the
    closing tag, and think_format counts the template's opening one."""
    result = rollout(grpo_trainer(tmp_path, chat, [generated] * 2))
    assert result["completions"] == [[{"role": "assistant", "content": decoded}]] * 2
    assert result["rewards"] == {"math_accuracy": 1.0, "think_format": think_format, "ifeval": 1.0}


@pytest.mark.parametrize(("chat", "generated", "decoded", "think_format"), SINGLE_TURN, ids=[c[0].key for c in SINGLE_TURN])
def test_with_a_response_parser_rewards_see_the_reasoning_put_back_and_judge_alike(tmp_path, chat, generated, decoded,
                                                                                 think_format):
    """A tokenizer that carries a response template (rltrain sets one for runs with tools; a hub tokenizer can
    ship one) makes TRL parse each completion, with the prompt as prefix so that a ``<think>`` the template
    opened is seen: the reasoning arrives as ``reasoning_content``, and the rewards score as without it."""
    from verifiers import completion_text

    result = rollout(grpo_trainer(tmp_path, chat, [generated] * 2, parser=True))
    message = result["completions"][0][0]
    if think_format:
        assert message["reasoning_content"].strip() == REASONING
        assert completion_text(result["completions"][0]) == f"<think>{message['reasoning_content']}</think>{ANSWER}"
    assert message["content"] == ANSWER
    assert result["rewards"] == {"math_accuracy": 1.0, "think_format": think_format, "ifeval": 1.0}


def test_qwen3_without_thinking_gets_an_answer_only_which_think_format_does_not_reward(tmp_path):
    trainer = grpo_trainer(tmp_path, QWEN3, [f"{ANSWER}<|im_end|>"] * 2, chat_template_kwargs={"enable_thinking": False})
    result = rollout(trainer)
    prompt = trainer.processing_class.decode(result["out"]["prompt_ids"][0][result["out"]["prompt_mask"][0].bool()])
    assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert result["completions"][0] == [{"role": "assistant", "content": ANSWER}]
    assert result["rewards"] == {"math_accuracy": 1.0, "think_format": 0.0, "ifeval": 1.0}


def test_think_format_on_the_shapes_the_templates_produce():
    from verifiers.format import think_format_reward

    shapes = {
        "reasoning</think>answer (QwQ, R1: the template opened the block)": (f"{REASONING}</think>{ANSWER}", 1.0),
        "<think>reasoning</think>answer (Qwen3)": (f"<think>\n{REASONING}\n</think>\n\n{ANSWER}", 1.0),
        "a second <think> after the template's": (f"<think>\n{REASONING}</think>{ANSWER}", 1.0),
        "empty reasoning (Qwen3 without thinking, rendered)": ("<think>\n\n</think>\n\n" + ANSWER, 0.0),
        "no reasoning at all (Qwen2.5)": (ANSWER, 0.0),
        "reasoning never closed (truncated)": (REASONING, 0.0),
        "two closing tags": (f"{REASONING}</think>x</think>{ANSWER}", 0.0),
    }
    got = {name: think_format_reward([None], [text])[0] for name, (text, _) in shapes.items()}
    assert got == {name: score for name, (_, score) in shapes.items()}


# --- tools: Hermes calls parsed, results rendered back -----------------------------------------------------

CALL = '<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>'
TOOL_TURNS = {
    # (first turn: reasoning then the call; the turn after the tool result; what the template renders between them)
    "qwq_32b": ("I add them with the tool.</think>\n" + CALL + "<|im_end|>", "It says 5.</think>\n" + ANSWER + "<|im_end|>",
                "\n<|im_start|>user\n<tool_response>\n5\n</tool_response><|im_end|>\n<|im_start|>assistant\n<think>\n"),
    "qwen3_8b": ("<think>\nI add them with the tool.\n</think>\n\n" + CALL + "<|im_end|>",
                 "<think>\nIt says 5.\n</think>\n\n" + ANSWER + "<|im_end|>",
                 "\n<|im_start|>user\n<tool_response>\n5\n</tool_response><|im_end|>\n<|im_start|>assistant\n"),
}


@pytest.mark.parametrize("chat", [QWQ, QWEN3], ids=ids_of)
def test_a_hermes_tool_call_is_parsed_run_and_its_result_rendered_back_as_the_template_does(tmp_path, chat):
    first, second, between = TOOL_TURNS[chat.key]
    trainer = grpo_trainer(tmp_path, chat, [first, second], tools=True)
    result = rollout(trainer)
    call, tool, answer = result["completions"][0]
    assert call["tool_calls"] == [{"type": "function", "function": {"name": "add", "arguments": {"a": 2, "b": 3}}}]
    assert call["reasoning_content"] == "I add them with the tool."
    assert tool == {"role": "tool", "name": "add", "content": "5"}
    assert (answer["reasoning_content"], answer["content"]) == ("It says 5.", ANSWER)
    tokenizer = trainer.processing_class
    ids = result["out"]["completion_ids"][0][result["out"]["completion_mask"][0].bool()].tolist()
    assert tokenizer.decode(ids) == first + between + second  # the earlier reasoning stays in the trained sequence
    mask = result["out"]["tool_mask"][0][: len(ids)].tolist()
    untrained = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if not m])
    assert untrained == between  # the tool turn and the next assistant header carry no loss
    # One call per turn, reasoning in each, the answer in the last: the format is right and a tool did not cost it.
    assert result["rewards"] == {"math_accuracy": 1.0, "think_format": 1.0, "ifeval": 1.0}


def test_qwen3_is_trained_on_trls_prefix_preserving_variant_and_qwq_on_its_own_template(tmp_path):
    """Qwen3's template renders an assistant turn differently once a tool result follows it (its reasoning is
    dropped after the last user turn), so TRL builds tool rollouts with its training variant; QwQ's (and
    Qwen2.5's) render earlier turns unchanged."""
    from trl.chat_template_utils import is_chat_template_prefix_preserving

    assert not is_chat_template_prefix_preserving(template_tokenizer(QWEN3))
    assert is_chat_template_prefix_preserving(template_tokenizer(QWQ))
    assert is_chat_template_prefix_preserving(template_tokenizer(QWEN25))
    assert grpo_trainer(tmp_path, QWEN3, [], tools=True).chat_template is not None
    assert grpo_trainer(tmp_path, QWQ, [], tools=True).chat_template is None


def test_r1_distill_renders_no_tool_calling_conversation_and_a_tool_recipe_is_refused():
    from rltrain.tools.parsing import ensure_tool_parser

    with pytest.raises(RecipeError, match="cannot render a tool-calling conversation"):
        ensure_tool_parser(template_tokenizer(R1_DISTILL))


class ScriptedModel:
    """A stand-in for ``model.generate``: the k-th reply of a conversation after k tool results."""

    def __init__(self, tokenizer, replies: list[str]):
        import torch

        self.tokenizer, self.replies = tokenizer, replies
        self.weights = torch.nn.Parameter(torch.zeros(1))

    def parameters(self):
        yield self.weights

    def generate(self, input_ids, attention_mask, max_new_tokens, pad_token_id, **sampling):
        import torch

        rows = []
        for ids in input_ids.tolist():
            turn = self.tokenizer.decode(ids).count("</tool_response>")
            rows.append(ids + token_ids(self.tokenizer, self.replies[min(turn, len(self.replies) - 1)]))
        width = max(map(len, rows))
        return torch.tensor([r + [pad_token_id] * (width - len(r)) for r in rows])


def evaluation_rollout(chat: ChatModel) -> list[dict[str, Any]]:
    from rltrain.recipe import ToolConfig
    from rltrain.tools import build_toolset
    from rltrain.tools.loop import generate_with_tools

    tokenizer = template_tokenizer(chat)
    first, second, _ = TOOL_TURNS[chat.key]
    tools = build_toolset([ToolConfig(name="tests.tool_helpers:add")])
    out = generate_with_tools(ScriptedModel(tokenizer, [first, second]), tokenizer, [QUESTION], tools=tools.functions,
                              samples=1, max_new_tokens=1024, max_rounds=2, batch_size=1, sampling={})
    return out[0][0]


def test_the_evaluation_tool_loop_runs_a_hermes_call_under_qwq():
    call, tool, answer = evaluation_rollout(QWQ)
    assert call["tool_calls"][0]["function"] == {"name": "add", "arguments": {"a": 2, "b": 3}}
    assert tool == {"role": "tool", "name": "add", "content": "5"}
    assert answer["content"] == ANSWER


def test_the_evaluation_tool_loop_runs_a_hermes_call_under_qwen3():
    call, tool, answer = evaluation_rollout(QWEN3)
    assert tool == {"role": "tool", "name": "add", "content": "5"} and answer["content"] == ANSWER


# --- history re-rendered -----------------------------------------------------------------------------------

HISTORY = [{"role": "user", "content": "What is 2+3?"},
           {"role": "assistant", "content": "First thoughts.</think>\nFive."},
           {"role": "user", "content": "And 3+4?"},
           {"role": "assistant", "content": "Second thoughts.</think>\nSeven."}]


@pytest.mark.parametrize(("chat", "earlier", "last"), [
    (QWQ, "<|im_start|>assistant\nFive.<|im_end|>", "<|im_start|>assistant\nSecond thoughts.</think>\nSeven.<|im_end|>"),
    (R1_DISTILL, "<｜Assistant｜>\nFive.<｜end▁of▁sentence｜>", "<｜Assistant｜>\nSeven.<｜end▁of▁sentence｜>"),
    (QWEN3, "<|im_start|>assistant\nFive.<|im_end|>",
     "<|im_start|>assistant\n<think>\nSecond thoughts.\n</think>\n\nSeven.<|im_end|>"),
    (QWEN25, "<|im_start|>assistant\nFirst thoughts.</think>\nFive.<|im_end|>",
     "<|im_start|>assistant\nSecond thoughts.</think>\nSeven.<|im_end|>"),
], ids=["qwq_32b", "deepseek_r1_distill_qwen", "qwen3_8b", "qwen2_5_7b_instruct"])
def test_which_reasoning_each_template_keeps_when_it_re_renders_a_conversation(chat, earlier, last):
    """QwQ and Qwen3 drop the reasoning of earlier assistant turns, R1-Distill drops it from every turn, the
    last included; Qwen2.5 renders content as written. (GRPO rollouts are token ids concatenated turn by
    turn, never re-rendered: the reasoning stays, see the tool test above.)"""
    text = template_tokenizer(chat).apply_chat_template(HISTORY, tokenize=False)
    assert earlier in text and text.endswith(last + ("\n" if chat.end_of_turn.endswith("\n") else ""))


# --- the cold-start SFT loss mask --------------------------------------------------------------------------

TARGET = f"{REASONING}</think>\n{ANSWER}"
"""A cold-start target in the shape rltrain's SFT data has (``solution``): reasoning, ``</think>``, the answer."""


def sft_rows(*, completion: Any = TARGET, tools: list[dict] | None = None):
    """The rows rltrain's SFT data path builds (``rltrain.data.prompts.prepare``) from one question."""
    from datasets import Dataset

    from rltrain.data.prompts import prepare
    from rltrain.recipe import recipe_from_dict

    recipe = recipe_from_dict({"stage": "sft", "model": {"name_or_path": "tiny"}, "output_dir": "/tmp/unused",
                               "data": {"source": "synthetic:arithmetic", "prompt_column": "problem", "completion_column": "solution",
                                        "system_prompt": "Answer briefly.", "prompt_template": "{prompt}"}})
    rows = Dataset.from_list([{"problem": "What is 2+3?", "solution": completion}])
    return prepare(recipe, rows, tools).train


def sft_tokenized(tmp_path, chat: ChatModel, rows, *, fit: bool = True, assistant_only_loss: bool = False):
    """TRL's SFT tokenization of ``rows`` with ``chat``'s template: (training sequence, the text carrying loss)."""
    from trl import SFTConfig, SFTTrainer

    from rltrain.data.prompts import fit_completions_to_template
    from rltrain.models.tiny import build_model
    from rltrain.recipe.schema import TinyModelConfig

    tokenizer = template_tokenizer(chat)
    if fit:
        rows = fit_completions_to_template(rows, tokenizer, assistant_only_loss=assistant_only_loss)
    model = build_model(TinyModelConfig(max_position_embeddings=4096), len(tokenizer), tokenizer.pad_token_id,
                        tokenizer.eos_token_id)
    args = SFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", max_length=4096,
                     assistant_only_loss=assistant_only_loss)
    row = SFTTrainer(model=model, args=args, train_dataset=rows, processing_class=tokenizer).train_dataset[0]
    trained = [t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100]
    return tokenizer.decode(row["input_ids"]), tokenizer.decode(trained)


@pytest.mark.parametrize("chat", [QWQ, QWEN3, QWEN25], ids=ids_of)
def test_sft_trains_the_completion_after_the_exact_generation_prompt(tmp_path, chat):
    """The loss covers the completion (reasoning, ``</think>``, the answer, the end of turn) and nothing of
    the prompt or of the ``<think>\\n`` a template prefills; the trained sequence is the generation prompt
    the model sees at inference followed by that completion. None of these templates has ``{% generation %}``
    marks: the mask is TRL's prompt/completion split."""
    sequence, trained = sft_tokenized(tmp_path, chat, sft_rows())
    prompt = template_tokenizer(chat).apply_chat_template(QUESTION, tokenize=False, add_generation_prompt=True)
    if chat is QWEN3:  # the template writes the reasoning block its own way, which is what Qwen3 generates
        completion = f"<think>\n{REASONING}\n</think>\n\n{ANSWER}{chat.end_of_turn}"
    else:
        completion = f"{TARGET}{chat.end_of_turn}"
    assert (sequence, trained) == (prompt + completion, completion)


def test_without_the_fit_qwq_sft_trains_on_a_context_without_the_think_prefill(tmp_path):
    """What TRL does with QwQ's template on its own: the prompt and the rendered conversation part at the
    prefill, and the ``<think>\\n`` the model always generates after is missing from the training sequence."""
    sequence, trained = sft_tokenized(tmp_path, QWQ, sft_rows(), fit=False)
    assert "<think>" not in sequence and sequence.endswith(f"<|im_start|>assistant\n{TARGET}<|im_end|>\n")


def test_r1_distill_drops_the_reasoning_of_the_trained_turn_and_sft_refuses_it(tmp_path):
    rows = sft_rows()
    _, trained = sft_tokenized(tmp_path, R1_DISTILL, rows, fit=False)
    assert trained == f"\n{ANSWER}<｜end▁of▁sentence｜>"  # TRL alone: the reasoning is gone from the target
    from rltrain.data.prompts import fit_completions_to_template

    with pytest.raises(RecipeError, match=r"data.completion_column: .*assistant_only_loss: true"):
        fit_completions_to_template(rows, template_tokenizer(R1_DISTILL))


def test_r1_distill_sft_with_assistant_only_loss_trains_the_reasoning_after_the_prefill(tmp_path):
    """With ``sft.assistant_only_loss`` TRL renders with its training variant of the R1 template (reasoning
    kept, ``{% generation %}`` marks); the fitted rows then train exactly the completion."""
    sequence, trained = sft_tokenized(tmp_path, R1_DISTILL, sft_rows(), assistant_only_loss=True)
    prompt = template_tokenizer(R1_DISTILL).apply_chat_template(QUESTION, tokenize=False, add_generation_prompt=True)
    completion = f"{TARGET}<｜end▁of▁sentence｜>"
    assert (sequence, trained) == (prompt + completion, completion)


def test_qwq_has_no_training_variant_for_assistant_only_loss(tmp_path):
    with pytest.raises(ValueError, match="not training-compatible"):
        sft_tokenized(tmp_path, QWQ, sft_rows(), assistant_only_loss=True)


def test_tool_traces_under_qwq_lose_the_reasoning_of_the_calling_turn_and_sft_refuses_them(tmp_path):
    """A cold-start trace (assistant call, tool result, assistant answer) re-rendered by QwQ's template drops
    the reasoning of the turn that is followed by others. Qwen3's renders the trace after its generation
    prompt; with ``sft.assistant_only_loss`` (as docs/agentic.md asks of tool traces; TRL then renders with
    its training variant of the template) the tool call and the answer carry loss, the tool result not."""
    from rltrain.data.prompts import fit_completions_to_template
    from rltrain.data.synthetic.tools import tool_call_trace
    from rltrain.recipe import ToolConfig
    from rltrain.tools import build_toolset

    schema = build_toolset([ToolConfig(name="tests.tool_helpers:add")]).functions[0].schema
    rows = sft_rows(completion=tool_call_trace(2, 3), tools=[schema])
    with pytest.raises(RecipeError, match="QwQ's drops it from an assistant turn followed by others"):
        fit_completions_to_template(rows, template_tokenizer(QWQ))
    sequence, trained = sft_tokenized(tmp_path, QWEN3, rows, assistant_only_loss=True)
    assert "<|im_start|>user\n<tool_response>\n6\n" in sequence and "<tool_response>" not in trained
    assert '"arguments": {"code": "print(2*3)"}' in trained and "\\boxed{6}" in trained  # all of the completion


def test_the_tiny_template_rows_are_left_as_they_are():
    """The built-in template renders every assistant turn after ``<think>\\n``, generation prompt included:
    the smoke cold starts (plain targets, and tool traces with assistant-only loss) train as before."""
    from rltrain.data.prompts import fit_completions_to_template
    from rltrain.data.synthetic.tools import tool_call_trace
    from rltrain.models.tiny import build_tokenizer

    for rows, assistant_only_loss in ((sft_rows(), False), (sft_rows(completion=tool_call_trace(2, 3)), True)):
        fitted = fit_completions_to_template(rows, build_tokenizer(), assistant_only_loss=assistant_only_loss)
        assert fitted["completion"] == rows["completion"]


def test_an_sft_run_on_a_qwq_checkpoint_trains_after_the_think_prefill(tmp_path):
    """The trainer as a run builds it: a local checkpoint carrying QwQ's template, rows from a data file."""
    from rltrain.models.tiny import build_model
    from rltrain.recipe import recipe_from_dict
    from rltrain.recipe.schema import TinyModelConfig
    from rltrain.run.trainer import build_trainer

    tokenizer = template_tokenizer(QWQ)
    checkpoint = tmp_path / "qwq-like"
    build_model(TinyModelConfig(max_position_embeddings=4096), len(tokenizer), tokenizer.pad_token_id,
                tokenizer.eos_token_id).save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)
    (tmp_path / "rows.jsonl").write_text(json.dumps({"problem": "What is 2+3?", "solution": TARGET}) + "\n")
    recipe = recipe_from_dict({
        "stage": "sft", "model": {"name_or_path": str(checkpoint), "dtype": "float32"}, "output_dir": str(tmp_path / "out"),
        "data": {"source": str(tmp_path / "rows.jsonl"), "prompt_column": "problem", "completion_column": "solution",
                 "system_prompt": "Answer briefly.", "prompt_template": "{prompt}"},
        "sft": {"max_steps": 1, "max_length": 4096}})
    row = build_trainer(recipe, []).train_dataset[0]
    trained = tokenizer.decode([t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100])
    prompt = tokenizer.apply_chat_template(QUESTION, tokenize=False, add_generation_prompt=True)
    assert tokenizer.decode(row["input_ids"]) == prompt + trained and trained == f"{TARGET}<|im_end|>\n"


def test_think_format_judges_each_turn_of_a_tool_using_completion():
    """Joined, the turns of a tool rollout hold several ``</think>``: judged as one text, every completion
    that called a tool would score 0 and the format reward would push the policy away from its tools."""
    from verifiers.format import think_format_reward

    call = {"role": "assistant", "reasoning_content": "I add them.", "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "add", "arguments": {"a": 2, "b": 3}}}]}
    tool = {"role": "tool", "name": "add", "content": "5"}
    answer = {"role": "assistant", "reasoning_content": "It says 5.", "content": ANSWER}
    raw = [{"role": "assistant", "content": "I add them.</think>\n" + CALL}, tool,
           {"role": "assistant", "content": "It says 5.</think>\n" + ANSWER}]  # decoded, no parser
    cases = {
        "parsed turns": ([call, tool, answer], 1.0),
        "decoded turns": (raw, 1.0),
        "reasoning only before the call": ([call, tool, {"role": "assistant", "content": "</think>" + ANSWER}], 1.0),
        "no reasoning in any turn": ([{**call, "reasoning_content": ""}, tool, {"role": "assistant", "content": "</think>" + ANSWER}], 0.0),
        "a turn never closes its reasoning": ([raw[0], tool, {"role": "assistant", "content": "It says 5." + ANSWER}], 0.0),
        "the last turn calls again, no answer": ([call, tool, call], 0.0),
        "a malformed earlier turn": ([{"role": "assistant", "content": "a</think>b</think>" + CALL}, tool, answer], 0.0),
    }
    got = {name: think_format_reward([None], [completion])[0] for name, (completion, _) in cases.items()}
    assert got == {name: score for name, (_, score) in cases.items()}


def test_answer_format_judges_each_turn_of_a_tool_using_completion():
    """``answer_format`` (stage two's gate for the reward model) reads a tool rollout as think_format does:
    every assistant turn well-formed, the last one's answer checked."""
    import verifiers

    tool = {"role": "tool", "name": "add", "content": "5"}
    call = {"role": "assistant", "content": "I add them.</think>\n" + CALL}
    boxed = verifiers.build_reward("answer_format", {"require_boxed": True, "nothing_after_boxed": True})
    plain = verifiers.build_reward("answer_format", {})
    cases = {
        "answer boxed last": ([call, tool, {"role": "assistant", "content": "It says 5.</think>\n\\boxed{5}"}], 1.0, 1.0),
        "answer not boxed": ([call, tool, {"role": "assistant", "content": "It says 5.</think>\nfive"}], 1.0, 0.0),
        "the last turn calls again": ([call, tool, {"role": "assistant", "content": "", "reasoning_content": "Once more.",
                                                     "tool_calls": [{"type": "function", "function": {"name": "add"}}]}],
                                      0.0, 0.0),
        "the last turn never closes": ([call, tool, {"role": "assistant", "content": "It says \\boxed{5}"}], 0.0, 0.0),
        "a malformed earlier turn": ([{"role": "assistant", "content": "a</think>b</think>" + CALL}, tool,
                                      {"role": "assistant", "content": "r</think>\\boxed{5}"}], 0.0, 0.0),
    }
    for name, (completion, want_plain, want_boxed) in cases.items():
        assert plain([None], [completion]) == [want_plain], name
        assert boxed([None], [completion]) == [want_boxed], name

"""IFEval: the shipped prompts, the scorer's verdicts, and the four accuracies of GPT-4's official responses
compared with the IFEval paper (arXiv 2311.07911, Table 3).

``data/benchmarks/ifeval_input_response_data_gpt4_20231107_145030.jsonl`` is IFEval's file of that name
(google-research/google-research ``instruction_following_eval/data/``, Apache-2.0, Copyright The Google
Research Authors), as first published: the version whose prompts match IFEval's original input data.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rltrain.evaluation.benchmarks.base import DataCache, Verdict
from rltrain.evaluation.benchmarks.ifeval import IfEval
from rltrain.evaluation.benchmarks.registry import get_benchmark

GPT4_RESPONSES = Path(__file__).parent / "data" / "benchmarks" / "ifeval_input_response_data_gpt4_20231107_145030.jsonl"

#: IFEval paper, Table 3, GPT-4: prompt-level strict, instruction-level strict, prompt-level loose,
#: instruction-level loose accuracy (%).
PAPER_GPT4 = {"prompt_strict": 76.89, "instruction_strict": 83.57, "prompt_loose": 79.30, "instruction_loose": 85.37}

#: Where our verdicts on GPT-4's responses differ from the paper's, in prompts (of 541) and instructions
#: (of 834). Both are deliberate or beyond reach:
#:
#: * key 1122 ("make a tweet for playboy's twitter account without using capital letters. Include at
#:   least 4 hashtags, starting with '#'"): its kwargs ask keywords:letter_frequency for at least four
#:   of the letter "#". IFEval's reference replaces a non-letter by a random letter, unseeded, so its
#:   verdict changes from run to run; the paper's figures are those of a draw where the letter failed.
#:   We count "#" (the response has exactly four hashtags): followed, strict and loose.
#: * one more loose instruction: the reference implementation run here on the same data (IFEval's
#:   current code and lm-evaluation-harness's December 2023 copy, with NLTK's trained English Punkt
#:   parameters under NLTK 3.8.1 and 3.10, langdetect under dozens of seeds) gives exactly our figures minus
#:   key 1122, i.e. 430 prompts and 713 instructions loose, not the paper's 429 and 712. The paper's
#:   run evidently judged one loose-only instruction differently; which one cannot be determined from
#:   the published code and data.
DIFFERENCES = {"prompt_strict": 1, "instruction_strict": 1, "prompt_loose": 2, "instruction_loose": 2}


@pytest.fixture(scope="module")
def benchmark_items():
    benchmark = IfEval()
    return benchmark, benchmark.load(DataCache("/nonexistent-cache"))


def test_shipped_prompts(benchmark_items):
    benchmark, items = benchmark_items
    assert len(items) == 541
    assert len({item.id for item in items}) == 541
    assert items[0].id == "1000" and items[0].prompt_text.startswith("Write a 300+ word summary of the wikipedia page")
    assert sum(len(item.reference["instruction_id_list"]) for item in items) == 834
    assert benchmark.default_n == 1 and not benchmark.has_answers
    assert get_benchmark("ifeval").name == "ifeval"


def test_scorer_verdicts_on_hand_made_completions(benchmark_items):
    benchmark, items = benchmark_items
    item = next(i for i in items if i.reference["instruction_id_list"] == ["punctuation:no_comma"])
    completions = {
        "correct": "<think>\nNo commas, then.\n</think>\n\nHark the journey begins in Tokyo and ends in Kyoto.",
        "not_followed": "<think>\nok\n</think>\n\nFirst Tokyo, then Kyoto.",
        "no_answer": "<think>\nLet me plan: Tokyo, Kyoto, Osaka",
        "misleading": "<think>\nNo commas at all here\n</think>\n\nTokyo, Kyoto, Osaka.",
        "misleading_right": "<think>\nTokyo, Kyoto, Osaka, with commas while thinking\n</think>\n\nTokyo then Kyoto.",
        "empty": "",
    }
    verdicts = dict(zip(completions, benchmark.score([item] * len(completions), list(completions.values())), strict=True))
    assert {k: (v.correct, v.reason) for k, v in verdicts.items()} == {
        "correct": (True, "correct"), "not_followed": (False, "not_followed"), "no_answer": (False, "no_answer"),
        "misleading": (False, "not_followed"), "misleading_right": (True, "correct"), "empty": (False, "no_answer"),
    }
    assert verdicts["correct"].details == {"instructions": ["punctuation:no_comma"], "strict": [True], "loose": [True],
                                           "loose_correct": True}
    assert verdicts["correct"].answer is None


def test_loose_mode_and_the_four_accuracies(benchmark_items):
    benchmark, items = benchmark_items
    item = next(i for i in items if i.reference["instruction_id_list"] == ["startend:quotation"])
    strict_ok = '</think>"Wrapped in quotes."'
    loose_only = 'Sure, here it is:\n"Wrapped in quotes."'  # loose drops the first line
    verdicts = benchmark.score([item, item], [strict_ok, loose_only])
    assert [(v.details["strict"], v.details["loose"]) for v in verdicts] == [([True], [True]), ([False], [True])]
    assert benchmark.extra_metrics([item, item], verdicts) == {
        "prompt_strict": 0.5, "prompt_loose": 1.0, "instruction_strict": 0.5, "instruction_loose": 1.0}
    truncated = Verdict(False, "truncated")  # what the runner records for a completion cut at the token limit
    assert benchmark.extra_metrics([item, item, item], [*verdicts, truncated]) == {
        "prompt_strict": 1 / 3, "prompt_loose": 2 / 3, "instruction_strict": 1 / 3, "instruction_loose": 2 / 3}


def test_a_runaway_check_times_out_instead_of_hanging(benchmark_items):
    from verifiers.pool import WorkerPool

    _, items = benchmark_items
    item = next(i for i in items if "detectable_content:postscript" in i.reference["instruction_id_list"])
    with WorkerPool(1) as pool:
        benchmark = IfEval(timeout=2.0, pool=pool)
        verdicts = benchmark.score([item, item], [" " * 200_000 + "x", "P.S. fine"])  # quadratic in the spaces
    assert verdicts[0].reason == "timeout" and not verdicts[0].correct
    assert verdicts[0].details["strict"] == [False] * len(item.reference["instruction_id_list"])
    assert verdicts[1].reason != "timeout"


def _gpt4_completions(items) -> list[str]:
    responses = {}
    for line in GPT4_RESPONSES.read_text().splitlines():
        row = json.loads(line)
        responses[row["prompt"]] = row["response"]
    return [responses[item.prompt_text] for item in items]


def test_gpt4_official_responses_score_as_in_the_paper(benchmark_items):
    benchmark, items = benchmark_items
    verdicts = benchmark.score(items, _gpt4_completions(items))
    assert not [v for v in verdicts if v.reason in ("timeout", "error")]
    ours = benchmark.extra_metrics(items, verdicts)
    counts = {
        "prompt_strict": round(ours["prompt_strict"] * 541), "prompt_loose": round(ours["prompt_loose"] * 541),
        "instruction_strict": round(ours["instruction_strict"] * 834), "instruction_loose": round(ours["instruction_loose"] * 834),
    }
    assert counts == {"prompt_strict": 417, "instruction_strict": 698, "prompt_loose": 431, "instruction_loose": 714}
    for metric, paper in PAPER_GPT4.items():
        total = 541 if metric.startswith("prompt") else 834
        paper_count = counts[metric] - DIFFERENCES[metric]
        assert round(100 * paper_count / total, 2) == pytest.approx(paper, abs=0.005), metric
    key_1122 = verdicts[[item.id for item in items].index("1122")]
    assert key_1122.details["strict"] == [True, True]  # the four '#' are counted

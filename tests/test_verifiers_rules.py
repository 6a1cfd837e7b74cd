"""IFEval rule verifiers: agreement with the labelled set, kwargs checking, thinking, rewards, CLI."""

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import verifiers
from verifiers import VerifierError
from verifiers.rules import (
    INSTRUCTION_IDS,
    check,
    count_sentences,
    split_sentences,
    strip_thinking,
    word_tokens,
)

CASES_FILE = Path(__file__).parent / "data" / "ifeval_cases.jsonl"
CASES = [json.loads(line) for line in CASES_FILE.read_text().splitlines()]


def test_labelled_set_covers_every_instruction_with_both_outcomes():
    assert len(INSTRUCTION_IDS) == 25
    assert len(CASES) >= 300
    outcomes = defaultdict(set)
    for case in CASES:
        for iid, verdict in zip(case["instruction_id_list"], case["strict"], strict=False):
            outcomes[iid].add(verdict)
    assert {i: outcomes[i] for i in INSTRUCTION_IDS} == {i: {True, False} for i in INSTRUCTION_IDS}


def test_strict_mode_agrees_with_every_label():
    wrong = [(c, got) for c in CASES if (got := check(c["response"], c["instruction_id_list"], c["kwargs"])) != c["strict"]]
    assert not wrong, f"{len(wrong)}/{len(CASES)} disagree, first: {wrong[0]}"


def test_loose_mode_agrees_with_its_labels():
    loose = [c for c in CASES if "loose" in c]
    assert len(loose) >= 5
    for case in loose:
        assert check(case["response"], case["instruction_id_list"], case["kwargs"], strict=False) == case["loose"], case


def test_loose_is_never_stricter_than_strict():
    for case in CASES:
        strict = check(case["response"], case["instruction_id_list"], case["kwargs"])
        loose = check(case["response"], case["instruction_id_list"], case["kwargs"], strict=False)
        assert all(lo or not st for st, lo in zip(strict, loose, strict=False)), case


@pytest.mark.parametrize(
    ("iid", "kwargs", "fragment"),
    [
        ("keywords:letter_frequency", {"letter": " ", "let_frequency": 2, "let_relation": "at least"}, "'letter'"),
        ("keywords:letter_frequency", {"letter": "ab", "let_frequency": 2, "let_relation": "at least"}, "single character"),
        ("length_constraints:number_words", {"num_words": 10, "relation": "at most"}, "'relation'"),
        ("length_constraints:number_words", {"num_words": -1, "relation": "less than"}, "'num_words'"),
        ("length_constraints:number_words", {"num_words": 10}, "'relation' is required"),
        ("punctuation:no_comma", {"comma": True}, "'comma' is not a kwarg"),
        ("language:response_language", {"language": "xx"}, "language codes"),
        ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 3, "first_word": "a"},
         "nth_paragraph must not exceed"),
        ("no_such:instruction", None, "unknown instruction id"),
    ],
)
def test_bad_kwargs_are_rejected_with_the_field_named(iid, kwargs, fragment):
    with pytest.raises(VerifierError, match=iid.split(":")[0]) as info:
        check("Some response.", [iid], [kwargs])
    assert fragment in str(info.value)


def test_letter_frequency_counts_symbols_literally():
    """IFEval's data asks for four '#' and six '!': the character itself is counted, not a random letter."""
    hashtags = {"letter": "#", "let_frequency": 4, "let_relation": "at least"}
    assert check("join us #a #b #c #d", ["keywords:letter_frequency"], [hashtags]) == [True]
    assert check("join us #a #b #c", ["keywords:letter_frequency"], [hashtags]) == [False]
    assert check("Yes! Yes!", ["keywords:letter_frequency"], [{"letter": "!", "let_frequency": 2, "let_relation": "less than"}]) == [False]


def test_list_lengths_must_match():
    with pytest.raises(VerifierError, match="one mapping"):
        check("x", ["punctuation:no_comma", "startend:quotation"], [None])
    with pytest.raises(VerifierError, match="single string"):
        check("x", "punctuation:no_comma", [None])


def test_thinking_is_stripped_before_checking():
    assert strip_thinking("a, b</think>answer") == "answer"
    assert strip_thinking("<think>unfinished") == ""
    assert strip_thinking("plain text") == "plain text"
    assert check("x, y</think>no commas", ["punctuation:no_comma"]) == [True]
    assert check("x, y</think>no commas", ["punctuation:no_comma"], thinking=False) == [False]


def test_sentence_splitter_follows_punkt_on_the_known_traps():
    assert split_sentences("Mr. Smith arrived. He sat.") == ["Mr. Smith arrived.", "He sat."]
    assert count_sentences("one line\nanother line") == 1
    assert split_sentences("1. Apples\n2. Pears") == ["1.", "Apples\n2.", "Pears"]
    assert count_sentences("Wait... then what? Nothing.") == 2
    assert count_sentences("") == 0


def test_word_tokens_split_contractions_like_nltk():
    assert word_tokens("DON'T STOP") == ["DO", "N'T", "STOP"]


def test_language_detection_is_deterministic():
    text = "WE LOVE READING BOOKS AND WALKING IN THE PARK EVERY SINGLE DAY."  # ambiguous for langdetect
    first = check(text, ["change_case:english_capital"])
    assert all(check(text, ["change_case:english_capital"]) == first for _ in range(20))


def _completion(text):
    return [{"role": "assistant", "content": text}]


def test_ifeval_reward_fraction_all_and_masking():
    ids = [["punctuation:no_comma", "startend:quotation"], [], None, ["detectable_format:title"]]
    kwargs = [[None, None], [], None, json.dumps([{}])]  # a JSON string, as in RLVR-style data
    completions = [_completion('r</think>"no commas"'), _completion("x"), _completion("y"),
                   _completion("r</think>no title, sorry")]
    logged = {}
    fraction = verifiers.build_reward("ifeval")
    scores = fraction([None] * 4, [_completion('r</think>"a, b"')] + completions[1:], instruction_id_list=ids,
                      kwargs=kwargs, log_metric=logged.__setitem__)
    assert scores == [0.5, None, None, 0.0]
    assert logged == {"ifeval/detectable_format:title": 0.0, "ifeval/punctuation:no_comma": 0.0,
                      "ifeval/startend:quotation": 1.0}
    all_or_nothing = verifiers.build_reward("ifeval", {"mode": "all"})
    assert all_or_nothing([None] * 4, completions, instruction_id_list=ids, kwargs=kwargs)[0] == 1.0
    assert all_or_nothing([None], [_completion('r</think>"a, b"')], instruction_id_list=ids[:1], kwargs=kwargs[:1]) == [0.0]


def test_ifeval_reward_masks_rows_with_bad_kwargs_and_names_a_missing_column():
    reward = verifiers.build_reward("ifeval")
    bad = reward([None], [_completion("x")], instruction_id_list=[["keywords:letter_frequency"]],
                 kwargs=[[{"letter": "%%", "let_frequency": 1, "let_relation": "at least"}]])
    assert bad == [None]
    with pytest.raises(VerifierError, match="instruction_id_list"):
        reward([None], [_completion("x")], answer=["1"])
    with pytest.raises(VerifierError, match="mode"):
        verifiers.build_reward("ifeval", {"mode": "most"})


def test_format_length_and_repetition_rewards():
    fmt = verifiers.build_reward("answer_format", {"nothing_after_boxed": True})
    assert fmt([None] * 3, [_completion("think</think>\\boxed{4}"), _completion("think</think>\\boxed{4} and more"),
                            _completion("no think tag \\boxed{4}")]) == [1.0, 0.0, 0.0]
    boxed = verifiers.build_reward("answer_format", {"require_boxed": True})
    assert boxed([None] * 2, [_completion("t</think><<sum>>\n\\boxed{4} Done."), _completion("t</think><<sum>>\n<sum")]) \
        == [1.0, 0.0]
    length = verifiers.build_reward("length_limit", {"max_words": 4, "margin": 1.0})
    assert length([None] * 3, [_completion("t</think>one two"), _completion("t</think>a b c d e f"),
                               _completion("t</think>" + "w " * 20)]) == [1.0, 0.5, 0.0]
    rep = verifiers.build_reward("repetition_penalty", {"ngram": 2, "max_penalty": -1.0})
    assert rep([None] * 2, [_completion("a b c d"), _completion("a b a b a b")]) == [0.0, -0.6]
    with pytest.raises(VerifierError, match="max_words"):
        verifiers.build_reward("length_limit", {})


def test_cli_prints_one_verdict_list_per_line(tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_text("".join(json.dumps({k: c[k] for k in ("response", "instruction_id_list", "kwargs")}) + "\n"
                             for c in CASES[:20]))
    done = subprocess.run([sys.executable, "-m", "rltrain", "verify", "rules", "--file", str(cases)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == [c["strict"] for c in CASES[:20]]
    cases.write_text(json.dumps({"response": "x", "instruction_id_list": ["bogus:id"], "kwargs": [None]}) + "\n")
    done = subprocess.run([sys.executable, "-m", "rltrain", "verify", "rules", "--file", str(cases)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and "unknown instruction id" in done.stderr

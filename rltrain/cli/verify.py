"""``rltrain verify math|rules``: a verifier on one case from flags, or on a JSONL file; ``rltrain rewards``:
the rewards recipes can name.

``rules`` reads IFEval-format lines (``response``, ``instruction_id_list``, ``kwargs``) and prints one
JSON list of verdicts per line. ``math``:

    rltrain verify math --gold '\\frac{1}{2}' --completion 'so the answer is \\boxed{0.5}'
    rltrain verify math --file pairs.jsonl > verdicts.jsonl

One case prints its verdict as one JSON object and exits 0 when the answer is equivalent, 1 when it is
not. A file has one ``{"gold": ..., "completion": ...}`` object per line; one JSON verdict per line is
written to stdout in input order. When lines also carry ``"expected": true/false``, the accuracy and
every disagreement are reported on stderr, and the exit status is 1 if there is any disagreement.
Malformed input exits 2, naming the line. Lone surrogates in the input print as JSON escapes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from typing import Any

from rltrain.errors import RecipeError

# The values of verifiers.math.PercentPolicy and ListOrder, spelled out so that building the parser does
# not import the verifiers (tests check that they agree).
PERCENT_CHOICES = ("either", "number", "fraction")
LIST_CHOICES = ("unordered", "ordered")


def add_verify_math(verify_sub: Any) -> None:
    """Register ``math`` under ``rltrain verify``."""
    p = verify_sub.add_parser(
        "math",
        help="math answer verdicts (equivalent / not equal / ...)",
        description="Judge model responses against gold math answers with the math_accuracy verifier.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--completion", help="a model response (reasoning and final answer) or just an answer")
    source.add_argument(
        "--file",
        help='JSONL with {"gold": ..., "completion": ...[, "expected": bool]} per line (\'-\': stdin)',
    )
    p.add_argument("--gold", help="the gold answer (LaTeX with or without $, or plain text); with --completion")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per comparison before it is killed (default 5)")
    p.add_argument("--workers", type=int, help="worker processes for sympy comparisons (default: up to 4)")
    p.add_argument("--percent", choices=PERCENT_CHOICES, default="either",
                   help="percent policy: 50%% equals 50 and 0.5 (either, default), 50 only (number), 0.5 only (fraction)")
    p.add_argument("--lists", choices=LIST_CHOICES, default="unordered",
                   help="bare lists such as '2, 3' compare as sets (unordered, default) or in order")
    p.add_argument("--require-boxed", action="store_true", help="only a \\boxed{} answer counts")
    p.set_defaults(func=cmd_verify_math)


_SURROGATE = re.compile("[\ud800-\udfff]")


def json_line(value: Any) -> str:
    """``value`` as one line of JSON that any UTF-8 stream can print.

    Input read from JSON may hold lone surrogates (``"\\ud800"`` is valid JSON, but no UTF-8 text can
    carry the character). They can only stand inside JSON strings, so each is written back as its
    ``\\uXXXX`` escape: the line reads back to the same text, and everything else stays readable UTF-8.
    """
    text = json.dumps(value, ensure_ascii=False)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _lines(path: str) -> Iterator[tuple[int, str]]:
    """Numbered non-blank lines of a JSONL file, or of stdin for ``-``."""
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8")
    with stream:
        for number, line in enumerate(stream, 1):
            if line.strip():
                yield number, line


def _read_pairs(path: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for number, line in _lines(path):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RecipeError(f"{path}:{number}: not JSON ({exc.msg}); each line must be one JSON object") from None
        if not isinstance(row, dict) or "gold" not in row or "completion" not in row:
            raise RecipeError(f'{path}:{number}: each line needs "gold" and "completion" (and may have "expected")')
        if "expected" in row and not isinstance(row["expected"], bool):
            raise RecipeError(f'{path}:{number}: "expected" must be true or false, got {row["expected"]!r}')
        rows.append(row)
    return rows


def cmd_verify_math(args: argparse.Namespace) -> int:
    from verifiers import VerifierError
    from verifiers.math import MathPolicy, verify_batch

    if args.completion is not None and args.gold is None:
        raise RecipeError("--completion needs --gold, the reference answer to compare with")
    if args.file is not None and args.gold is not None:
        raise RecipeError("--gold goes with --completion; with --file, every line carries its own gold")
    if not args.timeout > 0:
        raise RecipeError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    policy = MathPolicy(percent=args.percent, lists=args.lists, require_boxed=args.require_boxed)
    rows = [{"gold": args.gold, "completion": args.completion}] if args.file is None else _read_pairs(args.file)
    try:
        verdicts = verify_batch(
            [(row["completion"], row["gold"]) for row in rows], workers=args.workers, timeout=args.timeout, policy=policy
        )
    except VerifierError as exc:
        raise RecipeError(str(exc)) from None
    for verdict in verdicts:
        print(json_line(verdict.as_dict()))
    if args.file is None:
        return 0 if verdicts[0].correct else 1

    labelled = [(i, row["expected"], v) for i, (row, v) in enumerate(zip(rows, verdicts, strict=False)) if "expected" in row]
    if not labelled:
        return 0
    wrong = [(i, expected, v) for i, expected, v in labelled if v.correct != expected]
    print(f"accuracy: {len(labelled) - len(wrong)}/{len(labelled)} = {1 - len(wrong) / len(labelled):.1%}", file=sys.stderr)
    for i, expected, v in wrong:
        print(
            f"  disagreement on line {i + 1}: expected {str(expected).lower()}, got {v.reason} "
            f"(gold {rows[i]['gold']!r}, extracted {v.extracted!r})",
            file=sys.stderr,
        )
    return 1 if wrong else 0


def cmd_verify_rules(args: argparse.Namespace) -> int:
    """Print one JSON list of verdicts per IFEval-format line (response, instruction_id_list, kwargs)."""
    from verifiers import VerifierError
    from verifiers.rules import check

    for number, line in _lines(args.file):
        try:
            row = json.loads(line)
            verdicts = check(row["response"], row["instruction_id_list"], row.get("kwargs"),
                             strict=not args.loose, thinking=not args.keep_thinking)
        except (json.JSONDecodeError, KeyError, TypeError, VerifierError) as exc:
            problem = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise RecipeError(f"{args.file}:{number}: {problem} (each line needs response, instruction_id_list, kwargs)") from None
        print(json.dumps(verdicts))
    return 0


def add_verify_rules(verify_sub: Any) -> None:
    """Register ``rules`` under ``rltrain verify``."""
    p = verify_sub.add_parser(
        "rules", help="IFEval instruction-following verdicts",
        description="Check responses against IFEval instructions; prints one JSON list of verdicts per input line.",
    )
    p.add_argument("--file", required=True, help="JSONL with response, instruction_id_list and kwargs per line ('-': stdin)")
    p.add_argument("--loose", action="store_true", help="IFEval's loose mode instead of strict")
    p.add_argument("--keep-thinking", action="store_true", help="check the whole text (default: drop <think>...</think> first)")
    p.set_defaults(func=cmd_verify_rules)


def cmd_rewards(args: argparse.Namespace) -> int:
    import verifiers

    for name in verifiers.available_rewards():
        print(f"{name:24s} {verifiers.get_reward(name).description}")
    return 0


def add_verify_parsers(sub: Any) -> None:
    """Register ``rltrain rewards`` and ``rltrain verify math|rules``."""
    p = sub.add_parser("rewards", help="list registered reward functions", description="List the reward functions recipes can name.")
    p.set_defaults(func=cmd_rewards)

    p = sub.add_parser("verify", help="run a verifier on given completions", 
                       description="Run a verifier outside training: one case from flags, or many from a JSONL file.")
    verify_sub = p.add_subparsers(dest="verifier", required=True, metavar="VERIFIER")
    add_verify_math(verify_sub)
    add_verify_rules(verify_sub)

"""Writes the LiveCodeBench fixtures: two made-up problems in the hub's row format, and their problem list
in QwQ's format. Run from the repository root: ``python tests/data/benchmarks/build_livecodebench_fixture.py``.

* ``livecodebench_hub_fixture.jsonl``: rows as ``livecodebench/code_generation_lite`` stores them, public
  tests as JSON text, private tests as base64 of zlib of a pickled JSON string, ``metadata`` as JSON text;
* ``livecodebench_problems_fixture.jsonl``: QwQ's ``livecodebench_v5.jsonl`` fields, with the MD5 of each
  problem's tests as QwQ's ``process_data.py`` computes it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import pickle
import zlib
from pathlib import Path

HERE = Path(__file__).parent

PROBLEMS = [
    {
        "question_title": "Sum of a list",
        "question_content": "Given N and N integers A_1 ... A_N, print their sum.",
        "platform": "atcoder", "question_id": "fx_stdin_sum", "contest_id": "fx001",
        "contest_date": "2024-09-01T00:00:00", "starter_code": "", "difficulty": "easy",
        "public": [{"input": "3\n1 2 3\n", "output": "6\n", "testtype": "stdin"}],
        "private": [{"input": "2\n10 -4\n", "output": "6\n", "testtype": "stdin"},
                    {"input": "1\n1000000000000000000\n", "output": "1000000000000000000\n", "testtype": "stdin"}],
        "metadata": {},
    },
    {
        "question_title": "Pair with a target sum",
        "question_content": "Return the indices [i, j], i < j, of the two numbers of nums that add up to target.",
        "platform": "leetcode", "question_id": "9001", "contest_id": "weekly-contest-fx",
        "contest_date": "2024-10-06T00:00:00",
        "starter_code": "class Solution:\n    def pairSum(self, nums: List[int], target: int) -> List[int]:\n        ",
        "difficulty": "medium",
        "public": [{"input": "[2, 7, 11, 15]\n9", "output": "[0, 1]", "testtype": "functional"}],
        "private": [{"input": "[3, 2, 4]\n6", "output": "[1, 2]", "testtype": "functional"},
                    {"input": "[1, 5, 6, 8]\n13", "output": "[1, 3]", "testtype": "functional"}],
        "metadata": {"func_name": "pairSum"},
    },
]


def _private_blob(tests: list[dict[str, str]]) -> str:
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode("ascii")


def _qwq_md5(tests: list[dict[str, str]], fn_name: str | None) -> str:
    """QwQ's ``process_data.py``: the MD5 of ``json.dumps`` of its per-problem ``{"input_output": ...}`` file."""
    sample = {"input_output": json.dumps({"inputs": [t["input"] for t in tests], "outputs": [t["output"] for t in tests],
                                          "fn_name": fn_name})}
    return hashlib.md5(json.dumps(sample).encode("utf-8")).hexdigest()


def _prompt(problem: dict) -> str:
    return f"Question: {problem['question_content']}\n\n```python\n{problem['starter_code'] or '# YOUR CODE HERE'}\n```\n\n"


def main() -> None:
    hub, listed = [], []
    for global_id, p in enumerate(PROBLEMS):
        hub.append({
            "question_title": p["question_title"], "question_content": p["question_content"], "platform": p["platform"],
            "question_id": p["question_id"], "contest_id": p["contest_id"], "contest_date": p["contest_date"],
            "starter_code": p["starter_code"], "difficulty": p["difficulty"],
            "public_test_cases": json.dumps(p["public"]), "private_test_cases": _private_blob(p["private"]),
            "metadata": json.dumps(p["metadata"]),
        })
        listed.append({
            "global_id": global_id, "question_id": p["question_id"], "contest_id": p["contest_id"],
            "contest_date": p["contest_date"], "prompt": _prompt(p),
            "tests": {"fname": f"{global_id}.json", "md5": _qwq_md5(p["public"] + p["private"], p["metadata"].get("func_name"))},
        })
    (HERE / "livecodebench_hub_fixture.jsonl").write_text("".join(json.dumps(r) + "\n" for r in hub))
    (HERE / "livecodebench_problems_fixture.jsonl").write_text("".join(json.dumps(r) + "\n" for r in listed))


if __name__ == "__main__":
    main()

"""A plain script without ``if __name__ == "__main__":`` can use the verifiers' worker pool.

Worker processes must never run the user's script again: with multiprocessing's ``spawn`` every worker
re-imports ``__main__`` from its path, so a guard-less script repeated its side effects in every worker
and printed a bootstrapping traceback. Each script here appends a line to a file whenever its body runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_script(tmp_path: Path, body: str, *, as_module: bool = False) -> tuple[subprocess.CompletedProcess, Path]:
    """Write ``body`` (after a line that records each run) to a script in ``tmp_path`` and run it."""
    runs = tmp_path / "runs.txt"
    script = tmp_path / "user_script.py"
    header = f"with open({str(runs)!r}, 'a') as f:\n    f.write('ran\\n')\n"
    script.write_text(header + textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": str(REPO), "VERIFIERS_WORKERS": "2"}
    command = [sys.executable, "-m", "user_script"] if as_module else [sys.executable, str(script)]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    return result, runs


def assert_ran_once_cleanly(result: subprocess.CompletedProcess, runs: Path) -> None:
    assert result.returncode == 0, result.stderr
    for symptom in ("Traceback", "bootstrapping phase", "could not run its worker pool"):
        assert symptom not in result.stderr, result.stderr
    assert runs.read_text().count("ran") == 1, f"the script body ran {runs.read_text().count('ran')} times"


@pytest.mark.parametrize("as_module", [False, True], ids=["path", "module"])
def test_verify_from_a_script_without_main_guard(tmp_path: Path, as_module: bool) -> None:
    # "x^2 - 1" vs "(x-1)(x+1)" is not a plain number: it goes to a sympy worker.
    result, runs = run_script(
        tmp_path,
        """
        from verifiers.math import verify
        verdict = verify(r"The answer is \\boxed{(x-1)(x+1)}", "x^2 - 1")
        print("VERDICT", verdict.correct, verdict.reason)
        """,
        as_module=as_module,
    )
    assert_ran_once_cleanly(result, runs)
    assert result.stdout.splitlines() == ["VERDICT True equivalent"]


def test_verify_batch_and_a_private_pool_without_main_guard(tmp_path: Path) -> None:
    result, runs = run_script(
        tmp_path,
        """
        from verifiers.math import verify_batch
        from verifiers.pool import WorkerPool
        import operator
        pairs = [(r"\\boxed{2\\sqrt{2}}", r"\\sqrt{8}"), (r"\\boxed{x+1}", "x+2")]
        verdicts = verify_batch(pairs, workers=2)
        print("VERDICTS", [v.reason for v in verdicts])
        with WorkerPool(workers=2) as pool:
            print("SUMS", [o.value for o in pool.map(operator.add, [(1, 2), (3, 4)], timeout=30)])
        """,
    )
    assert_ran_once_cleanly(result, runs)
    assert "VERDICTS ['equivalent', 'not equal']" in result.stdout
    assert "SUMS [3, 7]" in result.stdout


def test_function_defined_in_a_guarded_script_still_runs_in_the_workers(tmp_path: Path) -> None:
    # A task function defined in the main script is the one case where a worker imports the script.
    result, runs = run_script(
        tmp_path,
        """
        def triple(x):
            return 3 * x

        if __name__ == "__main__":
            from verifiers.pool import WorkerPool
            with WorkerPool(workers=2) as pool:
                print("TRIPLES", [o.value for o in pool.map(triple, [(1,), (2,), (3,)], timeout=30)])
        """,
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.splitlines() == ["TRIPLES [3, 6, 9]"]
    assert 2 <= runs.read_text().count("ran") <= 3  # the parent, plus each worker that took a task


def test_function_defined_in_an_unguarded_script_fails_the_items_without_recursion(tmp_path: Path) -> None:
    # The worker must import the script to find the function; the script then starts a pool of its own
    # while being imported. That nested start is refused (no process explosion); the items fail.
    result, runs = run_script(
        tmp_path,
        """
        from verifiers.pool import WorkerPool

        def triple(x):
            return 3 * x

        pool = WorkerPool(workers=2)
        print("OUTCOMES", [(o.status, o.error) for o in pool.map(triple, [(1,), (2,)], timeout=30)])
        """,
    )
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert line.count("'errored'") == 2 and "if __name__ == '__main__'" in line, line
    assert runs.read_text().count("ran") <= 3

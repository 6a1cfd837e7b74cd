"""Running a pipeline through the CLI, as a user does, for the slow end-to-end tests."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_pipeline_cli(pipeline: str, out: Path, timeout: float) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """``rltrain pipeline REPO/<pipeline> --set output_dir=OUT`` as a user runs it; it must succeed."""
    cmd = [sys.executable, "-m", "rltrain", "pipeline", str(REPO / pipeline), "--set", f"output_dir={out}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    assert done.returncode == 0, done.stderr[-5000:]
    return out, done

"""Cluster nodes run the sandbox as an ordinary user: isolation must hold without root (no cgroups)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.sandbox_guard import sandbox_available  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import json, sys
sys.path[:0] = {paths!r}
from sandbox import Sandbox, self_test
with Sandbox() as sb:
    uid = sb.run("import os; print(os.getuid())", "python")
    fork = sb.run("import os; os.fork()", "python")
    judged = sb.run("print(sum(map(int, input().split())))", "python", stdin="2 3")
print(json.dumps({{"level": self_test().level, "cgroups": sb.cgroups, "uid": uid.stdout.strip(),
                  "fork": fork.status.value, "sum": judged.stdout.strip()}}))
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runuser") is None, reason="needs root to switch to 'nobody'")
def test_sandbox_isolates_as_an_unprivileged_user(sandbox_available):  # noqa: F811
    import pyseccomp

    tmp_path = Path(tempfile.mkdtemp(prefix="rltrain-unprivileged-"))  # pytest's tmp dirs are root-only

    paths = [str(ROOT), str(Path(pyseccomp.__file__).parent)]
    script = tmp_path / "probe.py"
    script.write_text(SCRIPT.format(paths=paths))
    tmp_path.chmod(0o755)
    script.chmod(0o644)
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    tmp_path.chmod(0o777)
    try:
        out = subprocess.run([shutil.which("runuser"), "-u", "nobody", "--", python, str(script)], capture_output=True,
                             text=True, timeout=120, env=env, check=False)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report == {"level": "bwrap+seccomp", "cgroups": False, "uid": "65534", "fork": "runtime_error", "sum": "5"}

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
import json, os, sys
sys.path[:0] = {paths!r}
from sandbox import Sandbox, self_test
TUNABLES = ("/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches", "/proc/sys/kernel/hostname")
# Opened write-only and closed at once: nothing is written even if the sandbox regressed.
OPEN_TUNABLES = ("import os\\nfor p in %r:\\n    try:\\n        os.close(os.open(p, os.O_WRONLY)); print('OPENED')\\n"
                 "    except OSError:\\n        print('blocked')" % (TUNABLES,))
with Sandbox() as sb:
    uid = sb.run("import os; print(os.getuid())", "python")
    fork = sb.run("import os; os.fork()", "python")
    judged = sb.run("print(sum(map(int, input().split())))", "python", stdin="2 3")
    tunables = sb.run(OPEN_TUNABLES, "python")
report = self_test()
print(json.dumps({{"level": report.level, "cgroups": sb.cgroups, "uid": uid.stdout.strip(),
                  "fork": fork.status.value, "sum": judged.stdout.strip(), "tunables": tunables.stdout.split(),
                  "run_uid": report.run_uid, "caller_uid": os.getuid()}}))
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
    # The caller is already unprivileged: runs map to the caller's own uid, never to host root.
    assert report == {"level": "bwrap+seccomp", "cgroups": False, "uid": "65534", "fork": "runtime_error", "sum": "5",
                      "tunables": ["blocked"] * 3, "run_uid": report["caller_uid"], "caller_uid": report["caller_uid"]}
    assert report["run_uid"] != 0

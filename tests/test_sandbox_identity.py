"""Who runs sandboxed programs on the host: the run identity, uid maps, reachable directories, self-test."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from sandbox import SandboxError
from sandbox.isolation import RunIdentity, check_reachable, outside_id
from tests.sandbox_guard import sandbox_available  # noqa: F401 - fixture

as_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("bwrap") is None, reason="needs root and bubblewrap")


def test_outside_id_follows_the_map_ranges():
    assert outside_id("     65534      65534          1\n", 65534) == 65534
    assert outside_id("         0     100000      65536\n", 65534) == 165534
    assert outside_id("     65534          0          1\n", 65534) == 0
    assert outside_id("         0          0          1\n", 65534) is None  # not mapped
    assert outside_id("", 65534) is None
    assert outside_id("garbage line\n1 2\n", 65534) is None


def test_run_identity_refuses_root_and_parses_the_command_line_form():
    assert RunIdentity.parse("64000:64001") == RunIdentity(64000, 64001)
    assert RunIdentity.parse("64000") == RunIdentity(64000, 64000)
    assert RunIdentity() == RunIdentity(65534, 65534)
    for bad in ("0:0", "64000:0", "x:1", "", "-5"):
        with pytest.raises(SandboxError, match="run_as"):
            RunIdentity.parse(bad)
    with pytest.raises(SandboxError, match=r"run_as\.uid"):
        RunIdentity(0, 1)


def test_check_reachable_names_the_directory_that_blocks_the_run_uid():
    top = Path(tempfile.mkdtemp(prefix="rltrain-reach-"))
    try:
        (top / "closed" / "work").mkdir(parents=True)
        top.chmod(0o711)
        (top / "closed").chmod(0o700)
        identity = RunIdentity(64123, 64123)  # owns nothing here: only the "other" bits count
        with pytest.raises(SandboxError, match=rf"{top / 'closed'} is not searchable by uid 64123"):
            check_reachable(top / "closed" / "work", identity, what="work_dir")
        (top / "closed").chmod(0o711)
        check_reachable(top / "closed" / "work", identity, what="work_dir")
        check_reachable(top / "closed" / "work", None, what="work_dir")  # no drop: nothing to check
    finally:
        shutil.rmtree(top)


@as_root
def test_a_work_dir_the_run_uid_cannot_reach_is_refused_up_front(sandbox_available, tmp_path):  # noqa: F811
    from sandbox import Sandbox

    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(SandboxError, match=rf"{private} is not searchable by uid 65534"):
        Sandbox(work_dir=private / "work")


@as_root
def test_self_test_command_reports_the_run_uid_and_refuses_root(sandbox_available, capsys):  # noqa: F811
    from rltrain.cli import main

    assert main(["sandbox", "self-test"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["level"] == "bwrap+seccomp" and report["run_uid"] == 65534 and report["run_gid"] == 65534
    assert "host uid 65534" in report["detail"]
    assert main(["sandbox", "self-test", "--run-as", "0:0"]) == 2

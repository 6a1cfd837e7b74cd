"""Test-wide settings: nothing may be fetched from a model hub while the tests run. Also the one run of the
smoke pipeline that several slow tests read (it takes minutes: run once per session)."""

import os
import subprocess
from pathlib import Path

import pytest

from tests.pipeline_runs import run_pipeline_cli

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """``recipes/smoke/pipeline.yaml`` run once: its output directory and the finished process."""
    return run_pipeline_cli("recipes/smoke/pipeline.yaml", tmp_path_factory.mktemp("smoke"), timeout=1800)

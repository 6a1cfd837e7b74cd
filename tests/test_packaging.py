"""What a wheel carries: an installed rltrain (not a source checkout) has every data file its code reads,
the shipped benchmark data, chat templates and model configs, and finds them from its install location."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rltrain", "verifiers", "sandbox")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the tracked files (a build in the checkout would leave build/ there)."""
    out = tmp_path_factory.mktemp("wheel")
    source = out / "source"
    for name in _tracked():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out)], check=True, capture_output=True, cwd=out)
    (built,) = out.glob("rltrain-*.whl")
    return built


def _tracked(*paths: str) -> list[str]:
    listed = subprocess.run(["git", "ls-files", *paths], cwd=ROOT, capture_output=True, text=True, check=True)
    return [name for name in listed.stdout.splitlines() if (ROOT / name).is_file()]


def _source_data_files() -> set[str]:
    """Every non-Python file inside the packages that git tracks (what the code may read at run time)."""
    return {name for name in _tracked(*PACKAGES) if not name.endswith(".py")}


def test_the_wheel_carries_every_data_file_of_the_packages(wheel: Path) -> None:
    expected = _source_data_files()
    assert "rltrain/models/chat_templates/qwq_32b.jinja" in expected
    assert "rltrain/models/model_configs/Qwen__QwQ-32B/config.json" in expected
    assert "rltrain/evaluation/benchmarks/data/aime24.jsonl" in expected or any(
        name.startswith("rltrain/evaluation/benchmarks/data/") for name in expected)
    missing = expected - set(zipfile.ZipFile(wheel).namelist())
    assert not missing, f"package data left out of the wheel (pyproject.toml [tool.setuptools.package-data]): {sorted(missing)}"


def test_an_installed_wheel_plans_and_stands_in_for_the_recipe_models(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", str(wheel), "--no-deps", "-q", "--target", str(target)],
                   check=True, capture_output=True)
    probe = (
        "import rltrain, pathlib\n"
        "from rltrain.planning.model_shape import locate_config\n"
        "from rltrain.models.stand_in import QWQ\n"
        "found = locate_config('Qwen/QwQ-32B')\n"
        "assert pathlib.Path(rltrain.__file__).is_relative_to(pathlib.Path(__import__('sys').argv[1])), rltrain.__file__\n"
        "assert found.is_relative_to(pathlib.Path(__import__('sys').argv[1])), found\n"
        "assert '<think>' in QWQ.template\n"
        "print('ok', found)\n"
    )
    env = {"PYTHONPATH": str(target), "HF_HUB_CACHE": str(tmp_path / "empty-cache"), "HF_HUB_OFFLINE": "1",
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", probe, str(target)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ok ")

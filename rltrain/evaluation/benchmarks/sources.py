"""Where benchmark data comes from: files shipped in this package, and files fetched once from a hub.

Shipped data lives in ``rltrain/evaluation/benchmarks/data/`` (sources, commits and licences in its
``NOTICE.md``). Hub data is downloaded at most once, into the :class:`DataCache`, by
:func:`fetch_hub_file`; on a machine that cannot reach the hub (no network, ``HF_HUB_OFFLINE=1``, a
gated dataset without a token) it raises :class:`DataUnavailable` naming the exact file to place in the
cache by hand and where to get it, so an offline cluster can be prepared from a connected machine.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rltrain.errors import RecipeError
from rltrain.evaluation.benchmarks.base import DataUnavailable

__all__ = ["DATA_DIR", "dataset_url", "fetch_hub_file", "read_jsonl", "shipped"]

DATA_DIR = Path(__file__).parent / "data"
"""The benchmark data shipped with the package."""


def shipped(filename: str) -> Path:
    """A file of the shipped data; a missing one means a broken install, not a user error."""
    path = DATA_DIR / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the package data was not installed (reinstall rltrain)")
    return path


def numbered_json_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """The JSON objects of a JSONL file with their 1-based line numbers, blank lines skipped. A missing
    file, or a line that is not a JSON object, is a :class:`~rltrain.errors.RecipeError` naming the file
    and the line (shipped data, a user's benchmark file and generations to score are read alike)."""
    if not path.is_file():
        raise RecipeError(f"{path}: no such file")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RecipeError(f"{path}: line {number}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise RecipeError(f"{path}: line {number}: expected a JSON object, got {type(row).__name__}")
            yield number, row


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSONL file (:func:`numbered_json_objects` without the line numbers)."""
    for _, row in numbered_json_objects(path):
        yield row


def dataset_url(repo_id: str, filename: str | None = None) -> str:
    """The web page of a hub dataset (or of one of its files), for error messages."""
    base = f"https://huggingface.co/datasets/{repo_id}"
    return f"{base}/blob/main/{filename}" if filename else base


def _download(repo_id: str, filename: str, directory: Path) -> Path:
    """One file of a hub dataset into ``directory`` (the hub client's own retries and token lookup)."""
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo_id=repo_id, filename=filename, repo_type="dataset", local_dir=directory))


def fetch_hub_file(repo_id: str, filename: str, dest: Path, *, gated: bool = False) -> Path:
    """``dest``, downloading ``filename`` of the hub dataset ``repo_id`` there first if it is missing.

    The file is written under a temporary name and moved into place, so an interrupted download never
    leaves a truncated file that later runs would trust.

    Raises:
        DataUnavailable: the hub cannot be reached (or refuses: a gated dataset needs its terms accepted
            and a token); the message names ``dest`` and the file's page.
    """
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    problem = "HF_HUB_OFFLINE is set" if os.environ.get("HF_HUB_OFFLINE", "").strip() in {"1", "true", "TRUE", "yes"} else ""
    if not problem:
        scratch = Path(tempfile.mkdtemp(prefix=".download-", dir=dest.parent))
        try:
            downloaded = _download(repo_id, filename, scratch)
            os.replace(downloaded, dest)
            return dest
        except Exception as exc:  # noqa: BLE001 - every failure of the hub client means the same thing here
            problem = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    access = (
        " The dataset is gated: accept its terms on that page and set HF_TOKEN (or run `hf auth login`)."
        if gated else ""
    )
    raise DataUnavailable(
        f"{dest} is not cached and cannot be downloaded ({problem}). Download {filename} from "
        f"{dataset_url(repo_id, filename)} and place it at {dest}.{access}"
    )

"""Reading ``data.source``: a local file (.jsonl/.json/.parquet/.csv), a hub dataset or directory, or a
generated ``synthetic:<task>``, as one ``datasets.Dataset``.

A file that cannot be read is one :class:`~rltrain.errors.RecipeError` naming the file and, where it can
be found, the line at fault; turning rows into prompts is :mod:`rltrain.data.prompts`' job.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rltrain.errors import RecipeError
from rltrain.recipe.schema import Recipe

FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
"""Local file suffixes read, with the ``datasets`` builder that reads each."""


def load_rows(recipe: Recipe):
    """The raw dataset named by ``data.source`` (a ``datasets.Dataset``)."""
    import datasets

    cfg = recipe.data
    if cfg.source.startswith("synthetic:"):
        from rltrain.data.synthetic import generate

        params = {"seed": recipe.seed, **cfg.synthetic}
        try:
            rows = generate(cfg.source.removeprefix("synthetic:"), params, held_out=cfg.eval_size)
            return datasets.Dataset.from_list(rows)
        except ValueError as exc:
            raise RecipeError(f"data.synthetic: {exc}") from None
    local = recipe.resolve_input(cfg.source)
    if local.suffix.lower() in FILE_BUILDERS:
        return load_file(local)
    name = str(local) if local.is_dir() else cfg.source  # a dataset directory, relative to the recipe
    try:
        return datasets.load_dataset(name, cfg.subset, split=cfg.split)
    except datasets.exceptions.DatasetNotFoundError as exc:
        raise RecipeError(f"data.source: {cfg.source!r} is neither a local path nor a hub dataset ({exc})") from None


def load_file(path: Path):
    """A local data file as a ``datasets.Dataset``; a file that cannot be read, or holds no rows, is a
    RecipeError naming it (and for JSON, the line at fault).

    The file is read once, by ``datasets``; only when that fails is it scanned again, to say where.
    """
    import datasets
    import pyarrow

    try:
        with _quiet_datasets():
            dataset = datasets.load_dataset(FILE_BUILDERS[path.suffix.lower()], data_files=str(path), split="train")
    except (datasets.exceptions.DatasetGenerationError, pyarrow.ArrowException, ValueError, StopIteration) as exc:
        raise RecipeError(f"data.source: {file_problem(path, exc)}") from None
    if len(dataset) == 0:
        raise RecipeError(f"data.source: {path} has no rows")
    return dataset


_NO_ROWS = "corresponds to no data"
"""How ``datasets`` says that a file parsed into no rows at all (e.g. a ``.json`` file holding ``[]``)."""


def file_problem(path: Path, exc: BaseException) -> str:
    """Why ``datasets`` could not read ``path``: an empty file, the first line that is not UTF-8 (or,
    in JSON, not one object), or ``datasets``' own words."""
    if not _has_content(path):
        return f"{path} has no rows (the file is empty)"
    if _NO_ROWS in str(exc):
        return f"{path} has no rows"
    if path.suffix.lower() != ".parquet":
        bad_line = first_bad_line(path)
        if bad_line is not None:
            return bad_line
    cause = exc.__cause__ or exc
    return f"{path}: cannot be read as {path.suffix.lstrip('.')}: {str(cause).strip() or type(cause).__name__}"


def _has_content(path: Path) -> bool:
    """Whether the file holds anything but whitespace (read in blocks: files may be large)."""
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            if block.strip():
                return True
    return False


def first_bad_line(path: Path) -> str | None:
    """``file:line: problem`` for the first line of a text data file that is not UTF-8 or, in a JSON-lines
    file, not one JSON object; ``None`` when every line is (or the file is one JSON document spanning
    lines, as a ``.json`` file may be)."""
    json_rows = path.suffix.lower() in (".jsonl", ".json")
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, 1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"{path}:{number}: not UTF-8 text (byte {exc.start + 1} of the line)"
            if not json_rows:
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                if path.suffix.lower() == ".json" and number == 1:  # one document over several lines, or JSON lines
                    return _document_problem(path)
                return f"{path}:{number}: not valid JSON: {exc.msg} (column {exc.colno})"
            if not isinstance(row, dict):
                if path.suffix.lower() == ".json" and number == 1 and isinstance(row, list):
                    return None  # one array of objects on one line
                return f"{path}:{number}: expected one JSON object per line, got {_json_kind(row)}"
    return None


def _document_problem(path: Path) -> str | None:
    """``file:line: problem`` where a ``.json`` file read as one JSON document fails to parse; ``None`` if it
    parses (the first line was only the start of it)."""
    data = path.read_bytes()
    try:
        json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return f"{path}:{line}: not UTF-8 text"
    except json.JSONDecodeError as exc:
        return f"{path}:{exc.lineno}: not valid JSON: {exc.msg} (column {exc.colno})"
    return None


def _json_kind(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), "null")


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Silence ``datasets``' own error log while it reads a file: its failure becomes one RecipeError."""
    from datasets.utils import logging as ds_logging

    previous = ds_logging.get_verbosity()
    ds_logging.set_verbosity(ds_logging.CRITICAL)
    try:
        yield
    finally:
        ds_logging.set_verbosity(previous)

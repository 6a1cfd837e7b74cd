"""Languages the sandbox runs: how a source file is named, compiled (if at all) and started.

Adding a language is one :class:`Language` entry: the interpreter or compiler must be readable under
``/usr`` (the only host tree bound into the sandbox) or under an extra read-only mount listed in
``mounts``. Commands use the paths *inside* the sandbox: sources live in ``/box``, a compiler writes
to ``/out``.
"""

from __future__ import annotations

import functools
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.errors import SandboxError

BOX = "/box"
OUT = "/out"


@dataclass(frozen=True)
class Language:
    """How to build and run one language inside the sandbox."""

    name: str
    #: Name of the source file written to ``/box``.
    source_name: str
    #: Command that runs the program: ``{box}`` and ``{out}`` become the sandbox paths, ``{entry}`` the
    #: file to start (the source, or the compiled artifact).
    run: tuple[str, ...]
    #: Command that compiles ``/box/<source_name>`` to ``/out/<artifact>``; empty for interpreted ones.
    compile: tuple[str, ...] = ()
    #: File the compile step produces in ``/out``.
    artifact: str = ""
    #: Extra host directories bound read-only at the same path (an interpreter outside ``/usr``).
    mounts: tuple[str, ...] = field(default=())
    #: Fenced-code-block tags that name this language in a model's answer.
    aliases: tuple[str, ...] = ()

    @property
    def compiled(self) -> bool:
        return bool(self.compile)

    def run_argv(self, entry: str | None = None) -> list[str]:
        entry = entry or (self.artifact if self.compiled else self.source_name)
        return [part.format(box=BOX, out=OUT, entry=entry) for part in self.run]

    def compile_argv(self) -> list[str]:
        return [part.format(box=BOX, out=OUT, entry=self.source_name) for part in self.compile]


def _python_interpreter() -> tuple[str, tuple[str, ...]]:
    """The system Python if there is one (it lives in ``/usr``), else this interpreter's own prefix."""
    system = Path("/usr/bin/python3")
    if system.exists():
        return str(system), ()
    base = Path(sys.base_prefix)
    exe = base / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    if not exe.exists():
        raise SandboxError(f"no Python interpreter found under /usr/bin or {base}/bin")
    return str(exe), (str(base),)


def _builtin_languages() -> dict[str, Language]:
    python, python_mounts = _python_interpreter()
    cxx = shutil.which("g++", path="/usr/bin:/usr/local/bin") or "/usr/bin/g++"
    languages = [
        Language(
            name="python",
            source_name="main.py",
            # -I: ignore PYTHON* variables and the user site; -B: never write .pyc files.
            run=(python, "-I", "-B", "{box}/{entry}"),
            mounts=python_mounts,
            aliases=("python", "python3", "py"),
        ),
        Language(
            name="cpp",
            source_name="main.cpp",
            compile=(cxx, "-std=c++17", "-O2", "-pipe", "-o", "{out}/prog", "{box}/main.cpp"),
            artifact="prog",
            run=("{box}/{entry}",),
            aliases=("cpp", "c++", "cxx", "cc"),
        ),
    ]
    return {lang.name: lang for lang in languages}


@functools.cache
def languages() -> dict[str, Language]:
    """Every language by name (the table is built once: it looks up interpreters on disk)."""
    return _builtin_languages()


def get_language(name: str) -> Language:
    """The language called ``name`` or one of its aliases (case-insensitive)."""
    key = name.strip().lower()
    table = languages()
    if key in table:
        return table[key]
    for lang in table.values():
        if key in lang.aliases:
            return lang
    raise SandboxError(f"unknown language {name!r}; available: {sorted(table)}")

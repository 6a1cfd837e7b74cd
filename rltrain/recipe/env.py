"""``${NAME}`` references in recipe and pipeline files, expanded from the environment when a file is read.

Addresses known only at launch time (a sandbox server, a reward-model server, a vLLM host started by a
SLURM script) reach recipes this way; see docs/cluster.md.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from rltrain.errors import RecipeError

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(raw: Any, *, source: str, environ: Mapping[str, str] | None = None, _where: str = "") -> Any:
    """Expand ``${NAME}`` and ``${NAME:-default}`` in every string value from the environment.

    This is how a recipe takes addresses only known at launch time, e.g. ``server_url:
    ${RLTRAIN_SANDBOX_URL:-}`` (the SLURM scripts export the sandbox, reward-model and vLLM addresses
    they start). A reference to an unset variable without a default is an error naming the field.
    ``$$`` stands for a literal ``$``.
    """
    env = os.environ if environ is None else environ
    if isinstance(raw, dict):
        return {k: expand_env(v, source=source, environ=env, _where=f"{_where}{k}.") for k, v in raw.items()}
    if isinstance(raw, list):
        return [expand_env(v, source=source, environ=env, _where=f"{_where}{i}.") for i, v in enumerate(raw)]
    if not isinstance(raw, str) or "$" not in raw:
        return raw

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise RecipeError(
            f"{source}: {_where.rstrip('.')}: environment variable {name} is not set "
            f"(export it, or give a default: ${{{name}:-value}})"
        )

    parts = raw.split("$$")
    return "$".join(_ENV_REFERENCE.sub(substitute, part) for part in parts)

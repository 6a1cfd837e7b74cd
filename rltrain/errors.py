"""The one exception type of the `rltrain` package."""

from __future__ import annotations


class RecipeError(Exception):
    """A recipe or pipeline file is invalid.

    The message names the file, the field at fault (as a dotted path such as ``grpo.num_generations``)
    and what is expected, so that the CLI can print it as a one-screen error and exit non-zero before
    any model is loaded.
    """

    exit_status: int = 2
    """The CLI's exit status for this error: 2, an invalid recipe."""


class RunFailed(RecipeError):
    """A run failed for a reason already reported (by a rank, or a write that failed): the CLI prints the
    message without a traceback and exits 1, since the recipe itself is not at fault."""

    exit_status = 1

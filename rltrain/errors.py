"""The one exception type of the `rltrain` package."""

from __future__ import annotations


class RecipeError(Exception):
    """A recipe or pipeline file is invalid.

    The message names the file, the field at fault (as a dotted path such as ``grpo.num_generations``)
    and what is expected, so that the CLI can print it as a one-screen error and exit non-zero before
    any model is loaded.
    """

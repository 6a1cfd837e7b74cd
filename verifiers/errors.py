"""The one exception type of the verifiers package."""

from __future__ import annotations

__all__ = ["VerifierError"]


class VerifierError(Exception):
    """A verifier was misconfigured or misused.

    Messages name the offending input (reward name, parameter, dataset column, value) and say how to fix
    it, so a recipe author can act on them without reading the code. Failures while *judging* a sample
    (a hostile expression, a timeout) are never raised: they come back as a verdict or a masked reward.
    """

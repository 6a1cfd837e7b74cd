"""The one exception type of the sandbox package."""

from __future__ import annotations


class SandboxError(RuntimeError):
    """Bad input to the sandbox (unknown language, invalid limits) or a sandbox that cannot isolate.

    Messages name the argument at fault and the fix. Failures of the *program* under test are never
    raised: they are reported in :class:`sandbox.result.ExecResult.status`.
    """

"""The ``python`` tool: a code interpreter backed by the sandbox.

Each call runs the model's program as a fresh ``python3`` process in the sandbox (bubblewrap
namespaces, no network, read-only system, private ``/tmp``, seccomp denying process creation, CPU,
memory, file-size and output limits; see docs/sandbox.md), locally or on a sandbox server
(``server_url``). What the model reads back:

* a clean exit: its stdout (and stderr, if it wrote any), or ``(no output)``;
* a crash: the exit status and the end of stderr (the traceback), as a :class:`ToolFailure`;
* a limit: ``timed out``, ``memory limit`` or ``output limit``, as a :class:`ToolFailure`;
* a sandbox that could not run it at all: a :class:`ToolFailure` too (the rollout goes on).

Nothing persists between calls (no state, no files), as in a stateless interpreter.
"""

from __future__ import annotations

from typing import Any

from rltrain.tools.runtime import ToolFailure

_TAIL = 1500


def _tail(text: str, limit: int = _TAIL) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


def describe(result: Any) -> str:
    """The model's view of a sandbox :class:`~sandbox.ExecResult` (raises :class:`ToolFailure` for failures)."""
    from sandbox import Status

    status = result.status
    if status is Status.OK:
        out = result.stdout + (f"\n[stderr]\n{_tail(result.stderr)}" if result.stderr.strip() else "")
        return out if out.strip() else "(no output)"
    if status is Status.TIMEOUT:
        raise ToolFailure(f"the program timed out\n{_tail(result.stdout, 500)}".rstrip(), timed_out=True)
    if status is Status.MEMORY_LIMIT:
        raise ToolFailure("the program ran out of memory")
    if status is Status.OUTPUT_LIMIT:
        raise ToolFailure("the program wrote too much output")
    if status is Status.RUNTIME_ERROR:
        how = f"signal {result.signal}" if result.signal else f"exit status {result.exit_code}"
        raise ToolFailure(f"the program failed ({how})\n{_tail(result.stderr or result.stdout)}".rstrip())
    raise ToolFailure(f"the sandbox could not run the program ({status.value}): {_tail(result.stderr, 300)}".rstrip())


class PythonInterpreter:
    """Runs programs for the ``python`` tool; one instance is shared by every call of a run."""

    def __init__(self, *, wall_s: float = 5.0, memory_mb: int = 512, output_bytes: int = 64 * 1024,
                 server_url: str | None = None) -> None:
        from sandbox import Limits, SandboxError

        try:
            self.limits = Limits(wall_s=wall_s, memory_mb=memory_mb, output_bytes=output_bytes)
        except SandboxError as exc:
            raise ValueError(str(exc)) from None
        self.server_url = server_url
        self._backend: Any = None
        if not server_url:
            from sandbox.isolation import require

            try:
                require("bwrap+seccomp")
            except SandboxError as exc:
                raise ValueError(f"{exc}; or set params.server_url to a sandbox server (`rltrain sandbox serve`)") from None

    def backend(self) -> Any:
        if self._backend is None:
            if self.server_url:
                from sandbox.client import SandboxClient

                self._backend = SandboxClient(self.server_url)
            else:
                from sandbox import default_sandbox

                self._backend = default_sandbox()
        return self._backend

    def run(self, code: str) -> str:
        from sandbox import SandboxError

        try:
            result = self.backend().run(code, "python", limits=self.limits)
        except SandboxError as exc:
            raise ToolFailure(f"the sandbox could not run the program: {exc}") from None
        return describe(result)


def python_tool(**params: Any):
    """The ``python`` tool function (params: ``wall_s``, ``memory_mb``, ``output_bytes``, ``server_url``)."""
    interpreter = PythonInterpreter(**params)

    def python(code: str) -> str:
        """Run a Python 3 program in an isolated sandbox and return what it prints.

        Args:
            code: The complete program; print the values you need. No network, no files kept between calls.
        """
        return interpreter.run(code)

    return python

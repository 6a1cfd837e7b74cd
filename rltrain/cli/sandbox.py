"""``rltrain sandbox``: serve the code sandbox over HTTP, or report what isolation this machine gives."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

logger = logging.getLogger("rltrain.sandbox")


def _run_as(args: argparse.Namespace):
    """The ``--run-as`` identity (``None``: the default, nobody), or SandboxError naming the bad value."""
    from sandbox.isolation import RunIdentity

    return RunIdentity.parse(args.run_as) if args.run_as else None


def cmd_self_test(args: argparse.Namespace) -> int:
    """Print the isolation report (``run_uid``/``run_gid``: the host ids a probe program ran as)."""
    from sandbox import SandboxError, self_test
    from sandbox.isolation import DEFAULT_RUN_AS

    try:
        run_as = _run_as(args) or DEFAULT_RUN_AS
    except SandboxError as exc:
        logger.error("%s", exc)
        return 2
    report = self_test(run_as)
    print(json.dumps(report.to_dict(), indent=2))
    return 0 if report.level == "bwrap+seccomp" else 1


def _ceilings(args: argparse.Namespace):
    """The server's ceilings from the ``--max-<name>`` options."""
    from dataclasses import fields

    from sandbox.server import Ceilings

    return Ceilings(**{f.name: getattr(args, f"max_{f.name}") for f in fields(Ceilings)})


def cmd_serve(args: argparse.Namespace) -> int:
    from sandbox import Limits, Sandbox, SandboxError
    from sandbox.server import build_service

    try:
        limits = Limits(wall_s=args.wall_s, memory_mb=args.memory_mb)
        sandbox = Sandbox(isolation=args.isolation, limits=limits, run_as=_run_as(args))
        service, app = build_service(sandbox, host=args.host, port=args.port, workers=args.workers,
                                     queue=args.queue, ceilings=_ceilings(args))
    except SandboxError as exc:
        logger.error("%s", exc)
        return 2
    host, port = service.address
    report = sandbox.report
    logger.info("sandbox server on http://%s:%d (%d workers, isolation %s: %s)", host, port, args.workers,
                report.level, report.detail)
    if args.address_file:
        # Written only once the socket listens: batch scripts wait for this file, then read host:port.
        path = Path(args.address_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(f"{host}:{port}\n")
        tmp.replace(path)
    drained = False
    try:
        drained = service.serve(drain_timeout=args.drain_timeout)
    finally:
        app.close(wait=drained)
        sandbox.close()
    logger.info("sandbox server stopped%s", "" if drained else " with requests still in flight")
    return 0 if drained else 1


def _add_ceiling_options(s: argparse.ArgumentParser) -> None:
    """``--max-<name>`` for each server ceiling (see sandbox.server.Ceilings and docs/sandbox.md)."""
    from dataclasses import fields

    from sandbox.server import Ceilings

    for f in fields(Ceilings):
        default = getattr(Ceilings, f.name)
        s.add_argument(f"--max-{f.name.replace('_', '-')}", dest=f"max_{f.name}", type=type(default), default=default,
                       metavar="N", help=f"ceiling on {f.name} a request may ask for (default {default}; refused above)")


def add_sandbox_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sandbox", help="code sandbox server and self-test",
                       description="Run untrusted programs isolated (bubblewrap + seccomp + rlimits + cgroups).")
    sandbox_sub = p.add_subparsers(dest="sandbox_command", required=True, metavar="ACTION")

    s = sandbox_sub.add_parser("serve", help="serve /run, /judge, batches and /run_code over HTTP",
                               description="Serve the sandbox over HTTP JSON until SIGTERM/SIGINT (then finish requests in flight).")
    s.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1; 0.0.0.0 for other nodes)")
    s.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    s.add_argument("--workers", type=int, default=4, help="programs run at once (default 4; about one per core)")
    s.add_argument("--queue", type=int, default=None, help="programs admitted beyond --workers before 429 (default 4 x workers)")
    s.add_argument("--wall-s", type=float, default=5.0, help="default wall-clock limit per run, seconds")
    s.add_argument("--memory-mb", type=int, default=1024, help="default address-space limit per run, MiB")
    s.add_argument("--isolation", default="bwrap+seccomp", choices=["bwrap+seccomp", "unsafe-none"],
                   help="'unsafe-none' runs programs without isolation (trusted code only)")
    s.add_argument("--address-file", help="write HOST:PORT here once listening (for batch scripts)")
    s.add_argument("--drain-timeout", type=float, default=30.0,
                   help="seconds SIGTERM waits for requests in flight before abandoning them (default 30; exit 1 then)")
    _add_ceiling_options(s)
    _add_run_as(s)
    s.set_defaults(func=cmd_serve)

    t = sandbox_sub.add_parser("self-test", help="print the isolation level this machine gives",
                               description="Probe bubblewrap, seccomp and cgroups and report the host uid programs run "
                                           "as; exit 1 if untrusted code cannot be isolated (or would run as host root).")
    _add_run_as(t)
    t.set_defaults(func=cmd_self_test)


def _add_run_as(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-as", metavar="UID:GID", default=None,
                        help="host uid:gid programs run as when this runs as root (default 65534:65534, nobody)")

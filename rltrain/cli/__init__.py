"""The ``rltrain`` command line, one module per command group (``app`` holds the parser and ``main``):
``train`` (train, pipeline), ``eval``, ``models`` (init-tiny), ``verify`` (rewards, verify math|rules),
``rm`` (rm serve), ``sandbox`` (sandbox serve|self-test), ``report``, ``rollout`` and ``cluster``
(placement flags, wait-ready, slurm-plan). Commands import their work lazily, so ``--help`` is quick."""

from rltrain.cli.app import EXIT_RECIPE, build_parser, main

__all__ = ["EXIT_RECIPE", "build_parser", "main"]

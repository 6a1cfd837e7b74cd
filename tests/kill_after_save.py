"""``rltrain`` command line with a simulated kill right after the Trainer wrote a checkpoint.

Usage: ``python tests/kill_after_save.py STEP train RECIPE [...]``. When the Trainer has written
``checkpoint-STEP`` and before rltrain's checkpoint hook runs (the completion marker and anything after
it), the process ends at once with ``os._exit``, as a SIGKILL from a scheduler would end it: no
handler, no cleanup.
"""

import os
import sys

from rltrain.cli import main
from rltrain.run.callbacks import CheckpointMarker

KILLED = 137

_on_save = CheckpointMarker.on_save


def _killed_on_save(self, args, state, control, **kwargs):
    if state.global_step == int(sys.argv[1]):
        os._exit(KILLED)
    return _on_save(self, args, state, control, **kwargs)


if __name__ == "__main__":
    CheckpointMarker.on_save = _killed_on_save
    sys.exit(main(sys.argv[2:]))

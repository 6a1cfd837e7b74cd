"""Running training: one ``stage`` (evaluate, train in this process or in ranks under ``accelerate
launch`` via ``distributed``, evaluate again, write the summary), a ``pipeline`` of stages, the
``trainer`` process each rank runs with its ``callbacks`` (metrics, graceful stop, checkpoint markers)
and ``checkpoints`` (resume, rotation, full disks), and the ``layout`` of the run folder they all share."""

from rltrain.run.layout import RunLayout, read_jsonl

__all__ = ["RunLayout", "read_jsonl"]

"""Generated datasets (``data.source: synthetic:<task>``), so the smoke pipeline and the tests download
nothing: arithmetic and instruction tasks (``math``), sandbox-judged programs (``code``) and python-tool
products with tool-call traces (``tools``), registered by name in ``tasks``."""

from rltrain.data.synthetic.tasks import TASKS, generate

__all__ = ["TASKS", "generate"]

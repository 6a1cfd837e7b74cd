"""Model files shipped with the package: the real chat templates and the ``config.json`` files of the
models the QwQ recipes name (configs only, no weights, no vocabularies; sources in each folder's README).

They let ``rltrain plan`` size those models and ``--dry-run`` build stand-ins of them on a machine that has
never downloaded them. Both are package data, so they are present in an installed wheel as in a checkout.
"""

from __future__ import annotations

from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parent
CHAT_TEMPLATE_DIR = SHIPPED_DIR / "chat_templates"
"""``<key>.jinja`` per model family (see :data:`rltrain.models.stand_in.CHAT_MODELS`)."""
MODEL_CONFIG_DIR = SHIPPED_DIR / "model_configs"
"""``<org>__<name>/config.json`` per model."""

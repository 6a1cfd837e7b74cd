"""Training and held-out rows of a recipe: ``sources`` reads ``data.source`` (local files, hub datasets,
``synthetic`` tasks) into a ``datasets.Dataset``; ``prompts`` turns rows into chat prompts (and SFT or
preference targets) and splits off the held-out rows. Data errors are RecipeErrors naming the file and line."""

from rltrain.data.prompts import Splits, load_splits, prepare
from rltrain.data.sources import load_file, load_rows

__all__ = ["Splits", "load_file", "load_rows", "load_splits", "prepare"]

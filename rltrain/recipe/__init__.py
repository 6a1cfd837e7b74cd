"""Recipes: the YAML that describes one training stage, from file to a validated :class:`Recipe`.

``schema`` declares every field (pydantic, one class per recipe section), ``loading`` reads a file with
``--set`` overrides and ``${NAME}`` references (``env``), ``checks`` and ``trl_rules`` refuse what TRL
would refuse late or never, and ``docs`` renders docs/recipes.md from the schema. Nothing here loads a
model or data: a bad recipe is one :class:`~rltrain.errors.RecipeError` naming the field, in seconds.
"""

from rltrain.recipe.checks import ValidationContext, looks_like_local_path
from rltrain.recipe.env import expand_env
from rltrain.recipe.loading import (
    apply_overrides,
    format_validation_error,
    load_recipe,
    parse_overrides,
    read_yaml,
    recipe_from_dict,
)
from rltrain.recipe.schema import (
    DEFAULT_TOOL_ROUNDS,
    QWQ_MATH_INSTRUCTION,
    TINY_MODEL,
    DataConfig,
    DistributedConfig,
    DynamicSamplingConfig,
    EvalConfig,
    LoggingConfig,
    ModelConfig,
    Recipe,
    RetentionConfig,
    RewardConfig,
    RolloutConfig,
    TinyModelConfig,
    ToolConfig,
)

__all__ = [
    "DEFAULT_TOOL_ROUNDS",
    "QWQ_MATH_INSTRUCTION",
    "TINY_MODEL",
    "DataConfig",
    "DistributedConfig",
    "DynamicSamplingConfig",
    "EvalConfig",
    "LoggingConfig",
    "ModelConfig",
    "Recipe",
    "RetentionConfig",
    "RewardConfig",
    "RolloutConfig",
    "TinyModelConfig",
    "ToolConfig",
    "ValidationContext",
    "apply_overrides",
    "expand_env",
    "format_validation_error",
    "load_recipe",
    "looks_like_local_path",
    "parse_overrides",
    "read_yaml",
    "recipe_from_dict",
]

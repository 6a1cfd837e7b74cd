"""rltrain: outcome-reward RL (GRPO) training for reasoning LLMs, from YAML recipes."""

__version__ = "0.1.0"

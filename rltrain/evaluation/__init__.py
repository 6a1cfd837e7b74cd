"""Measuring a model, two ways.

**Held-out evaluation** with a recipe: ``heldout`` samples completions for the recipe's held-out prompts
and scores them with its rewards (pairwise accuracy for a reward model); ``runner`` loads what it needs
(the starting model or a saved one, ``eval.retention``'s other recipe) and places evaluation models on
the GPUs (``evaluation_device_map``).

**Benchmarks** under QwQ's protocol (``rltrain eval MODEL --benchmarks ...``, docs/evaluation.md):

* ``settings``: the sampling settings every backend honours, and the fingerprint that keys samples;
* ``benchmarks/``: what is evaluated, each benchmark its data, prompt format, scorer and default n
  (``base`` the contract, ``registry`` names and suites, ``math`` AIME and MATH-500, ``gpqa``,
  ``livecodebench``, ``ifeval``, ``jsonl`` any file with a prompt and reference columns, ``sources``
  shipped files and the hub cache);
* ``backends/``: how completions are generated (``base`` the protocol, ``hf`` transformers, ``openai``
  any OpenAI-compatible server, ``vllm`` vLLM's offline engine);
* ``samples``: ``samples.jsonl``, appended as completions arrive, the record of what is done;
* ``suite``: planning and running an evaluation (generate what is missing, score it, aggregate), and
  scoring completions generated elsewhere;
* ``metrics``: avg@n with its standard error, pass@k, maj@n, lengths, truncation;
* ``results``: ``results.json`` and ``results.md``, and comparing two evaluations;
* ``recipe_benchmarks`` and ``stage_benchmarks``: a recipe's ``eval.benchmarks``, checked when the recipe
  loads and evaluated by the stage before and after training with the ``hf`` backend.

Only the held-out names are imported here: the benchmark modules load when they are used.
"""

from rltrain.evaluation.heldout import EvalResult, evaluate, evaluate_preferences, generate, transcript
from rltrain.evaluation.runner import evaluate_model, retention_recipe

__all__ = ["EvalResult", "evaluate", "evaluate_model", "evaluate_preferences", "generate", "retention_recipe", "transcript"]

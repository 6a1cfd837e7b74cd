"""Generation backends for evaluation (:class:`~rltrain.evaluation.backends.base.GenerationBackend`):
``hf`` (transformers, CPU or GPU), ``openai`` (any OpenAI-compatible server), ``vllm`` (offline engine)."""

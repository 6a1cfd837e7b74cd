"""Benchmarks by name: each is data + prompt format + scorer + default sample count
(:class:`~rltrain.evaluation.benchmarks.base.Benchmark`); :mod:`.registry` lists them and the suites."""

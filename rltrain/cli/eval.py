"""``rltrain eval``: held-out accuracy with a recipe's rewards, or benchmarks under QwQ's protocol.

* ``rltrain eval RECIPE.yaml | MODEL_DIR --recipe R.yaml``: held-out evaluation (prints the table and the
  result, writes it as JSON), as before.
* ``rltrain eval MODEL --benchmarks a,b | --suite qwq``: benchmark evaluation through a backend (``hf``,
  ``openai``, ``vllm``) into an evaluation directory (``samples.jsonl``, ``results.json``, ``results.md``),
  resumable; see docs/evaluation.md.
* ``rltrain eval --list``: the benchmarks and suites.
* ``rltrain eval score SAMPLES.jsonl --benchmark NAME``: score completions generated elsewhere.
* ``rltrain eval compare A B``: per-benchmark differences of two evaluation directories.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rltrain.cli.console import SET_HELP, console
from rltrain.errors import RecipeError, RunFailed
from rltrain.run.layout import RunLayout

DEFAULT_EVAL_ROOT = Path("runs") / "eval"
"""Where benchmark evaluations go without ``--output``: ``runs/eval/<model>/<fingerprint>/``."""

_HELD_OUT_ONLY = ("recipe", "model", "num_samples", "num_prompts", "set")
_BENCHMARK_ONLY = ("benchmarks", "suite", "backend", "base_url", "n", "n_per_benchmark", "limit", "temperature", "top_p",
                   "top_k", "max_tokens", "seed", "rewards", "benchmark")


def cmd_eval(args: argparse.Namespace) -> int:
    if args.list:
        return _list_benchmarks()
    if args.target == "score":
        return _score(args)
    if args.target == "compare":
        return _compare(args)
    if args.benchmarks or args.suite:
        return _run_benchmarks(args)
    return _held_out(args)


def _given(args: argparse.Namespace, names: tuple[str, ...]) -> list[str]:
    return ["--" + n.replace("_", "-") for n in names if getattr(args, n, None) not in (None, [], False)]


def _refuse(args: argparse.Namespace, names: tuple[str, ...], mode: str) -> None:
    given = _given(args, names)
    if given:
        raise RecipeError(f"{', '.join(given)}: not an option of {mode}")


def _held_out(args: argparse.Namespace) -> int:
    from rltrain.evaluation.runner import evaluate_model
    from rltrain.recipe.loading import load_recipe
    from rltrain.reporting.table import print_table

    if args.target is None:
        raise RecipeError("give a recipe or a model: rltrain eval RECIPE.yaml, rltrain eval MODEL --benchmarks a,b, or rltrain eval --list")
    if args.paths:
        raise RecipeError(f"unexpected argument {args.paths[0]!r}")
    _refuse(args, _BENCHMARK_ONLY, "held-out evaluation (add --benchmarks or --suite to evaluate benchmarks)")
    overrides = list(args.set)
    for key, value in (("eval.num_samples", args.num_samples), ("eval.num_prompts", args.num_prompts)):
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.greedy:
        overrides.append("eval.greedy=true")
    target = Path(args.target)
    if target.is_dir():  # `rltrain eval MODEL_DIR --recipe R.yaml`
        if not args.recipe:
            raise RecipeError(f"{target} is a model directory: also pass --recipe R.yaml for data, rewards and eval settings, "
                              "or --benchmarks/--suite to evaluate benchmarks")
        if args.model:
            raise RecipeError("give the model either as the first argument or with --model, not both")
        recipe_path, model = args.recipe, str(target)
    else:
        recipe_path, model = args.target, args.model
    recipe = load_recipe(recipe_path, overrides)
    result = evaluate_model(recipe, str(Path(model).resolve()) if model else None, model or recipe.model.name_or_path)
    output = Path(args.output) if args.output else RunLayout.of(recipe.output_dir).eval
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2))
    print_table([{"stage": recipe.name, "kind": "eval", "eval_after": result}], console=console(), title="held-out evaluation")
    print(json.dumps({k: v for k, v in result.items() if k != "examples"}, indent=2))
    return 0


def _list_benchmarks() -> int:
    from rich.table import Table

    from rltrain.evaluation.benchmarks.registry import SUITES, benchmark_names, get_benchmark

    table = Table(title="benchmarks (rltrain eval MODEL --benchmarks NAME,... | --suite NAME)")
    for column in ("name", "n", "description"):
        table.add_column(column, justify="right" if column == "n" else "left")
    for name in benchmark_names():
        try:
            benchmark = get_benchmark(name)
        except (ImportError, AttributeError) as exc:
            table.add_row(name, "", f"(unavailable: {exc})")
            continue
        table.add_row(name, str(benchmark.default_n), benchmark.description)
    table.add_row("FILE.jsonl", "1", "any JSONL with a prompt and reference columns, scored by rewards (--rewards); "
                  "NAME=FILE.jsonl names it")
    out = console()
    out.print(table)
    for suite, names in sorted(SUITES.items()):
        out.print(f"suite {suite}: {', '.join(names)}", markup=False, highlight=False, soft_wrap=True)
    for name in benchmark_names():
        print(name)
    return 0


def _settings(args: argparse.Namespace):
    from rltrain.evaluation.settings import SamplingSettings

    base = SamplingSettings()
    temperature = 0.0 if args.greedy else args.temperature
    if args.greedy and args.temperature not in (None, 0):
        raise RecipeError("--greedy and --temperature: give one of them")
    top_k: int | None = base.top_k
    if args.top_k is not None:
        top_k = None if args.top_k.lower() in ("none", "0", "-1") else _int(args.top_k, "--top-k")
    return SamplingSettings(
        temperature=base.temperature if temperature is None else temperature,
        top_p=base.top_p if args.top_p is None else args.top_p,
        top_k=top_k,
        max_tokens=base.max_tokens if args.max_tokens is None else args.max_tokens,
        seed=base.seed if args.seed is None else args.seed,
    )


def _int(text: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise RecipeError(f"{flag}: expected an integer, got {text!r}") from None


def _n_per_benchmark(text: str | None) -> dict[str, int]:
    """``aime24=8,ifeval=1`` as a mapping."""
    out: dict[str, int] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise RecipeError(f"--n-per-benchmark: expected NAME=N[,NAME=N...], got {part!r}")
        out[name.strip()] = _int(value.strip(), f"--n-per-benchmark {name.strip()}")
    return out


def _model_name(target: str, backend: str) -> str:
    """What the model is called in the fingerprint and asked for: a local directory as an absolute path
    (so the fingerprint does not depend on the working directory), except for a server, which is asked
    for the name it serves, as given; anything else (a hub id, ``tiny``) as given."""
    path = Path(target).expanduser()
    return os.path.abspath(path) if backend != "openai" and path.is_dir() else target


def _model_label(model: str) -> str:
    """A directory name for a model: the last two parts of a path (``stage1-final``) or of a hub id."""
    parts = [p for p in re.split(r"[/\\]+", model) if p]
    label = "-".join(parts[-2:]) or "model"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._") or "model"


def _backend_kind(args: argparse.Namespace) -> str:
    """``--backend``, else openai with ``--base-url``, else vllm where installed with a GPU, else hf."""
    kind = args.backend or ("openai" if args.base_url else _auto_backend())
    if kind != "openai" and args.base_url:
        raise RecipeError(f"--base-url is for --backend openai, not {kind}")
    return kind


def _backend(args: argparse.Namespace, kind: str, model: str):
    if kind == "openai":
        from rltrain.evaluation.backends.openai import OpenAIBackend

        if not args.base_url:
            raise RecipeError("--backend openai needs --base-url URL (e.g. http://localhost:8000/v1 of `vllm serve MODEL`)")
        return OpenAIBackend(args.base_url, model, concurrency=args.concurrency, timeout_s=args.request_timeout,
                             max_retries=args.max_retries, api_key=args.api_key)
    if kind == "vllm":
        from rltrain.evaluation.backends.vllm import VllmBackend

        return VllmBackend(model, tensor_parallel_size=args.tensor_parallel_size, data_parallel_size=args.data_parallel_size,
                           gpu_memory_utilization=args.gpu_memory_utilization, max_model_len=args.max_model_len)
    from rltrain.evaluation.backends.hf import HfBackend

    return HfBackend(model, batch_size=args.batch_size, dtype=args.dtype, trust_remote_code=args.trust_remote_code)


def _auto_backend() -> str:
    """``vllm`` where it is installed and a GPU is visible, else ``hf``."""
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        import torch

        if torch.cuda.is_available():
            return "vllm"
    return "hf"


def _benchmarks(args: argparse.Namespace) -> list:
    from rltrain.evaluation.benchmarks.registry import load_benchmark, resolve_names

    rewards = [r.strip() for r in (args.rewards or "").split(",") if r.strip()] or None
    return [load_benchmark(spec, rewards=rewards, threshold=args.threshold) for spec in resolve_names(args.benchmarks, args.suite)]


def _cache(args: argparse.Namespace):
    from rltrain.evaluation.benchmarks.base import DataCache

    return DataCache(args.cache_dir)


def _run_benchmarks(args: argparse.Namespace) -> int:
    from rltrain.evaluation.backends.base import BackendError
    from rltrain.evaluation.suite import plan, run_suite

    if args.target is None:
        raise RecipeError("give the model to evaluate: rltrain eval MODEL --benchmarks a,b (a directory, a hub id, or the "
                          "served model's name with --backend openai)")
    if args.paths:
        raise RecipeError(f"unexpected argument {args.paths[0]!r}")
    _refuse(args, _HELD_OUT_ONLY, "benchmark evaluation (--recipe and its options are for held-out evaluation)")
    if args.target.endswith((".yaml", ".yml")):
        raise RecipeError(f"{args.target}: benchmarks evaluate a model (a directory, a hub id or a served name), not a recipe")
    if args.limit is not None and args.limit < 1:
        raise RecipeError(f"--limit must be >= 1, got {args.limit}")
    if args.n is not None and args.n < 1:
        raise RecipeError(f"--n must be >= 1, got {args.n}")
    if args.score_every < 1:
        raise RecipeError(f"--score-every must be >= 1, got {args.score_every}")
    settings = _settings(args)
    kind = _backend_kind(args)
    model = _model_name(args.target, kind)
    plans = plan(_benchmarks(args), _cache(args), n=args.n, n_per_benchmark=_n_per_benchmark(args.n_per_benchmark),
                 limit=args.limit, greedy=settings.greedy)
    out = console()
    try:
        backend = _backend(args, kind, model)
    except BackendError as exc:
        raise RunFailed(str(exc)) from None
    try:
        fingerprint = settings.fingerprint(model, backend.identity())
        output = Path(args.output) if args.output else DEFAULT_EVAL_ROOT / _model_label(model) / fingerprint
        out.print(f"evaluating {model} with {backend.name} into {output} (fingerprint {fingerprint})",
                  markup=False, highlight=False, soft_wrap=True)
        results = run_suite(model, backend, settings, plans, output, score_every=args.score_every)
    except BackendError as exc:
        raise RunFailed(f"{exc} (the samples written so far are kept: run the same command again to continue)") from None
    finally:
        backend.close()
    _print_results(results)
    print(output)
    return 0


def _print_results(results) -> None:
    from rltrain.reporting.table import print_results_table

    print_results_table(results, console=console())


def _score(args: argparse.Namespace) -> int:
    from rltrain.evaluation.benchmarks.registry import load_benchmark
    from rltrain.evaluation.suite import score_file

    if len(args.paths) != 1 or not args.benchmark:
        raise RecipeError("usage: rltrain eval score SAMPLES.jsonl --benchmark NAME [--output DIR]")
    path = Path(args.paths[0])
    rewards = [r.strip() for r in (args.rewards or "").split(",") if r.strip()] or None
    benchmark = load_benchmark(args.benchmark, rewards=rewards, threshold=args.threshold)
    output = Path(args.output) if args.output else path.parent / f"{path.stem}-{benchmark.name}"
    results = score_file(benchmark, path, output, _cache(args))
    _print_results(results)
    print(output)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    from rltrain.evaluation.results import compare, compare_table, read_results, setting_differences

    if len(args.paths) != 2:
        raise RecipeError("usage: rltrain eval compare EVAL_DIR_A EVAL_DIR_B")
    a, b = read_results(args.paths[0]), read_results(args.paths[1])
    deltas = compare(a, b)
    if not deltas:
        raise RecipeError(f"{args.paths[0]} and {args.paths[1]} have no benchmark in common")
    headers, rows = compare_table(deltas)
    table = Table(title=f"A = {a.model}, B = {b.model}")
    for header in headers:
        table.add_column(header, justify="left" if header == "benchmark" else "right")
    for row in rows:
        table.add_row(*map(Text, row))
    out = console()
    out.print(table)
    for key, (va, vb) in setting_differences(a, b).items():
        out.print(f"note: {key} differs: A {va}, B {vb}", markup=False, highlight=False, soft_wrap=True)
    print(json.dumps([asdict(d) for d in deltas], indent=2))
    return 0


def add_eval_parser(sub: Any) -> None:
    """Register ``rltrain eval``."""
    p = sub.add_parser(
        "eval", help="held-out accuracy with a recipe's rewards, or benchmarks (AIME, LiveCodeBench, IFEval...)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Held-out evaluation with a recipe, or benchmark evaluation of a model (docs/evaluation.md):\n"
                    "  rltrain eval RECIPE.yaml [--model DIR] | MODEL_DIR --recipe RECIPE.yaml      held-out accuracy\n"
                    "  rltrain eval MODEL --benchmarks aime24,ifeval | --suite qwq [--backend ...]  benchmarks\n"
                    "  rltrain eval --list                                                           benchmarks and suites\n"
                    "  rltrain eval score SAMPLES.jsonl --benchmark NAME                             score outside completions\n"
                    "  rltrain eval compare EVAL_DIR_A EVAL_DIR_B                                    differences, with SE")
    p.add_argument("target", nargs="?", metavar="RECIPE_OR_MODEL",
                   help="recipe YAML file, or a model (directory; with --benchmarks also a hub id or served name); or score|compare")
    p.add_argument("paths", nargs="*", metavar="PATH", help="score: the samples file; compare: two evaluation directories")
    p.add_argument("--output", help="held-out: the JSON file to write (default <output_dir>/eval.json); benchmarks: the "
                                    "evaluation directory (default runs/eval/<model>/<fingerprint>); score: its directory "
                                    "(default <SAMPLES>-<benchmark> beside the file)")
    p.add_argument("--greedy", action="store_true", help="greedy decoding, one completion per prompt")
    held = p.add_argument_group("held-out evaluation with a recipe")
    held.add_argument("--recipe", help="recipe giving data, rewards and eval settings when RECIPE_OR_MODEL is a model")
    held.add_argument("--model", help="model directory to evaluate instead of the recipe's model")
    held.add_argument("--num-samples", type=int, help="completions per prompt (eval.num_samples)")
    held.add_argument("--num-prompts", type=int, help="held-out prompts (eval.num_prompts)")
    held.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help=SET_HELP)

    bench = p.add_argument_group("benchmarks (defaults: QwQ's protocol)")
    bench.add_argument("--list", action="store_true", help="list the benchmarks and suites")
    bench.add_argument("--benchmarks", metavar="A,B", help="benchmark names, or FILE.jsonl / NAME=FILE.jsonl")
    bench.add_argument("--suite", help="a named group of benchmarks (qwq: aime24, aime25, livecodebench_v5, ifeval)")
    bench.add_argument("--n", type=int, help="samples per item for every benchmark (default: each benchmark's own)")
    bench.add_argument("--n-per-benchmark", metavar="NAME=N,...", help="samples per item for some benchmarks, e.g. aime24=8")
    bench.add_argument("--limit", type=int, metavar="K", help="only the first K items of each benchmark (smoke tests)")
    bench.add_argument("--temperature", type=float, help="sampling temperature (default 0.6)")
    bench.add_argument("--top-p", type=float, help="nucleus sampling (default 0.95)")
    bench.add_argument("--top-k", metavar="K|none", help="top-k sampling (default 40; none disables it)")
    bench.add_argument("--max-tokens", type=int, help="new tokens per completion (default 32768; cut ones count wrong)")
    bench.add_argument("--seed", type=int, help="base seed of every sample's seed (default 0)")
    bench.add_argument("--cache-dir", help="where hub data is cached (default $RLTRAIN_CACHE/benchmarks, ~/.cache/rltrain/benchmarks)")
    bench.add_argument("--rewards", metavar="A,B", help="JSONL benchmarks: rewards scoring them, the first decides correctness")
    bench.add_argument("--threshold", type=float, default=1.0, help="JSONL benchmarks: correct when the first reward >= this (1.0)")
    bench.add_argument("--score-every", type=int, default=64, help="completions per scoring batch of a benchmark (64)")
    bench.add_argument("--benchmark", metavar="NAME", help="score: the benchmark the completions answer")

    back = p.add_argument_group("backends")
    back.add_argument("--backend", choices=["hf", "openai", "vllm"],
                      help="default: openai with --base-url, else vllm when installed with a GPU, else hf")
    back.add_argument("--base-url", help="openai: the server, e.g. http://localhost:8000/v1 (`vllm serve MODEL`)")
    back.add_argument("--api-key", help="openai: bearer token (default $OPENAI_API_KEY; local servers need none)")
    back.add_argument("--concurrency", type=int, default=8, help="openai: requests in flight (8)")
    back.add_argument("--request-timeout", type=float, default=600.0, help="openai: seconds per attempt (600)")
    back.add_argument("--max-retries", type=int, default=5, help="openai: retries of a failed request, with backoff (5)")
    back.add_argument("--tensor-parallel-size", type=int, default=1, help="vllm: GPUs per engine (1)")
    back.add_argument("--data-parallel-size", type=int, default=1, help="vllm: engines, each on its own GPUs (1)")
    back.add_argument("--gpu-memory-utilization", type=float, default=0.9, help="vllm: share of GPU memory per engine (0.9)")
    back.add_argument("--max-model-len", type=int, help="vllm: context length (default: the model's)")
    back.add_argument("--batch-size", type=int, default=8, help="hf: requests per generate call (8)")
    back.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto",
                      help="hf: weights dtype (auto: bfloat16 on GPU, float32 on CPU)")
    back.add_argument("--trust-remote-code", action="store_true", help="hf: allow model code from the hub")
    p.set_defaults(func=cmd_eval)

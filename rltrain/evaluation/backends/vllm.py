"""The ``vllm`` backend: vLLM's offline engine (``vllm.LLM``) on the GPUs of this node.

Prompts go through ``LLM.chat`` with the model's chat template and its generation prompt
(``add_generation_prompt=True``), as every backend renders them, so QwQ's template prefills
``<think>\\n``; the completion text is what the model wrote after it. Each request is sampled with its own
``SamplingParams`` (temperature, top-p, top-k with ``-1`` for none, ``max_tokens``, ``n=1`` and the
request's seed), so a sample is the same whichever batch, chunk or process draws it.

Requests are generated in chunks of ``chunk_size``: one ``LLM.chat`` call each, whose completions are
yielded (and written by the evaluation) when the chunk ends. A preempted run loses at most the chunks in
flight. Within a chunk the engine batches continuously, but the chunk ends with its longest completion,
while fewer and fewer sequences run: larger chunks keep the GPUs busier and lose more on preemption. For
a long evaluation on a cluster, ``vllm serve`` and the ``openai`` backend (slurm/eval.slurm) keep every
request in flight instead.

Data parallel: ``data_parallel_size`` engines, each in a process of its own pinned to its own
``tensor_parallel_size`` GPUs through ``CUDA_VISIBLE_DEVICES`` (the GPUs of this process's
``CUDA_VISIBLE_DEVICES`` in order, else GPUs 0, 1, ...). The engines share nothing: chunks go to whichever
process is free, and its completions come back as the chunk ends. This is plain replication, which
suits dense models; vLLM's own data-parallel mode (``VLLM_DP_*``) exists for mixture-of-experts models
whose experts are spread over the ranks, which must step in lockstep. With one engine it runs in this
process.

vLLM is an optional dependency (``pip install 'rltrain[vllm]'``), imported only when an engine starts.
"""

from __future__ import annotations

import importlib
import importlib.util
import multiprocessing
import os
import queue
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rltrain.evaluation.backends.base import BackendError, FinishReason, Generation, GenerationRequest
from rltrain.evaluation.settings import SamplingSettings

__all__ = ["VllmBackend", "sampling_params_kwargs"]

INSTALL_HINT = "pip install 'rltrain[vllm]'"
WORKER_POLL_S = 1.0
"""How often the parent checks that its engine processes are alive while it waits for a chunk."""
WORKER_STOP_S = 60.0
"""How long a closing engine process may take to exit before it is terminated."""


def require_vllm() -> None:
    """Raise a :class:`BackendError` naming the install command when vLLM is not installed."""
    if importlib.util.find_spec("vllm") is None:
        raise BackendError(f"the vllm backend needs vLLM, which is not installed: {INSTALL_HINT} (on a machine with a GPU)")


def sampling_params_kwargs(settings: SamplingSettings, seed: int) -> dict[str, Any]:
    """``vllm.SamplingParams`` keyword arguments for one request (``top_k=-1`` disables top-k in every vLLM)."""
    return {
        "n": 1,
        "temperature": settings.temperature,
        "top_p": settings.top_p,
        "top_k": settings.top_k if settings.top_k is not None else -1,
        "max_tokens": settings.max_tokens,
        "seed": seed,
    }


@dataclass(frozen=True)
class EngineConfig:
    """What one engine is built from (it travels to the engine processes)."""

    model: str
    tensor_parallel_size: int
    gpu_memory_utilization: float
    max_model_len: int | None

    def llm_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, "tensor_parallel_size": self.tensor_parallel_size,
                                  "gpu_memory_utilization": self.gpu_memory_utilization}
        if self.max_model_len is not None:
            kwargs["max_model_len"] = self.max_model_len
        return kwargs


class Engine:
    """One ``vllm.LLM`` and the chunks it generates."""

    def __init__(self, config: EngineConfig) -> None:
        require_vllm()
        self._vllm: Any = importlib.import_module("vllm")  # optional: imported here, not at module level
        self.llm = self._vllm.LLM(**config.llm_kwargs())

    def generate(self, requests: Sequence[GenerationRequest], settings: SamplingSettings) -> list[Generation]:
        """The completions of ``requests``, in order: one ``LLM.chat`` call."""
        params = [self._vllm.SamplingParams(**sampling_params_kwargs(settings, request.seed)) for request in requests]
        conversations = [[dict(message) for message in request.messages] for request in requests]
        try:
            outputs = self.llm.chat(conversations, params, use_tqdm=False, add_generation_prompt=True)
        except Exception as exc:  # e.g. a prompt plus max_tokens beyond max_model_len
            first, last = requests[0].key, requests[-1].key
            raise BackendError(f"vllm backend: generating {first} .. {last} failed: {type(exc).__name__}: {exc}") from exc
        if len(outputs) != len(requests):
            raise BackendError(f"vllm backend: {len(outputs)} outputs for {len(requests)} prompts")
        return [to_generation(output) for output in outputs]


def to_generation(output: Any) -> Generation:
    """A :class:`Generation` from a ``vllm.RequestOutput`` (its one completion)."""
    completion = output.outputs[0]
    reason: FinishReason = "length" if completion.finish_reason == "length" else "stop"
    prompt_ids = getattr(output, "prompt_token_ids", None)
    return Generation(text=completion.text, finish_reason=reason,
                      prompt_tokens=len(prompt_ids) if prompt_ids is not None else None,
                      completion_tokens=len(completion.token_ids))


def gpu_slices(data_parallel_size: int, tensor_parallel_size: int, visible: str | None) -> list[str]:
    """``CUDA_VISIBLE_DEVICES`` of each engine process: consecutive groups of ``tensor_parallel_size`` GPUs
    out of ``visible`` (this process's ``CUDA_VISIBLE_DEVICES``; unset: 0, 1, ...)."""
    needed = data_parallel_size * tensor_parallel_size
    devices = [d.strip() for d in visible.split(",") if d.strip()] if visible is not None else [str(i) for i in range(needed)]
    if len(devices) < needed:
        raise BackendError(f"vllm backend: data_parallel_size {data_parallel_size} x tensor_parallel_size "
                           f"{tensor_parallel_size} needs {needed} GPUs; CUDA_VISIBLE_DEVICES={visible!r} names {len(devices)}")
    return [",".join(devices[rank * tensor_parallel_size:(rank + 1) * tensor_parallel_size]) for rank in range(data_parallel_size)]


def engine_process(config: EngineConfig, devices: str, tasks: Any, results: Any) -> None:
    """An engine process: pinned to ``devices`` before vLLM (and CUDA) start, then generates each chunk of
    ``tasks`` (``(chunk id, requests, settings)``; ``None``: stop) and puts ``("done", chunk id,
    generations)``, or ``("error", chunk id, traceback)`` and stops."""
    os.environ["CUDA_VISIBLE_DEVICES"] = devices
    chunk_id = -1
    try:
        engine = Engine(config)
        results.put(("ready", -1, devices))
        while (task := tasks.get()) is not None:
            chunk_id, requests, settings = task
            results.put(("done", chunk_id, engine.generate(requests, settings)))
    except BaseException:  # noqa: BLE001 - whatever ends the engine is reported to the parent
        results.put(("error", chunk_id, f"engine on GPUs {devices}: {traceback.format_exc()}"))


class _EnginePool:
    """``data_parallel_size`` engine processes fed from one queue of chunks."""

    def __init__(self, config: EngineConfig, data_parallel_size: int) -> None:
        slices = gpu_slices(data_parallel_size, config.tensor_parallel_size, os.environ.get("CUDA_VISIBLE_DEVICES"))
        context = multiprocessing.get_context("spawn")  # CUDA does not survive fork; vLLM spawns its own workers
        self._tasks = context.Queue()
        self._results = context.Queue()
        self._run = 0
        # Not daemonic: vLLM starts processes of its own (tensor parallel workers), which a daemon may not.
        self._processes = [context.Process(target=engine_process, args=(config, devices, self._tasks, self._results),
                                           name=f"vllm-engine-{rank}") for rank, devices in enumerate(slices)]
        for process in self._processes:
            process.start()

    def generate(self, chunks: list[list[GenerationRequest]], settings: SamplingSettings) -> Iterator[tuple[int, list[Generation]]]:
        """Each chunk's index and completions, as each chunk ends. Chunk ids carry a run number, so what a
        run left behind (its caller stopped early) is dropped rather than taken for the next run's."""
        self._run += 1
        base = self._run * 1_000_000_000
        for index, chunk in enumerate(chunks):
            self._tasks.put((base + index, chunk, settings))
        remaining = len(chunks)
        try:
            while remaining:
                kind, chunk_id, payload = self._next()
                if kind == "error":
                    raise BackendError(f"vllm backend: {payload}")
                if kind == "done" and chunk_id >= base:
                    remaining -= 1
                    yield chunk_id - base, payload
        finally:
            if remaining:
                self._drop_queued()

    def _drop_queued(self) -> None:
        """Take back the chunks no engine has started (the ones started finish, and are dropped)."""
        try:
            while True:
                self._tasks.get(timeout=0.1)
        except queue.Empty:
            pass

    def _next(self) -> tuple[str, int, Any]:
        while True:
            try:
                return self._results.get(timeout=WORKER_POLL_S)
            except queue.Empty:
                dead = [p for p in self._processes if not p.is_alive()]
                if dead:
                    names = ", ".join(f"{p.name} (exit code {p.exitcode})" for p in dead)
                    raise BackendError(f"vllm backend: engine process {names} stopped; see its output above") from None

    def close(self) -> None:
        for process in self._processes:
            if process.is_alive():
                self._tasks.put(None)
        for process in self._processes:
            process.join(WORKER_STOP_S)
            if process.is_alive():
                process.terminate()
                process.join(10)


class VllmBackend:
    """Offline vLLM generation of ``model`` (a local directory or a hub id) over this node's GPUs."""

    name = "vllm"

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        data_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        chunk_size: int = 256,
    ) -> None:
        """``chunk_size``: requests per ``LLM.chat`` call, i.e. per write of completions (module docstring).
        The engines start at the first :meth:`generate`, so a run with nothing left to generate loads nothing."""
        for label, value in (("tensor_parallel_size", tensor_parallel_size), ("data_parallel_size", data_parallel_size),
                             ("chunk_size", chunk_size)):
            if value < 1:
                raise BackendError(f"vllm backend: {label} must be >= 1, got {value}")
        if not 0 < gpu_memory_utilization <= 1:
            raise BackendError(f"vllm backend: gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}")
        if max_model_len is not None and max_model_len < 1:
            raise BackendError(f"vllm backend: max_model_len must be >= 1, got {max_model_len}")
        require_vllm()
        self.model = model
        self.data_parallel_size = data_parallel_size
        self.chunk_size = chunk_size
        self._config = EngineConfig(model, tensor_parallel_size, gpu_memory_utilization, max_model_len)
        self._engine: Engine | None = None
        self._pool: _EnginePool | None = None

    def identity(self) -> str:
        """Nothing beyond the model: the engine layout does not change what is sampled."""
        return ""

    def generate(self, requests: Sequence[GenerationRequest], settings: SamplingSettings) -> Iterator[tuple[GenerationRequest, Generation]]:
        """Yield every request with its completion, a chunk at a time (in chunk order with one engine, as
        chunks end with several)."""
        chunks = [list(requests[start:start + self.chunk_size]) for start in range(0, len(requests), self.chunk_size)]
        if not chunks:
            return
        if self.data_parallel_size == 1:
            engine = self._single_engine()
            for chunk in chunks:
                yield from zip(chunk, engine.generate(chunk, settings), strict=True)
            return
        if self._pool is None:
            self._pool = _EnginePool(self._config, self.data_parallel_size)
        for index, generations in self._pool.generate(chunks, settings):
            yield from zip(chunks[index], generations, strict=True)

    def close(self) -> None:
        """Stop the engine processes, or drop the engine of this process; idempotent."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        self._engine = None

    def _single_engine(self) -> Engine:
        if self._engine is None:
            try:
                self._engine = Engine(self._config)
            except BackendError:
                raise
            except Exception as exc:  # vLLM raises many kinds; the evaluation needs one
                raise BackendError(f"vllm backend: cannot start an engine for {self.model!r}: {type(exc).__name__}: {exc}") from exc
        return self._engine

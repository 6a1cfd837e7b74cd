"""Multi-process launching, a CPU DeepSpeed shim for accelerate, and clean distributed teardown.

Four accelerate configurations live in ``recipes/accelerate/`` (see :data:`MODES`). Training under one of
them is started through ``accelerate launch`` (:func:`launch_command`, :func:`environment_for_launch`);
every rank then calls :func:`apply_cpu_deepspeed_shim` before anything builds an ``Accelerator`` or
``TrainingArguments``, and :func:`teardown` when training is done.

Why a shim is needed on a machine without a GPU
-----------------------------------------------
DeepSpeed itself runs on CPU (``DS_ACCELERATOR=cpu``, the gloo process-group backend), but accelerate has
no code path that combines "several processes", "DeepSpeed" and "no GPU":

* ``PartialState._prepare_backend(cpu=False)`` only chooses a process-group backend when it finds a
  device (CUDA, XPU, NPU, ...). With none it returns ``backend=None``; ``PartialState.__init__`` then
  still initialises DeepSpeed's process group, but records ``num_processes=1`` and ``process_index=0``
  in *every* rank: each rank believes it is the only one, and data sharding, ZeRO-3 saving and
  main-process logic are all wrong (no error is raised).
* The CPU fallback (``backend="gloo"``, ``MULTI_CPU``) only exists for ``cpu=True``, and ``cpu=True``
  disables DeepSpeed both in ``PartialState.__init__`` (``if not cpu and self.backend != "xla"``) and in
  ``AcceleratorState.__init__`` (``elif ACCELERATE_USE_DEEPSPEED ... and not cpu``).

So on CPU the DeepSpeed path must run with ``cpu=False`` (never ``TrainingArguments(use_cpu=True)``) and
with ``backend="gloo"`` filled in where accelerate leaves ``None``; that is all the shim does.

Mixed precision: the DeepSpeed configs say ``mixed_precision: bf16`` (for GPUs). Under DeepSpeed,
accelerate writes the launch-time precision into the DeepSpeed config (``bf16.enabled: true``), and
transformers refuses to start when that disagrees with the recipe ("DeepSpeed config values that
mismatch TrainingArguments values: ds bf16.enabled=True vs hf bf16|bf16_full_eval=False"). CPU runs
train in fp32 (``bf16=False``), so without a GPU :func:`launch_command` adds ``--mixed_precision no``;
DeepSpeed then takes its precision from ``TrainingArguments`` alone. On GPUs the recipe must say
``bf16=True`` with these configs.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("single", "zero2", "zero3", "zero3_offload")
"""Accepted launch modes; each is ``recipes/accelerate/<mode>.yaml``."""

DEEPSPEED_MODES: frozenset[str] = frozenset({"zero2", "zero3", "zero3_offload"})
"""Modes whose accelerate config has ``distributed_type: DEEPSPEED``."""

_CHECKOUT: Path = Path(__file__).resolve().parents[2]
"""The directory holding the ``rltrain`` package (the repository checkout)."""

ACCELERATE_CONFIG_DIR: Path = _CHECKOUT / "recipes" / "accelerate"
"""Where the accelerate config YAMLs live (relative to the repository checkout)."""

LAUNCHER_ENV_VARS: tuple[str, ...] = ("WORLD_SIZE", "LOCAL_RANK")
"""Set by ``accelerate launch``/torchrun in each rank; their presence means "already launched"."""

_SHIM_MARKER = "_rltrain_cpu_deepspeed_shim"


def has_gpu() -> bool:
    """Whether a CUDA device is usable by this process (``CUDA_VISIBLE_DEVICES=""`` counts as none)."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.device_count() > 0)


def accelerate_config_path(mode: str) -> Path:
    """The accelerate config file for ``mode`` (one of :data:`MODES`).

    Raises ``ValueError`` naming the accepted modes for an unknown mode, and ``FileNotFoundError`` when the
    file is missing from the checkout.
    """
    if mode not in MODES:
        raise ValueError(f"unknown launch mode {mode!r}; accepted modes: {', '.join(MODES)}")
    path = ACCELERATE_CONFIG_DIR / f"{mode}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"accelerate config for mode {mode!r} not found at {path}")
    return path


def is_launched() -> bool:
    """Whether this process was started by a distributed launcher (``WORLD_SIZE``/``LOCAL_RANK`` set)."""
    return any(name in os.environ for name in LAUNCHER_ENV_VARS)


@dataclass(frozen=True)
class NodePlacement:
    """Where this node sits in a multi-node run: facts of the allocation, not of the recipe.

    A recipe says how many processes run on each node (``distributed.num_processes``); the launch says
    how many nodes train and which one this is (``rltrain train --num-machines N --machine-rank R
    --main-process-ip HEAD``; the SLURM scripts fill them in from ``scontrol show hostnames``). The head
    (machine rank 0) hosts the rendezvous, evaluates and writes the stage summary; the other nodes only
    train.
    """

    num_machines: int = 1
    machine_rank: int = 0
    main_process_ip: str | None = None
    main_process_port: int | None = None
    """Rendezvous port on the head; overrides the recipe's ``distributed.main_process_port``."""
    rendezvous_timeout: int = 1800
    """Seconds the nodes wait for each other at start (the head evaluates the starting model first)."""

    def __post_init__(self) -> None:
        if self.num_machines < 1:
            raise ValueError(f"--num-machines must be at least 1, got {self.num_machines}")
        if not 0 <= self.machine_rank < self.num_machines:
            raise ValueError(f"--machine-rank must be in 0..{self.num_machines - 1}, got {self.machine_rank}")
        if self.num_machines > 1 and not self.main_process_ip:
            raise ValueError("a multi-node run needs --main-process-ip (the head node's address)")
        if self.rendezvous_timeout < 1:
            raise ValueError(f"rendezvous timeout must be positive, got {self.rendezvous_timeout}")

    @property
    def is_head(self) -> bool:
        return self.machine_rank == 0

    @property
    def multi_node(self) -> bool:
        return self.num_machines > 1


SINGLE_NODE = NodePlacement()


def needs_launcher(mode: str, num_processes: int, placement: NodePlacement = SINGLE_NODE) -> bool:
    """Whether a run in ``mode`` with ``num_processes`` must be (re-)started under :func:`launch_command`.

    True for more than one process or node, or any DeepSpeed mode, unless this process already runs
    under a launcher.
    """
    accelerate_config_path(mode)  # validates the mode
    return not is_launched() and (num_processes > 1 or placement.multi_node or mode in DEEPSPEED_MODES)


def launch_command(
    mode: str,
    num_processes: int,
    argv: list[str],
    *,
    main_process_port: int | None = None,
    placement: NodePlacement = SINGLE_NODE,
) -> list[str]:
    """The ``accelerate launch`` command that runs ``python -m rltrain.cli <argv>`` in ``num_processes`` ranks
    on this node (``num_processes * placement.num_machines`` in all).

    ``argv`` is the CLI's own argument list (e.g. ``["train", "recipe.yaml"]``). Without a GPU,
    ``--mixed_precision no`` overrides the config's bf16 (see the module docstring: without it
    transformers rejects ``TrainingArguments(bf16=False)`` against DeepSpeed's ``bf16.enabled``).
    ``main_process_port`` picks the rendezvous port (``0``: accelerate chooses a free one); by default
    accelerate uses 29500, or a free port when that one is busy. Run it with
    :func:`environment_for_launch` merged into the environment.
    """
    config = accelerate_config_path(mode)
    if isinstance(num_processes, bool) or not isinstance(num_processes, int) or num_processes < 1:
        raise ValueError(f"num_processes must be a positive integer, got {num_processes!r}")
    if mode == "single" and num_processes != 1:
        raise ValueError(f"launch mode 'single' runs exactly one process, got num_processes={num_processes}")
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(config),
        "--num_processes",
        str(num_processes * placement.num_machines),
    ]
    if not has_gpu():
        cmd += ["--mixed_precision", "no"]
    if main_process_port is not None:
        cmd += ["--main_process_port", str(int(main_process_port))]
    if placement.multi_node:
        if main_process_port is None or int(main_process_port) == 0:
            raise ValueError("a multi-node run needs a fixed rendezvous port (--main-process-port), the same on every node")
        cmd += [
            "--num_machines", str(placement.num_machines),
            "--machine_rank", str(placement.machine_rank),
            "--main_process_ip", str(placement.main_process_ip),
            "--rdzv_conf", f"timeout={placement.rendezvous_timeout}",
        ]
    cmd += ["-m", "rltrain.cli", *argv]
    return cmd


def environment_for_launch() -> dict[str, str]:
    """Environment additions for the launched ranks (merge into ``os.environ`` for the launch).

    * ``PYTHONPATH``: the directory holding the ``rltrain`` package is put first (when not already
      listed) so ``-m rltrain.cli`` imports this checkout in every rank, whatever the working directory.
    * Without a GPU: ``DS_ACCELERATOR=cpu`` so DeepSpeed picks its CPU accelerator (gloo communication)
      without probing for devices; a value the user already set wins (nothing is returned for it).
    """
    env: dict[str, str] = {}
    package_root = str(_CHECKOUT)
    python_path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if package_root not in python_path:
        env["PYTHONPATH"] = os.pathsep.join([package_root, *python_path])
    if not has_gpu() and "DS_ACCELERATOR" not in os.environ:
        env["DS_ACCELERATOR"] = "cpu"
    return env


def _deepspeed_requested() -> bool:
    return os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"


def apply_cpu_deepspeed_shim() -> bool:
    """Let accelerate run DeepSpeed over gloo in a multi-process launch on a machine without a GPU.

    Returns whether the shim is in effect (also when an earlier call applied it; calling twice patches
    once). Does nothing and returns ``False`` when ``ACCELERATE_USE_DEEPSPEED`` is not ``"true"`` (i.e. the
    process was not started by ``accelerate launch`` with a DeepSpeed config) or when a GPU is present.
    Must run before the first ``PartialState``/``Accelerator``/``TrainingArguments`` of the process.

    What it bypasses: ``accelerate.state.PartialState._prepare_backend`` returns ``backend=None`` when it is
    called with ``cpu=False`` (required for DeepSpeed; ``cpu=True`` switches DeepSpeed off) under a launcher
    (``LOCAL_RANK`` set) and no device is found. With ``backend=None`` ``PartialState.__init__`` marks every
    rank as a one-process world (``num_processes=1``, ``process_index=0``) even though DeepSpeed has
    already created a process group over all ranks. The shim wraps ``_prepare_backend`` and, only in
    exactly that situation (original result ``(None, DistributedType.NO)``, ``cpu=False``, no SageMaker,
    ``LOCAL_RANK`` set, ``ACCELERATE_USE_DEEPSPEED=true``), returns ``backend="gloo"`` instead of ``None``.
    The rest is accelerate's own code, identical to what it does for an explicit
    ``PartialState(backend="gloo")`` (``TrainingArguments(ddp_backend="gloo")``): DeepSpeed initialises
    the gloo process group, world size and rank are read from it, the device is the CPU, and the
    distributed type becomes ``DEEPSPEED`` (then ``AcceleratorState`` installs the DeepSpeed plugin).

    Why it is safe only on CPU: the wrapper changes nothing when accelerate found any device (CUDA, XPU,
    NPU, ...), since then the original already returned a backend, and it is never installed when CUDA is
    available. Forcing gloo on a GPU would route collectives through host memory and break NCCL-only
    paths; on CPU gloo is the only backend DeepSpeed's CPU accelerator uses without oneCCL.
    """
    if not _deepspeed_requested() or has_gpu():
        return False

    # DeepSpeed caches its accelerator on first use; choose CPU explicitly before anything asks.
    os.environ.setdefault("DS_ACCELERATOR", "cpu")

    from accelerate.state import PartialState
    from accelerate.utils import DistributedType

    original = PartialState._prepare_backend
    if getattr(original, _SHIM_MARKER, False):
        return True

    def _prepare_backend(self, cpu: bool = False, sagemaker_dp: bool = False, backend: str | None = None):
        found_backend, distributed_type = original(self, cpu, sagemaker_dp, backend)
        if (
            found_backend is None
            and distributed_type == DistributedType.NO
            and not cpu
            and not sagemaker_dp
            and int(os.environ.get("LOCAL_RANK", -1)) != -1
            and _deepspeed_requested()
        ):
            return "gloo", distributed_type
        return found_backend, distributed_type

    _prepare_backend.__wrapped__ = original  # type: ignore[attr-defined]  # FunctionType lacks it; unwrapping finds accelerate's
    setattr(_prepare_backend, _SHIM_MARKER, True)
    PartialState._prepare_backend = _prepare_backend

    if PartialState._shared_state.get("backend", "unset") is None and is_launched():
        logger.warning(
            "apply_cpu_deepspeed_shim() ran after accelerate's PartialState was created; that state still "
            "describes a one-process world until it is reset (TrainingArguments resets it)."
        )
    return True


def _member_process_groups() -> list:
    """Every process group this rank belongs to, in creation order (the default group first)."""
    import torch.distributed as dist

    try:
        from torch.distributed.distributed_c10d import _world

        rank = dist.get_rank()
        groups = [g for g, ranks in _world.pg_group_ranks.items() if rank in ranks]
    except Exception:  # noqa: BLE001 - private registry unavailable: fall back to the default group
        groups = []
    return groups or [dist.group.WORLD]


def teardown() -> None:
    """End the distributed run cleanly so the process exit status can be trusted; call it in every rank.

    1. A barrier on every process group this rank belongs to (DeepSpeed creates its own data-parallel
       groups besides the default one), in creation order, so all ranks agree on the order. A gloo
       barrier also waits for all work already queued on that group, so afterwards no collective is
       still running in gloo's worker threads.
    2. Destroys all process groups, through DeepSpeed's communication layer when DeepSpeed owns the
       default group (it also drops DeepSpeed's cached group handles), else through ``torch.distributed``.
    3. Resets accelerate's shared state so nothing later in the process uses the destroyed groups.

    Why: with gloo, a collective still in flight when the interpreter shuts down is finished and freed
    by gloo's worker thread, which then releases tensors owned by Python; taking the GIL during
    interpreter finalisation ends that thread inside a ``noexcept`` C++ destructor and
    ``std::terminate`` aborts the rank ("terminate called without an active exception", exit -6) even
    though training finished. Destroying the groups does not stop those threads here (DeepSpeed's
    ZeRO-3 hooks keep the model, and with it the groups, alive until exit), so the barriers, which
    leave the worker threads idle before the interpreter starts shutting down, are the actual fix.

    Called while an exception is propagating (e.g. from a ``finally:`` block), it skips the barriers:
    the other ranks may be blocked in a collective and never reach them, and waiting would keep this
    rank alive, so the launcher would not notice the failure and stop the others. The exit status is
    non-zero on that path anyway. Safe to call when nothing was initialised, and twice.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if sys.exc_info()[0] is not None:
            logger.info("teardown while an exception propagates: destroying process groups without barriers")
        else:
            try:
                for group in _member_process_groups():
                    dist.barrier(group=group)
            except Exception as exc:  # noqa: BLE001 - a peer already failed; still release our resources
                logger.warning("barrier before teardown failed: %s", exc)
        try:
            if "deepspeed" in sys.modules:
                from deepspeed import comm as ds_comm

                if ds_comm.is_initialized():
                    ds_comm.destroy_process_group()
        finally:
            if dist.is_initialized():
                dist.destroy_process_group()

    if "accelerate" in sys.modules:
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()


def rank_report(accelerator, shim: bool) -> dict:
    """What accelerate sees in this rank, and whether the ranks can talk (a sum over the process group)."""
    import torch

    state = accelerator.state
    total = accelerator.reduce(torch.tensor([state.process_index], device=accelerator.device), "sum")
    expected = state.num_processes * (state.num_processes - 1) // 2
    return {
        "rank": state.process_index,
        "num_processes": state.num_processes,
        "distributed_type": str(state.distributed_type),
        "backend": state.backend,
        "device": str(accelerator.device),
        "mixed_precision": state.mixed_precision,
        "cpu_deepspeed_shim": shim,
        "rank_sum_ok": int(total.item()) == expected,
    }


def _report_rank() -> int:
    """``python -m rltrain.run.distributed`` under a launcher: print what accelerate sees in each rank.

    Applies the shim, builds the accelerate state, sums the ranks over the process group (checks that
    communication works) and tears down. A quick check of a launch setup without loading a model.
    """
    import json

    from accelerate import Accelerator

    shim = apply_cpu_deepspeed_shim()
    report = rank_report(Accelerator(), shim)
    sys.stdout.write(json.dumps(report) + "\n")  # one write: lines of concurrent ranks stay whole
    sys.stdout.flush()
    teardown()
    return 0 if report["rank_sum_ok"] else 1


if __name__ == "__main__":
    sys.exit(_report_rank())

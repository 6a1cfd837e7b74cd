"""When rewards are computed relative to the rest of a GRPO step (``rollout.reward_mode``).

TRL scores a batch after generation and after the reference/old log-prob passes, one reward function
after another; the step waits for the slowest reward. This mixin changes only *when* scoring runs:

* ``sync``: TRL's order. The mixin only measures (``timing/*`` metrics).
* ``overlapped`` (on-policy): scoring starts in a background thread the moment completions exist, all
  reward functions at once (async ones gathered, plain ones in threads), while the main thread runs
  the log-prob passes; the step then waits only for what is left.
* ``pipelined`` (one step off-policy): the batch drawn at step ``t`` is generated at step ``t`` and
  trained at step ``t + 1``; its rewards run while step ``t`` trains on the batch before it. The
  pipeline fills at the first step (and after a resume) by sampling that batch twice: once trained at
  once, once kept in flight. The batch in flight when a run stops is not trained (after a resume, the
  sampler continues with the next batch).

What TRL 1.16 corrects with, and what pipelining feeds it. Two tensors of the batch decide how far an
update trusts completions that another policy sampled:

* the PPO ratio: ``_compute_loss`` takes ``coef_1 = exp(logp_now - old_per_token_logps)`` (its masked
  mean per sequence at ``importance_sampling_level: sequence``), clips it to ``[1 - epsilon,
  1 + epsilon_high]`` (``cispo``/``sapo``/``vespo`` shape it otherwise), and uses ``logp_now.detach()``
  when the batch carries no ``old_per_token_logps``, i.e. a ratio of exactly 1;
* the vLLM importance weight (only with ``use_vllm`` and ``vllm_importance_sampling_correction``):
  ``_generate_and_score_completions`` computes ``old_per_token_logps`` with the trainer's model
  (``_get_per_token_logps_and_entropies(self.model, ...)``, the first log-prob pass of the batch), then
  ``importance_sampling_ratio = exp(old_per_token_logps - sampling_per_token_logps)`` against vLLM's
  log-probs of the sampled tokens, per token or summed per sequence, truncated or masked outside
  ``[vllm_importance_sampling_clip_min, vllm_importance_sampling_clip_max]``; ``_compute_loss``
  multiplies the per-token loss by it (``vespo`` folds it into its weights). TRL's
  ``sampling/sampling_logp_difference/*`` and ``sampling/importance_sampling_ratio/*`` metrics are
  taken from the same two tensors.

TRL computes ``old_per_token_logps`` when it scores the batch. In pipelined mode that is one step after
generation, under weights one update newer than the sampler's: the ratio would be 1 at the start of
the step (the clip never binds), the vLLM weight would carry the staleness as well as the mismatch
(and drop or truncate whole sequences for it), and without the vLLM correction nothing would correct
at all. So, on both generation paths, the trainer's per-token log-probs of the completions are taken
at generation time, under the weights that generated them (:meth:`RewardSchedule._behaviour_logps`),
and become the replayed batch's ``old_per_token_logps``: the PPO ratio is taken against the policy
that sampled. With the vLLM correction on, TRL's old log-prob pass at replay returns those same
log-probs instead of running (:meth:`RewardSchedule._get_per_token_logps_and_entropies`), so TRL's
importance weight compares vLLM's sampling log-probs with the trainer's under the *same* weights and
covers only the vLLM-versus-trainer mismatch; ``coef_1 * importance_sampling_ratio`` is then the full
``pi_now / pi_vllm``. Cost: one forward pass without gradient per step at generation time; with the
vLLM correction on, it replaces TRL's own pass at replay (no extra pass).

Collectives stay in the main thread in the same order on every rank: the background thread only runs
reward functions on this rank's completions; the cross-rank gather, and the metrics the rewards log
(``log_metric``/``log_extra``), are taken in the main thread when the step collects the scores.

Metrics per logged step: ``timing/generation_s`` (in generate), ``timing/reward_wait_s`` (the main
thread blocked on rewards), ``timing/reward_compute_s`` (the scoring itself, wherever it ran).
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import torch

from rltrain.recipe.schema import RolloutConfig
from rltrain.rollout.trl_seam import GENERATE_RESULT, result_field
from verifiers.registry import is_async_reward


@dataclass
class ScoredLocally:
    """One rank's rewards for one batch, plus what the reward functions asked to log."""

    rewards: torch.Tensor  # (completions, reward functions), NaN where a function returned None
    seconds: float
    metrics: list[tuple[str, float]] = field(default_factory=list)
    extras: list[tuple[str, list]] = field(default_factory=list)


def score_batch(
    reward_funcs: list[Callable], prompts: list, completions: list, completion_ids: list, columns: dict[str, Any]
) -> ScoredLocally:
    """Run every reward function on one batch concurrently; a pure function of its inputs (no trainer).

    ``columns`` are the keyword arguments besides prompts/completions (dataset columns, trainer_state).
    Async functions are awaited together; plain functions run in threads beside them.
    """
    metrics: list[tuple[str, float]] = []
    extras: list[tuple[str, list]] = []
    kwargs = {**columns, "log_metric": lambda name, value: metrics.append((name, value)),
              "log_extra": lambda column, values: extras.append((column, values))}
    started = time.perf_counter()

    async def run_all() -> list[list[float | None]]:
        calls = []
        for fn in reward_funcs:
            call = {"prompts": prompts, "completions": completions, "completion_ids": completion_ids, **kwargs}
            calls.append(fn(**call) if is_async_reward(fn) else asyncio.to_thread(fn, **call))
        return list(await asyncio.gather(*calls))

    outputs = asyncio.run(run_all())
    table = torch.full((len(prompts), len(reward_funcs)), float("nan"))
    for j, (fn, values) in enumerate(zip(reward_funcs, outputs, strict=True)):
        if len(values) != len(prompts):
            name = getattr(fn, "__name__", type(fn).__name__)
            raise ValueError(f"reward {name!r} returned {len(values)} rewards for {len(prompts)} completions")
        table[:, j] = torch.tensor([float("nan") if v is None else float(v) for v in values])
    return ScoredLocally(table, time.perf_counter() - started, metrics, extras)


def _in_background(fn: Callable[[], ScoredLocally]) -> Future:
    """Run ``fn`` in a daemon thread (a stopping process never waits for a reward still running)."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - delivered to the main thread by future.result()
            future.set_exception(exc)

    threading.Thread(target=run, name="rltrain-rewards", daemon=True).start()
    return future


@dataclass
class _InFlight:
    """A generated batch waiting to be trained (pipelined mode)."""

    inputs: list[dict[str, Any]]
    generated: tuple
    behaviour_logps: torch.Tensor  # the trainer's per-token log-probs under the weights that generated it


class RewardSchedule:
    """GRPOTrainer mixin: overlapped or pipelined reward scoring (see the module docstring).

    What it overrides, calls and reads of TRL is declared in :data:`rltrain.rollout.trl_seam.SEAMS`."""

    rollout: RolloutConfig  # set on the composed class by rltrain.rollout.grpo
    # What the mixin reads of GRPOTrainer (annotations only: nothing here shadows TRL's attributes).
    args: Any
    state: Any
    model: Any
    accelerator: Any
    reward_funcs: list[Any]
    tools: Any
    rollout_func: Any
    environments: Any
    environment_factories: Any
    use_vllm: bool
    vllm_importance_sampling_correction: bool
    pad_to_multiple_of: int | None
    _tokenizer: Any
    _metrics: dict[str, dict[str, list[float]]]
    _log_metric: Callable[[str, float], None]
    _log_completion_extra: Callable[[str, list], None]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        mode = self.rollout.reward_mode
        if mode != "sync":
            if any(isinstance(f, torch.nn.Module) for f in self.reward_funcs):
                raise ValueError(f"rollout.reward_mode {mode!r} scores in a background thread; reward models given as "
                                 "torch modules run only in 'sync' (the reward_model reward works in every mode)")
            if self.tools or self.rollout_func is not None or self.environment_factories is not None:
                raise ValueError(f"rollout.reward_mode {mode!r} does not support tools, rollout_func or environments")
        self._scoring: dict[int, Future] = {}  # id(completions list) -> its scores
        self._scoring_inputs: list[dict[str, Any]] | None = None
        self._replay: tuple | None = None
        self._in_flight: _InFlight | None = None
        self._logps_for_old_pass: torch.Tensor | None = None  # what TRL's next old log-prob pass returns

    # --- TRL hooks ------------------------------------------------------------------------------

    def _generate_and_score_completions(self, inputs):
        training = self.model.training
        if training and self.rollout.reward_mode == "pipelined":
            return self._pipelined(inputs)
        self._scoring_inputs = inputs if self.rollout.reward_mode == "overlapped" else None
        try:
            return super()._generate_and_score_completions(inputs)
        finally:
            self._scoring_inputs = None

    def _generate(self, prompts):
        if self._replay is not None:  # pipelined: the batch was generated one step earlier
            generated, self._replay = self._replay, None
            return generated
        started = time.perf_counter()
        generated = super()._generate(prompts)
        self._metric("timing/generation_s", time.perf_counter() - started)
        extra_fields = result_field(generated, GENERATE_RESULT, "extra_fields")
        if self._scoring_inputs is not None and not extra_fields:  # no rollout extra fields to merge first
            self._start_scoring(self._scoring_inputs, prompts, generated)
        return generated

    def _calculate_rewards(
        self, inputs: list[dict[str, Any]], prompts: list, completions: list, completion_ids_list: list
    ) -> torch.Tensor:
        future = self._scoring.pop(id(completions), None)
        started = time.perf_counter()
        if future is None:
            rewards = super()._calculate_rewards(  # type: ignore[misc]  # GRPOTrainer's, next in the MRO
                inputs, prompts, completions, completion_ids_list)
            seconds = time.perf_counter() - started
            self._metric("timing/reward_wait_s", seconds)
            self._metric("timing/reward_compute_s", seconds)
            return rewards
        scored: ScoredLocally = future.result()
        self._metric("timing/reward_wait_s", time.perf_counter() - started)
        self._metric("timing/reward_compute_s", scored.seconds)
        for name, value in scored.metrics:
            self._log_metric(name, value)
        for column, values in scored.extras:
            self._log_completion_extra(column, values)
        from accelerate.utils import gather

        return gather(scored.rewards.to(self.accelerator.device))

    # --- scoring in the background --------------------------------------------------------------

    def _start_scoring(self, inputs: list[dict[str, Any]], prompts: list, generated: tuple) -> None:
        completion_ids = result_field(generated, GENERATE_RESULT, "completion_ids")
        completions = result_field(generated, GENERATE_RESULT, "completions")
        skip = ("prompt", "completion", "completion_ids")
        columns: dict[str, Any] = {k: [row[k] for row in inputs] for k in inputs[0] if k not in skip}
        columns["trainer_state"] = copy.copy(self.state)  # the step it was generated at, not a moving one
        if self.environments is not None:
            columns["environments"] = self.environments
        funcs = list(self.reward_funcs)
        self._scoring[id(completions)] = _in_background(
            lambda: score_batch(funcs, prompts, completions, completion_ids, columns)
        )

    # --- pipelined ------------------------------------------------------------------------------

    def _pipelined(self, inputs):
        if self._in_flight is None:  # first step, or first after a resume: fill the pipeline
            output = self._finish(self._launch(inputs))
            self._in_flight = self._launch(inputs)
            return output
        previous, self._in_flight = self._in_flight, self._launch(inputs)
        return self._finish(previous)

    def _launch(self, inputs) -> _InFlight:
        """Generate for ``inputs`` with the current weights and start scoring in the background."""
        self._scoring_inputs = inputs
        try:
            generated = self._generate([row["prompt"] for row in inputs])
        finally:
            self._scoring_inputs = None
        return _InFlight(inputs, generated, self._behaviour_logps(generated))

    def _finish(self, flight: _InFlight):
        """TRL's scoring and advantages for a batch generated earlier, with the PPO ratio and the vLLM
        importance weight both taken against the weights that generated it (see the module docstring)."""
        self._replay = flight.generated
        logps = flight.behaviour_logps
        if self.use_vllm and self.vllm_importance_sampling_correction:
            self._logps_for_old_pass = logps
        try:
            output = super()._generate_and_score_completions(flight.inputs)  # type: ignore[misc]  # GRPOTrainer's, next in the MRO
        finally:
            unused, self._logps_for_old_pass = self._logps_for_old_pass, None
        if unused is not None:
            raise RuntimeError("TRL scored the batch without its old log-prob pass, so its vLLM importance weight was "
                               "not taken against the generating weights (see rltrain.rollout.trl_seam)")
        if logps.shape != output["completion_ids"].shape:
            raise RuntimeError(f"generation-time log-probs {tuple(logps.shape)} do not match the batch "
                               f"{tuple(output['completion_ids'].shape)}")
        output["old_per_token_logps"] = logps
        return output

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs):
        """TRL's, except for the old log-prob pass of a replayed batch under the vLLM correction: that pass
        returns the log-probs taken at generation time, so TRL's importance weight is computed against
        the generating weights rather than the current ones."""
        logps = self._logps_for_old_pass
        if logps is None or model is not self.model:
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, *args, **kwargs)
        self._logps_for_old_pass = None
        wanted = (input_ids.size(0), logits_to_keep)
        if tuple(logps.shape) != wanted or kwargs.get("compute_entropy") or kwargs.get("compute_aux_loss"):
            raise RuntimeError(f"TRL's first log-prob pass of a replayed batch asked for {wanted} log-probs "
                               f"(entropy {bool(kwargs.get('compute_entropy'))}), not the old log-probs "
                               f"{tuple(logps.shape)} taken at generation time (see rltrain.rollout.trl_seam)")
        return logps, None, None

    def _behaviour_logps(self, generated: tuple) -> torch.Tensor:
        """Per-token log-probs of the completions under the weights that generated them, padded as TRL
        pads the batch (prompts left, completions right)."""
        from trl.models.utils import disable_gradient_checkpointing
        from trl.trainer.utils import pad

        device = self.accelerator.device
        multiple = self.pad_to_multiple_of
        prompts = [torch.tensor(ids) for ids in result_field(generated, GENERATE_RESULT, "prompt_ids")]
        completions = [torch.tensor(ids) for ids in result_field(generated, GENERATE_RESULT, "completion_ids")]
        pad_id = self._tokenizer.pad_token_id
        prompt_ids = pad(prompts, padding_value=pad_id, padding_side="left", pad_to_multiple_of=multiple).to(device)
        prompt_mask = pad([torch.ones_like(p) for p in prompts], padding_value=0, padding_side="left",
                          pad_to_multiple_of=multiple).to(device)
        completion_ids = pad(completions, padding_value=pad_id, padding_side="right", pad_to_multiple_of=multiple).to(device)
        completion_mask = pad([torch.ones_like(c) for c in completions], padding_value=0, padding_side="right",
                              pad_to_multiple_of=multiple).to(device)
        with torch.no_grad(), disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs):
            logps, _, _ = self._get_per_token_logps_and_entropies(
                self.model,
                torch.cat([prompt_ids, completion_ids], dim=1),
                torch.cat([prompt_mask, completion_mask], dim=1),
                completion_ids.size(1),
                batch_size=self.args.per_device_train_batch_size,
            )
        return logps

    def _metric(self, name: str, value: float) -> None:
        self._metrics["train" if self.model.training else "eval"][name].append(value)

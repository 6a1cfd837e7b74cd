"""Run in each rank of a 2-process ZeRO-3 launch (tests/test_reward_model_zero3.py): report what accelerate
sees (as ``python -m rltrain.run.distributed`` does), then load the in-process reward model as a trainer rank
would and score a rank-dependent number of texts, so the ranks run different numbers of batches. Prints
one JSON line per rank: the launch report, its scores and how the model was held."""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    from rltrain.run.distributed import apply_cpu_deepspeed_shim, rank_report, teardown

    shim = apply_cpu_deepspeed_shim()
    from accelerate import Accelerator
    from transformers import TrainingArguments

    # As a trainer rank: the training arguments set up ZeRO-3 (models load partitioned), then the accelerator.
    TrainingArguments(output_dir=os.environ["RM_OUT"], use_cpu=False, report_to="none")
    accelerator = Accelerator()
    launch = rank_report(accelerator, shim)
    from verifiers import build_reward

    rank = accelerator.process_index
    reward = build_reward("reward_model", {"model_path": os.environ["RM_PATH"], "batch_size": 2})
    texts = json.loads(os.environ["RM_TEXTS"])[rank]
    prompts = [[{"role": "user", "content": p}] for p, _ in texts]
    completions = [[{"role": "assistant", "content": c}] for _, c in texts]
    scores = reward(prompts, completions)
    from verifiers.reward_model import load_reward_model

    model = load_reward_model(os.environ["RM_PATH"], batch_size=2)
    local = sum(p.numel() for p in model.model.module.parameters()) if model.collective else None
    report = {**launch, "scores": scores, "collective": reward.collective, "local_params": local}
    sys.stdout.write(json.dumps(report) + "\n")  # one write: lines of concurrent ranks stay whole
    sys.stdout.flush()
    teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A tiny GRPO training run for the multi-process DeepSpeed test (started by ``accelerate launch``).

Not a test module itself: ``tests/test_distributed_shim.py`` builds a tiny model directory with
:func:`build_tiny_model_dir` and launches this file in several ranks. Each rank applies the CPU
DeepSpeed shim first, trains ``--max-steps`` GRPO steps (optionally resuming from a checkpoint), saves
the final model with ``trainer.save_model`` and tears the process group down. Rank 0 writes
``<output>/run_info.json`` with what the test checks.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

PAD, EOS = "<pad>", "<eos>"
CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;!?+-*/=()'\"\n"
PROMPTS = [
    "Count to three:",
    "Say hi.",
    "2+2=",
    "Name a color:",
    "Spell cat:",
    "Write ok.",
    "Add 1 and 5:",
    "Pick a letter:",
]


def build_tokenizer():
    """A character-level tokenizer (one token per character) with pad/eos tokens and a chat template."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate([PAD, EOS, "<unk>", *CHARS])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("[\\s\\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD, eos_token=EOS, unk_token="<unk>", model_max_length=512
    )
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}"
    )
    return tokenizer


def build_tiny_model_dir(path: str | Path, seed: int = 0) -> Path:
    """Save a randomly initialised tiny ``Qwen2ForCausalLM`` and its tokenizer to ``path``."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    path = Path(path)
    tokenizer = build_tokenizer()
    config = Qwen2Config(
        vocab_size=128,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def length_reward(completions, **kwargs) -> list[float]:
    """Prefers completions of about five characters."""
    return [-abs(len(c) - 5) / 5.0 for c in completions]


def main(argv: list[str] | None = None) -> int:
    from rltrain.distributed import apply_cpu_deepspeed_shim, teardown

    shim = apply_cpu_deepspeed_shim()  # before anything creates accelerate state

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--max-steps", type=int, required=True)
    parser.add_argument("--save-steps", type=int, default=2)
    parser.add_argument("--resume", default=None, help="checkpoint directory to resume from")
    args = parser.parse_args(argv)

    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    started = time.time()
    config = GRPOConfig(
        output_dir=args.output,
        max_steps=args.max_steps,
        save_steps=args.save_steps,
        save_strategy="steps",
        per_device_train_batch_size=2,
        gradient_accumulation_steps=1,
        num_generations=2,
        max_completion_length=8,
        learning_rate=1e-3,
        logging_steps=1,
        bf16=False,
        fp16=False,
        report_to=[],
        seed=0,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    dataset = Dataset.from_dict({"prompt": PROMPTS * 4})
    trainer = GRPOTrainer(
        model=args.model,
        reward_funcs=length_reward,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    state = trainer.accelerator.state
    trainer.train(resume_from_checkpoint=args.resume)
    trainer.save_model(args.output)
    info = {
        "shim_applied": shim,
        "distributed_type": str(state.distributed_type),
        "num_processes": state.num_processes,
        "zero_stage": trainer.accelerator.state.deepspeed_plugin.zero_stage
        if state.deepspeed_plugin is not None
        else None,
        "global_step": trainer.state.global_step,
        "seconds": round(time.time() - started, 2),
    }
    if trainer.accelerator.is_main_process:
        Path(args.output, "run_info.json").write_text(json.dumps(info, indent=2))
    print(f"[rank {state.process_index}] done: {json.dumps(info)}", flush=True)
    teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

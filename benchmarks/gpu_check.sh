#!/usr/bin/env bash
# GPU check of the memory plan: a few GRPO steps of a scaled-down Qwen2 (DeepSeek-R1-Distill-Qwen-1.5B's
# architecture cut to 4 blocks, 0.65B parameters, random bf16 weights, the full 152k vocabulary) on one
# H100/H200 through rltrain's normal training path, recording step time, tokens/s and peak GPU memory
# beside `rltrain plan`'s estimate of the same recipe (benchmarks/gpu_check.py has the details).
#
#   benchmarks/gpu_check.sh [OUT_DIR] [gpu_check.py options, e.g. --steps 8 --layers 6 --vllm]
#
# Writes OUT_DIR/gpu_check.json (default OUT_DIR: runs/gpu_check). Under 10 minutes on one H100; no
# network (HF_HUB_OFFLINE=1: nothing is downloaded, the model and tokenizer are written locally).
#
# Wheels that must be in the environment (PYTHON, default .venv/bin/python): this project installed
# (pip install -e .) with torch built for CUDA (the +cpu wheel will not do), transformers, trl,
# accelerate, datasets, pydantic, pyyaml, rich; vllm only for --vllm. flash-attn is not needed.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
out=${1:-runs/gpu_check}
shift || true
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTORCH_CUDA_ALLOC_CONF=${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
"$python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'torch sees no CUDA device (is this the +cpu wheel?)')"
timeout 570 "$python" benchmarks/gpu_check.py --out "$out" "$@"
echo "wrote $out/gpu_check.json"

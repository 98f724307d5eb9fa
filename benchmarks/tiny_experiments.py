"""The paper's claims in miniature, on the embedded tiny world (issue: MATS method + main job).

For each training seed: train a clean (bridge none), a noise-trained (MATS) and an
audio-supervised (MATS-Audio) checkpoint, then evaluate bridges none / noise / memory /
santa, a lam sweep and a k sweep, plus the CLAP zero-shot reference. Prints Markdown
(mean ± std over seeds) to append to benchmarks/RESULTS.md.

    python benchmarks/tiny_experiments.py --seeds 0,1,2 --out benchmarks/runs/tiny
    python benchmarks/tiny_experiments.py --noise-sweep 0.002,0.005,0.01,0.02 --seeds 0   # choose the variance
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TASKS = ["tiny-caption", "tiny-classify", "tiny-qa"]
HEAD = [("tiny-caption", "cider"), ("tiny-caption", "bleu_4"), ("tiny-classify", "accuracy_exact"), ("tiny-classify", "accuracy_embed"), ("tiny-qa", "accuracy")]


def train_set(out: Path, seed: int, steps: int, noise_variance: float, kinds=("clean", "noise", "audio")) -> None:
    import torch

    from mats_core import build
    from mats_core.corpus import load_corpus
    from mats_core.registry import resolved_params
    from mats_core.trainer import TrainConfig, train

    encoder = build("encoder", "tiny")
    for kind in kinds:
        target = out / kind
        if (target / "config.json").exists() and json.loads((target / "config.json").read_text()).get("step") == steps:
            continue
        bridge, params = ("noise", {"noise_variance": noise_variance}) if kind == "noise" else ("none", {})
        corpus = "tiny-pairs" if kind == "audio" else "tiny"
        torch.manual_seed(seed)
        llm = build("llm", "tiny")
        _, records = load_corpus(corpus)
        spec = {
            "encoder": {"name": "tiny", "params": {}}, "llm": {"name": "tiny", "params": {}},
            "bridge": {"name": bridge, **resolved_params("bridge", bridge, **params)},
            "corpus": {"name": "tiny", "params": {}}, "supervision": "audio" if kind == "audio" else "text",
        }
        cfg = TrainConfig(steps=steps, batch_size=32, lr=1e-3, warmup=50, seed=seed, device="cpu",
                          supervision="audio" if kind == "audio" else "text", checkpoint_every=steps)
        t = time.perf_counter()
        train(encoder, llm, build("bridge", bridge, **params), records, target, cfg, spec=spec, progress=False)
        print(f"trained {target} in {time.perf_counter() - t:.0f}s", flush=True)


def evaluate_set(ck: Path, out: Path, seed: int, limit: int | None, points: list[tuple[str, str, dict]]) -> dict:
    from mats_core.harness import Pipeline, RunConfig, evaluate, zero_shot

    pipe = Pipeline.from_checkpoint(ck / "noise", device="cpu")
    cfg = RunConfig(limit=limit, batch_size=64, seed=seed, device="cpu")
    rows = {}
    for name, bridge, params in points:
        which = "clean" if bridge == "none" and name == "none" else ("audio" if name == "mats-audio" else "noise")
        res = evaluate(pipe, ck / which, bridge, TASKS, out / name, cfg, params)
        rows[name] = res.results
        print(name, json.dumps({f"{t}/{m}": rows[name].get(t, {}).get(m) for t, m in HEAD}), flush=True)
    rows["clap-zero-shot"] = {"tiny-classify": {"accuracy_exact": zero_shot(pipe, "tiny-classify", cfg)["accuracy"]}}
    return rows


def table(per_seed: list[dict], names: list[str]) -> str:
    lines = ["| row | " + " | ".join(f"{t.removeprefix('tiny-')} {m}" for t, m in HEAD) + " |", "|---|" + "---:|" * len(HEAD)]
    for name in names:
        cells = []
        for t, m in HEAD:
            vals = [r[name][t][m] for r in per_seed if name in r and r[name].get(t, {}).get(m) is not None]
            cells.append("—" if not vals else f"{statistics.fmean(vals):.3f} ± {statistics.pstdev(vals):.3f}" if len(vals) > 1 else f"{vals[0]:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--noise-variance", type=float, default=0.01)
    ap.add_argument("--noise-sweep", default="", help="comma-separated variances: train noise ckpts only and compare")
    ap.add_argument("--limit", type=int, default=150)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/runs/tiny"))
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    t0 = time.perf_counter()
    if args.noise_sweep:
        per_var = {}
        for var in [float(v) for v in args.noise_sweep.split(",")]:
            per_seed = []
            for seed in seeds:
                ck = args.out / f"var{var}" / f"seed{seed}"
                train_set(ck, seed, args.steps, var, kinds=("noise",))
                (ck / "clean").exists() or os.symlink((ck / "noise").resolve(), ck / "clean")
                per_seed.append(evaluate_set(ck, ck / "eval", seed, args.limit, [("noise", "noise", {}), ("santa", "santa", {})]))
            per_var[var] = per_seed
        for var, per_seed in per_var.items():
            print(f"\n### noise variance {var}\n" + table(per_seed, ["noise", "santa"]))
        return
    points = [("none", "none", {}), ("noise", "noise", {}), ("memory", "memory", {}), ("santa", "santa", {})]
    points += [(f"santa lam={lam}", "santa", {"lam": lam}) for lam in (0.0, 0.1, 0.5)]
    points += [(f"santa k={k}", "santa", {"k": k}) for k in (1, 4, 16, 64)]
    points += [("mats-audio", "none", {})]
    per_seed = []
    for seed in seeds:
        ck = args.out / f"seed{seed}"
        train_set(ck, seed, args.steps, args.noise_variance)
        per_seed.append(evaluate_set(ck, ck / "eval", seed, args.limit, points))
    names = ["none", "noise", "memory", "santa", "mats-audio", "clap-zero-shot"]
    sweeps = ["santa lam=0.0", "santa lam=0.1", "santa", "santa lam=0.5", "memory", "santa k=1", "santa k=4", "santa k=16", "santa k=64"]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    print(f"\n## MATS on the tiny world ({date.today()}, {cpu}, {os.cpu_count()} cores, seeds {seeds}, "
          f"{args.steps} steps, noise variance {args.noise_variance}, {args.limit} samples/task, "
          f"{time.perf_counter() - t0:.0f}s)\n")
    print(table(per_seed, names))
    print("\nSanta sweeps (k 32 unless stated; lam 0.3 unless stated; memory = lam 1):\n")
    print(table(per_seed, sweeps))


if __name__ == "__main__":
    main()

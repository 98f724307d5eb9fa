"""The paper's claims in miniature, on the embedded tiny world (issue: MATS method + main job).

For each training seed: train a checkpoint set with `benchmarks/tiny_checkpoints.sh` (the
recipe of the shipped checkpoints: clean = bridge none, noise = MATS, audio = MATS-Audio).
The main table is one CLI call, `mats-bench run --checkpoint SET0,SET1,SET2` (bridges, no-audio
controls, CLAP zero-shot, MATS-Audio; mean ± std and a t-interval over the seeds, per-seed
values and paired differences in comparison.json). The lam and k sweeps are evaluated here
(saved per seed next to the checkpoints, so a rerun only evaluates what is missing). Prints
Markdown to paste into benchmarks/RESULTS.md.

    python benchmarks/tiny_experiments.py --seeds 0,1,2 --steps 2000 --noise-variance 0.0044
    python benchmarks/tiny_experiments.py --seeds 0 --noise-variance 0.002 --rows main   # a variance point
    python benchmarks/tiny_experiments.py --seeds 0,1,2 --report-only                     # table from saved rows
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["tiny-caption", "tiny-classify", "tiny-qa"]
HEAD = [
    ("tiny-caption", "cider"),
    ("tiny-caption", "bleu_4"),
    ("tiny-classify", "accuracy_exact"),
    ("tiny-classify", "accuracy_embed"),
    ("tiny-qa", "accuracy"),
]
REFERENCE_POINTS = [("memory", "memory", {}), ("santa", "santa", {})]  # the sweeps' lam 1 and default points
SWEEPS = [(f"santa lam={lam}", "santa", {"lam": lam}) for lam in (0.0, 0.1, 0.5)] + [
    (f"santa k={k}", "santa", {"k": k}) for k in (1, 4, 16, 64)
]
SWEEP_ROWS = [
    "santa lam=0.0",
    "santa lam=0.1",
    "santa",
    "santa lam=0.5",
    "memory",
    "santa k=1",
    "santa k=4",
    "santa k=16",
    "santa k=64",
]


def train_set(ck: Path, seed: int, steps: int, noise_variance: float) -> None:
    """The shipped recipe (two runs in parallel, one thread each, then MATS-Audio)."""
    done = all(
        (ck / k / "config.json").exists() and json.loads((ck / k / "config.json").read_text()).get("step") == steps
        for k in ("clean", "noise", "audio")
    )
    if not done:
        subprocess.run(
            [
                "bash",
                str(ROOT / "benchmarks" / "tiny_checkpoints.sh"),
                str(ck),
                str(steps),
                str(noise_variance),
                str(seed),
            ],
            check=True,
        )


def evaluate_set(ck: Path, seed: int, limit: int | None, points: list[tuple[str, str, dict]]) -> dict:
    from mats_core.run.harness import Pipeline, RunConfig, evaluate
    from mats_core.run.reference_row import score_zero_shot

    saved = ck / f"rows-limit{limit}.json"
    rows = json.loads(saved.read_text()) if saved.exists() else {}
    pipe = Pipeline.from_checkpoint(ck / "noise", device="cpu")
    cfg = RunConfig(limit=limit, batch_size=64, seed=seed, device="cpu")
    for name, bridge, params in points:
        if name in rows:
            continue
        which = "clean" if name == "none" else ("audio" if name == "mats-audio" else "noise")
        t = time.perf_counter()
        res = evaluate(pipe, ck / which, bridge, TASKS, ck / "eval" / name, cfg, bridge_params=params, overwrite=True)
        rows[name] = res.results
        saved.write_text(json.dumps(rows, indent=1))
        print(
            f"seed {seed} {name} ({time.perf_counter() - t:.0f}s)",
            json.dumps({f"{t}/{m}": rows[name].get(t, {}).get(m) for t, m in HEAD}),
            flush=True,
        )
    if "clap-zero-shot" not in rows:
        rows["clap-zero-shot"] = {
            "tiny-classify": {"accuracy_exact": score_zero_shot(pipe, "tiny-classify", cfg).metrics["accuracy"]}
        }
        saved.write_text(json.dumps(rows, indent=1))
    return rows


def table(per_seed: list[dict], names: list[str]) -> str:
    lines = [
        "| row | " + " | ".join(f"{t.removeprefix('tiny-')} {m}" for t, m in HEAD) + " |",
        "|---|" + "---:|" * len(HEAD),
    ]
    for name in names:
        cells = []
        for t, m in HEAD:
            vals = [r[name][t][m] for r in per_seed if name in r and r[name].get(t, {}).get(m) is not None]
            cells.append(
                "—"
                if not vals
                else f"{statistics.fmean(vals):.3f} ± {statistics.pstdev(vals):.3f}"
                if len(vals) > 1
                else f"{vals[0]:.3f}"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--noise-variance", type=float, default=0.0044)
    ap.add_argument("--limit", type=int, default=None, help="samples per task (default: the whole test split)")
    ap.add_argument("--rows", choices=["main", "all"], default="all", help="main rows only, or also the lam / k sweeps")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/runs/tiny"))
    ap.add_argument("--report-only", action="store_true", help="print the tables from saved rows")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    t0 = time.perf_counter()
    per_seed, sets = [], []
    for seed in seeds:
        ck = args.out / f"var{args.noise_variance}-steps{args.steps}" / f"seed{seed}"
        sets.append(str(ck))
        if args.report_only:
            per_seed.append(json.loads((ck / f"rows-limit{args.limit}.json").read_text()))
            continue
        train_set(ck, seed, args.steps, args.noise_variance)
        if args.rows == "all":
            per_seed.append(evaluate_set(ck, seed, args.limit, REFERENCE_POINTS + SWEEPS))
    main_out = (
        args.out / f"var{args.noise_variance}-steps{args.steps}" / f"main-{'-'.join(map(str, seeds))}-limit{args.limit}"
    )
    if not args.report_only:  # the main table: one CLI call over every seed's checkpoint set
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mats_core.cli",
                "run",
                "--checkpoint",
                ",".join(sets),
                "--output",
                str(main_out),
                "--device",
                "cpu",
                "--batch-size",
                "64",
            ]
            + (["--limit", str(args.limit)] if args.limit else []),
            check=True,
        )
    cpu = next(
        (l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor()
    )
    print(
        f"\n## MATS on the tiny world ({date.today()}, {cpu}, {os.cpu_count()} cores, seeds {seeds}, "
        f"{args.steps} steps, noise variance {args.noise_variance}, {args.limit or 'all'} samples/task, "
        f"{time.perf_counter() - t0:.0f}s)\n"
    )
    print((main_out / "comparison.md").read_text())
    if args.rows == "all":
        print("\nSanta sweeps (k 32 unless stated; lam 0.3 unless stated; memory = lam 1):\n")
        print(table(per_seed, SWEEP_ROWS))


if __name__ == "__main__":
    main()

"""Learning curve of a SmolLM2 run: does it listen yet? (issue 17)

Evaluates every checkpoint that ``train.keep_checkpoints`` kept (``<work>/steps/<step>``) with
the main job, bridge noise beside the no-audio control on the same samples, and prints one row
per step: the headline metric of each task with its 95% CI and the paired difference from the
control. ``benchmarks/smollm2_checkpoints.sh`` makes the checkpoints.

    python benchmarks/smollm2_curve.py /work/smol/noise.work --out /work/smol/curve --limit 96 \
        [--tasks tiny-classify] [--llm smollm2] [--steps 100,300]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HEADLINE = {"tiny-classify": "accuracy_exact", "tiny-qa": "accuracy", "tiny-caption": "cider"}
CONTROL = "no-audio (silence)"


def evaluate(checkpoint: Path, out: Path, args) -> dict:
    if not (out / "comparison.json").exists():
        cmd = [
            sys.executable,
            "-m",
            "mats_core.cli",
            "run",
            "--encoder",
            "tiny",
            "--llm",
            args.llm,
            "--checkpoint",
            str(checkpoint),
            "--bridge",
            "noise",
            "--tasks",
            args.tasks,
            "--limit",
            str(args.limit),
            "--no-reference",
            "--controls",
            "silence",
            "--device",
            "cpu",
            "--output",
            str(out),
            "--overwrite",
        ]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "comparison.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "work", type=Path, help="a training output with steps/ (train.keep_checkpoints=true), or a checkpoint"
    )
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--tasks", default="tiny-classify")
    ap.add_argument("--limit", type=int, default=96)
    ap.add_argument("--llm", default="smollm2")
    ap.add_argument("--steps", default=None, help="comma-separated steps (default: every kept one)")
    args = ap.parse_args()
    if (args.work / "steps").is_dir():
        found = {int(d.name): d for d in (args.work / "steps").iterdir() if (d / "config.json").exists()}
    else:
        found = {json.loads((args.work / "config.json").read_text()).get("step", 0): args.work}
    wanted = sorted(found) if not args.steps else [int(s) for s in args.steps.split(",")]
    tasks = args.tasks.split(",")
    print("| step | " + " | ".join(f"{t} noise [95% CI] | control | noise - control [95% CI]" for t in tasks) + " |")
    print("|---:|" + "---:|---:|---:|" * len(tasks))
    curve = []
    for step in wanted:
        comp = evaluate(found[step], args.out / f"step-{step}", args)
        cells, row = [], {"step": step}
        for t in tasks:
            m = HEADLINE.get(t) or comp["headline"][t][0]
            ours, ctrl = comp["rows"]["noise"][t][m], comp["rows"][CONTROL][t][m]
            ci = comp["intervals"]["noise"][t][m]
            d = comp["differences"][CONTROL][t][m]  # control minus noise: flip it
            cells.append(
                f"{ours:.3f} [{ci['low']:.2f}, {ci['high']:.2f}] | {ctrl:.3f} | "
                f"{-d['difference']:+.3f} [{-d['high']:+.2f}, {-d['low']:+.2f}]"
            )
            row[t] = {
                "metric": m,
                "noise": ours,
                "control": ctrl,
                "difference": -d["difference"],
                "low": -d["high"],
                "high": -d["low"],
            }
        curve.append(row)
        print(f"| {step} | " + " | ".join(cells) + " |", flush=True)
    (args.out / "curve.json").write_text(json.dumps(curve, indent=2))


if __name__ == "__main__":
    main()

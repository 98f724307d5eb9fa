"""tiny-qa accuracy per question kind, each row against a control, with paired bootstrap CIs.

The tiny world's questions have balanced answers, so the no-audio control should sit at
chance on every kind; a row that listens beats it on the kinds its embedding carries. The
main job's comparison.json has the paired CI of overall accuracy; this gives it per kind:

    python benchmarks/qa_kinds.py runs/latest --control no-audio-silence [--rows a,b] [--resamples 2000]
    python benchmarks/qa_kinds.py SEED0_RUN SEED1_RUN ...      # several runs: the samples of all of them pooled
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np


def correctness(row_dir: Path) -> dict[str, float]:
    """sample id -> 1.0 if the tiny-qa prediction is right (the qa metric's normalised match)."""
    from mats_metrics.qa import normalize

    out = {}
    for line in (row_dir / "samples.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r.get("task") != "tiny-qa":
            continue
        pred = "" if r.get("error") else normalize(str(r.get("prediction") or ""))
        out[r["id"]] = float(pred in {normalize(x) for x in r["references"]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--control", default="no-audio-silence", help="the control row's folder")
    ap.add_argument("--rows", default=None, help="comma-separated rows (default: every row of the first run)")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from mats_tiny.tasks import lazy_samples

    kinds = {s.id: s.meta["question_kind"] for s in lazy_samples("qa")}
    row_dirs = {p.name: p for p in sorted(args.runs[0].resolve().iterdir()) if (p / "samples.jsonl").is_file()}
    rows = args.rows.split(",") if args.rows else [r for r in row_dirs if r != args.control]
    score = {name: {} for name in [*rows, args.control]}
    for k, run in enumerate(args.runs):
        for name in score:
            score[name].update({(k, i): v for i, v in correctness(run.resolve() / name).items()})
    rng = np.random.default_rng(args.seed)
    print("| row | kind | n | accuracy | control | difference [95% CI] |\n|---|---|---:|---:|---:|---:|")
    for name in rows:
        by_kind = defaultdict(list)
        for key, v in score[name].items():
            by_kind[kinds[key[1]]].append((v, score[args.control][key]))
        for kind in sorted(by_kind):
            a = np.array(by_kind[kind])
            d = a[:, 0] - a[:, 1]
            boot = d[rng.integers(0, len(d), (args.resamples, len(d)))].mean(1)
            lo, hi = np.percentile(boot, [2.5, 97.5])
            mark = "*" if lo > 0 or hi < 0 else ""
            print(
                f"| {name} | {kind} | {len(d)} | {a[:, 0].mean():.3f} | {a[:, 1].mean():.3f} | "
                f"{d.mean():+.3f} [{lo:+.3f}, {hi:+.3f}]{mark} |"
            )


if __name__ == "__main__":
    main()

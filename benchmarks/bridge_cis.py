"""95% bootstrap CIs over samples for a set of tiny-world run directories (issue 15's tables).

    python benchmarks/bridge_cis.py --limit 100 --baseline noise name=RUN_DIR [name=RUN_DIR ...]

Per-sample scores from each run's samples.jsonl (the first ``--limit`` samples of each task,
so runs of different lengths compare on the same clips): classification = exact-match
correctness (the answer mapped to a label as the task scores it); captioning = per-sample
CIDEr-D (pycocoevalcap; document frequencies from that run's own samples, then held fixed).
CI = percentile bootstrap, 2000 resamples of samples; "diff" = the paired bootstrap CI of the
row minus ``--baseline`` on the same samples. A stand-in until a shared stats module lands.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

RESAMPLES = 2000


def rows(run: Path, task: str, limit: int) -> list[dict]:
    out = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in out if r["task"] == task][:limit]


def per_sample(task: str, rs: list[dict]) -> np.ndarray:
    if task == "tiny-classify":
        from mats_core import build
        from mats_metrics.classification import map_exact

        labels = list(build("task", "tiny-classify").samples()[0].labels)
        return np.array([float(map_exact(r["prediction"] or "", labels) == r["label"]) for r in rs])
    from pycocoevalcap.cider.cider import Cider

    from mats_metrics.caption import tokenize

    gts, res = tokenize([r["prediction"] or "" for r in rs], [r["references"] for r in rs])
    _, scores = Cider().compute_score(gts, res)
    return np.asarray(scores, dtype=float)


def ci(x: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    idx = rng.integers(0, len(x), (RESAMPLES, len(x)))
    means = x[idx].mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="name=RUN_DIR")
    ap.add_argument("--tasks", default="tiny-caption,tiny-classify")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--baseline", default=None)
    args = ap.parse_args()
    runs = dict(r.split("=", 1) for r in args.runs)
    tasks = args.tasks.split(",")
    scores = {n: {t: per_sample(t, rows(Path(d), t, args.limit)) for t in tasks} for n, d in runs.items()}
    header = (
        "| row | "
        + " | ".join(
            f"{t} (95% CI) | diff vs {args.baseline} (95% CI)" if args.baseline else f"{t} (95% CI)" for t in tasks
        )
        + " |"
    )
    print(header)
    print("|---|" + "---:|" * (len(tasks) * (2 if args.baseline else 1)))
    for n in runs:
        cells = []
        for t in tasks:
            rng = np.random.default_rng(0)
            x = scores[n][t]
            lo, hi = ci(x, rng)
            cells.append(f"{x.mean():.3f} [{lo:.3f}, {hi:.3f}] (n {len(x)})")
            if args.baseline:
                base = scores[args.baseline][t]
                if n == args.baseline or len(base) != len(x):
                    cells.append("—")
                else:
                    d = x - base
                    dlo, dhi = ci(d, np.random.default_rng(1))
                    cells.append(f"{d.mean():+.3f} [{dlo:+.3f}, {dhi:+.3f}]")
        print(f"| {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

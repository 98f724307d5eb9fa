"""Cost of the 95% bootstrap intervals and paired differences on a finished main job (issue 14).

Reads a `mats-bench run` output (default: runs the shipped main job there first, through the
CLI), then, in one process, times for every row and task: scoring alone (`task.score`), the
intervals (`mats_core.stats.intervals.task_intervals`, 1000 resamples) and the paired differences of
`comparison.json` (`mats_core.report.compare.differences`). The added cost is compared with the
rows' own run time (results.json `total_seconds`, generation included).

    python benchmarks/bench_ci.py --output runs/main          # the full 300-sample main job
    python benchmarks/bench_ci.py --output /tmp/m --limit 20  # quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", type=Path, default=Path("runs/main"))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument(
        "--run-seconds",
        type=float,
        default=None,
        help="the main job's own time (e.g. its measured wall time), when a resumed rerun rewrote results.json timings",
    )
    args = ap.parse_args()
    if not (args.output / "comparison.json").exists():
        cmd = [sys.executable, "-m", "mats_core.cli", "run", "--output", str(args.output)] + (
            ["--limit", str(args.limit)] if args.limit else []
        )
        subprocess.run(cmd, check=True)

    from mats_core.registry.presets import accepted_params, build
    from mats_core.report.compare import differences, load_row
    from mats_core.run.results import read_results, read_samples
    from mats_core.stats.intervals import task_intervals

    comp = json.loads((args.output / "comparison.json").read_text())
    rows = [load_row(n, args.output / d) for n, d in comp["dirs"].items() if d]
    first = json.loads((rows[0].run_dir / "run_config.json").read_text())["config"]
    encoder = build("encoder", first["encoder"]["name"], **first["encoder"].get("params", {}))
    score_s = ci_s = run_s = 0.0
    for row in rows:
        res = read_results(row.run_dir / "results.json")
        run_s += res.timings.get("total_seconds", 0.0) - res.timings.get(
            "intervals_seconds", 0.0
        )  # the run without its CIs
        samples = read_samples(row.run_dir / "samples.jsonl")
        for task in res.results:
            obj = build("task", task, **accepted_params("task", task, res.config.get("task_params", {})))
            mine = [r for r in samples if r["task"] == task]
            t0 = time.perf_counter()
            point = obj.score(mine, encoder=encoder)
            t1 = time.perf_counter()
            task_intervals(obj, task, mine, point, {"encoder": encoder}, resamples=args.resamples, seed=0)
            t2 = time.perf_counter()
            score_s += t1 - t0
            ci_s += t2 - t1
    t0 = time.perf_counter()
    differences(rows, comp.get("reference", "noise"), None, encoder, args.resamples, 0)
    paired_s = time.perf_counter() - t0
    n = {t: c for r in rows for t, c in r.samples.items()}
    run_s = args.run_seconds or run_s
    print(f"rows {len(rows)}, samples per task {n}, resamples {args.resamples}")
    print(
        f"run time without CIs ({'--run-seconds' if args.run_seconds else 'results.json total_seconds - intervals_seconds'}): {run_s:.1f} s"
    )
    print(f"scoring alone: {score_s:.1f} s; intervals: {ci_s:.1f} s; paired differences: {paired_s:.1f} s")
    print(f"added by CIs + differences: {ci_s + paired_s:.1f} s = {100 * (ci_s + paired_s) / run_s:.1f}% of the run")


if __name__ == "__main__":
    main()

"""Markdown tables of a multi-seed main job (``mats-bench run --checkpoint A,B,C``): each row's
headline metric as mean ± std over the training seeds with the per-seed values, and each row's
paired difference from the reference row (bootstrap 95% CI over samples) in every seed.

    python benchmarks/seeds_table.py runs/seeds3 [--metrics tiny-caption=cider,tiny-classify=accuracy_exact,tiny-qa=accuracy]
    python benchmarks/seeds_table.py RUN_SEED0 RUN_SEED1 RUN_SEED2   # one single-set main job per seed
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT = "tiny-caption=cider,tiny-classify=accuracy_exact,tiny-qa=accuracy"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--metrics", default=DEFAULT)
    args = ap.parse_args()
    if len(args.runs) == 1:
        doc = json.loads((args.runs[0] / "comparison.json").read_text())
        per = [json.loads(Path(p).read_text()) for p in doc["per_checkpoint"]]
    else:
        from mats_core.report.compare import aggregate_seeds

        per = [json.loads((r / "comparison.json").read_text()) for r in args.runs]
        doc = {**per[0], "seeds": {**aggregate_seeds(per), "k": len(per)}}
    metrics = dict(m.split("=", 1) for m in args.metrics.split(","))
    agg = doc["seeds"]["aggregate"]
    k = doc["seeds"]["k"]
    print(f"Mean ± std over {k} training seeds (per-seed values in brackets); n = samples per seed.\n")
    print("| row | " + " | ".join(f"{t} {m}" for t, m in metrics.items()) + " |")
    print("|---|" + "---:|" * len(metrics))
    for row in doc["order"]:
        cells = []
        for t, m in metrics.items():
            a = agg.get(row, {}).get(t, {}).get(m)
            if not a or a["mean"] is None:
                cells.append("—")
                continue
            vals = ", ".join(f"{v:.3f}" for v in a["values"])
            std = f" ± {a['std']:.3f}" if a["std"] is not None else ""
            cells.append(f"{a['mean']:.3f}{std} ({vals})")
        print(f"| {row} | " + " | ".join(cells) + " |")
    ref = doc["reference"]
    print(f"\nPaired difference from `{ref}`, per seed: point [95% CI over samples]; * = the CI excludes 0.\n")
    print("| row | " + " | ".join(f"{t} {m}" for t, m in metrics.items()) + " |")
    print("|---|" + "---:|" * len(metrics))
    for row in doc["order"]:
        if row == ref:
            continue
        cells = []
        for t, m in metrics.items():
            parts = []
            for comp in per:
                d = comp.get("differences", {}).get(row, {}).get(t, {}).get(m)
                if d and d.get("low") is not None:
                    star = "*" if d["low"] > 0 or d["high"] < 0 else ""
                    parts.append(f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]{star}")
            cells.append("<br>".join(parts) or "—")
        print(f"| {row} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

"""Issue 35 coverage study (diagnosis only): bridges minus noise as the ORACLE bank covers more test clips.

Reads the ``comparison.json`` of runs made with the coverage dial, one per setting, e.g. (the
seed-0 preview in benchmarks/RESULTS.md; shipped checkpoints, no retraining: only the bank changes)

    for p in 0.25 0.5; do
      mats-bench run --bridge noise,memory,santa,nearest --tasks tiny-caption --limit 100 --controls none \\
        --no-reference --output runs/cov/bank$p --set run.oracle_bank=$p
      mats-bench run ... --output runs/cov/paraphrase$p --set run.oracle_paraphrase=$p
    done   # and the same without --set for bank0 (coverage 0, the ordinary bank)
    python benchmarks/coverage_study.py runs/cov --audiocaps 0.0115,0.0155 --plot docs/img/coverage-study.png

prints a Markdown table of each bridge's paired difference from noise (95% CI) per setting, beside the
measured verbatim / near clip coverage of that run's bank (``mats_core.bench.regime_run.measure_regime`` with
the same dial, text only), and draws (bridge - noise) against coverage with the real AudioCaps
verbatim coverage (``--audiocaps LOW,HIGH``, from benchmarks/regime_audiocaps.py) marked on the axis.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

NAME = re.compile(r"^(bank|paraphrase)([0-9.]+)$")


def settings(root: Path) -> list[tuple[str, float, Path]]:
    out = []
    for d in sorted(root.iterdir()):
        m = NAME.match(d.name)
        if m and (d / "comparison.json").is_file():
            out.append((m.group(1), float(m.group(2)), d))
    return sorted(out, key=lambda t: (t[0] != "bank" or t[1] != 0, t[0], t[1]))


def coverage(kind: str, share: float, limit: int) -> dict:
    from mats_core.bench.regime_run import measure_regime

    run = {f"oracle_{kind}": share} if share else {}
    return measure_regime(
        encoder="tiny", corpus="tiny", task="tiny-caption", options={"limit": limit, "text_only": True, "run": run}
    )["text"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--metric", default="cider")
    ap.add_argument("--task", default="tiny-caption")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument(
        "--audiocaps", default=None, help="LOW,HIGH verbatim coverage of real AudioCaps text, marked on the plot"
    )
    ap.add_argument("--plot", type=Path)
    args = ap.parse_args()
    rows, points = [], []
    for kind, share, d in settings(args.root):
        comp = json.loads((d / "comparison.json").read_text())
        cov = coverage(kind, share, args.limit)
        noise = comp["rows"]["noise"][args.task][args.metric]
        cells = []
        for bridge in [b for b in comp["order"] if b != "noise"]:
            diff = comp["differences"][bridge][args.task][args.metric]
            cells.append(
                f"{diff['difference']:+.3f} [{diff['low']:+.3f}, {diff['high']:+.3f}]{'*' if diff['excludes_zero'] else ''}"
            )
            points.append((kind, cov["verbatim_clip_share"], cov["near_clip_share"], bridge, diff))
        label = "none (ordinary bank)" if not share else f"ORACLE {kind} {share:g}"
        rows.append(
            f"| {label} | {cov['verbatim_clip_share']:.1%} | {cov['near_clip_share']:.1%} | {noise:.3f} | "
            + " | ".join(cells)
            + " |"
        )
    bridges = [b for b in comp["order"] if b != "noise"]
    print(
        f"| dial | clips verbatim in bank | clips near | noise {args.metric} | "
        + " | ".join(f"{b} - noise" for b in bridges)
        + " |"
    )
    print("|---|---:|---:|---:|" + "---:|" * len(bridges))
    print("\n".join(rows))
    if args.plot:
        draw(points, args)


def draw(points: list, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, kind, xlabel in (
        (axes[0], "bank", "share of test clips with a reference VERBATIM in the bank"),
        (axes[1], "paraphrase", "share of test clips with a NEAR caption (BLEU-4 >= 0.5) in the bank"),
    ):
        for bridge in sorted({p[3] for p in points}):
            mine = sorted(
                (p for p in points if p[3] == bridge and (p[0] == kind or (p[0] == "bank" and p[1] < 0.05))),
                key=lambda p: p[1] if kind == "bank" else p[2],
            )
            xs = [p[1] if kind == "bank" else p[2] for p in mine]
            ys = [p[4]["difference"] for p in mine]
            err = [[y - p[4]["low"] for y, p in zip(ys, mine)], [p[4]["high"] - y for y, p in zip(ys, mine)]]
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=bridge)
        ax.axhline(0, color="grey", lw=0.8)
        if args.audiocaps and kind == "bank":
            lo, hi = (float(v) for v in args.audiocaps.split(","))
            ax.axvspan(lo, hi, color="orange", alpha=0.3, label="real AudioCaps text (held-out, random bank)")
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_title(f"ORACLE {kind} dial (diagnosis only)", fontsize=9)
    axes[0].set_ylabel(f"{args.metric} minus noise (paired 95% CI)")
    axes[0].legend(fontsize=7)
    fig.suptitle(
        f"{args.task}, seed 0 checkpoints, first {args.limit} clips: does retrieval help when the bank covers the test set?",
        fontsize=9,
    )
    fig.tight_layout()
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.plot, dpi=110)
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()

"""Issue 35 coverage study (diagnosis only): bridges minus noise as the ORACLE bank covers more test clips.

Reads, for each training seed, a root of runs made with the coverage dial, one directory per setting
(``bank0`` is the ordinary bank; ``bankP`` / ``paraphraseP`` set ``run.oracle_bank`` /
``run.oracle_paraphrase`` to P). No retraining: only the bank changes. E.g. (benchmarks/RESULTS.md,
"Issue 35"; the seed-S set holds that seed's clean/ and noise/ checkpoints, ``--seed S`` draws the
bank and the dial's captions with the training seed)

    for p in 0.25 0.5 1.0; do
      mats-bench run --bridge noise,memory,santa,santa-published,nearest,project --tasks tiny-caption \\
        --limit 100 --controls none --no-reference --checkpoint SET_S --seed S \\
        --output runs/cov/seedS/bank$p --set run.oracle_bank=$p
    done   # paraphrase0.25 / 0.5: --set run.oracle_paraphrase=P; bank0: without --set
    python benchmarks/coverage_study.py runs/cov/seed0 runs/cov/seed1 runs/cov/seed2 \\
      --audiocaps 0.0115,0.0155 --plot docs/img/coverage-study.png

prints two Markdown tables: per setting and seed, the measured verbatim / near clip coverage of that
run's bank (``mats_core.bench.regime_run.measure_regime`` with the run's seed and dial, text only)
and noise's value; per setting and bridge, the paired difference from noise (95% bootstrap CI over
clips) of each seed, and the mean, std and 95% t-interval over seeds. The plot draws (bridge - noise)
against coverage, one line per bridge through the seed means, each seed's value as a dot, with the
real AudioCaps verbatim coverage (``--audiocaps LOW,HIGH``, from benchmarks/regime_audiocaps.py)
marked on the axis.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path

NAME = re.compile(r"^(bank|paraphrase)([0-9.]+)$")


@dataclass(frozen=True, kw_only=True)
class Point:
    """One bridge's paired difference from noise in one setting of one seed, beside that bank's coverage."""

    seed: int  # the evaluation seed (it draws the bank and the dial's captions)
    checkpoint: str  # the noise checkpoint the runs used (one per training seed)
    kind: str  # bank | paraphrase
    share: float  # the dial's setting (0: the ordinary bank)
    verbatim: float  # share of the test clips with a reference verbatim in the bank (measured)
    near: float  # ... with a near caption (BLEU-4 >= 0.5) in the bank (measured)
    noise: float  # noise's value of the metric
    bridge: str
    diff: dict  # comparison.json's paired difference: difference, low, high, excludes_zero

    @property
    def label(self) -> str:
        return "none (ordinary bank)" if not self.share else f"ORACLE {self.kind} {self.share:g}"


def settings(root: Path) -> list[tuple[str, float, Path]]:
    """The dial settings run under ``root``: the ordinary bank first, then bank and paraphrase by share."""
    out = []
    for d in sorted(root.iterdir()):
        m = NAME.match(d.name)
        if m and (d / "comparison.json").is_file():
            out.append((m.group(1), float(m.group(2)), d))
    return sorted(out, key=lambda t: (t[1] != 0, t[0], t[1]))


def run_seed(run_dir: Path, comp: dict) -> tuple[int, str]:
    """The evaluation seed the runs of ``run_dir`` used (it drew their bank and the dial's captions)
    and noise's checkpoint (which training seed)."""
    config = json.loads((run_dir / comp["dirs"]["noise"] / "results.json").read_text())["config"]
    return int(config["run"]["seed"]), str(config["checkpoint"])


def coverage(kind: str, share: float, *, limit: int, seed: int, cache: Path | None = None) -> dict:
    """The text regime of the bank a run with this dial setting and seed evaluates on (kept in the
    JSON file ``cache`` when given: each measure takes tens of seconds on a loaded CPU)."""
    from mats_core.bench.regime_run import measure_regime

    key = f"{kind}:{share:g}:seed{seed}:limit{limit}"
    known = json.loads(cache.read_text()) if cache and cache.is_file() else {}
    if key not in known:
        run = {f"oracle_{kind}": share} if share else {}
        options = {"limit": limit, "seed": seed, "text_only": True, "run": run}
        known[key] = measure_regime(encoder="tiny", corpus="tiny", task="tiny-caption", options=options)["text"]
        if cache:
            cache.write_text(json.dumps(known, indent=1))
    return known[key]


def collect(roots: list[Path], args: argparse.Namespace) -> tuple[list[Point], list[str]]:
    """Every (seed, setting, bridge) point under ``roots``, and the bridges in table order."""
    points: list[Point] = []
    bridges: list[str] = []
    for root in roots:
        for kind, share, d in settings(root):
            comp = json.loads((d / "comparison.json").read_text())
            seed, checkpoint = run_seed(d, comp)
            cov = coverage(kind, share, limit=args.limit, seed=seed, cache=args.cache)
            noise = comp["rows"]["noise"][args.task][args.metric]
            for bridge in [b for b in comp["order"] if b != "noise"]:
                bridges += [bridge] if bridge not in bridges else []
                diff = comp["differences"][bridge][args.task][args.metric]
                points.append(
                    Point(
                        seed=seed,
                        checkpoint=checkpoint,
                        kind=kind,
                        share=share,
                        verbatim=cov["verbatim_clip_share"],
                        near=cov["near_clip_share"],
                        noise=noise,
                        bridge=bridge,
                        diff=diff,
                    )
                )
    return points, bridges


def _ci(d: dict) -> str:
    star = "*" if d["excludes_zero"] else ""
    return f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]{star}"


def _labels(points: list[Point]) -> list[str]:
    return list(dict.fromkeys(p.label for p in sorted(points, key=lambda p: (p.share != 0, p.kind, p.share))))


def coverage_table(points: list[Point], seeds: list[int], metric: str) -> str:
    """Per setting: each seed's measured clip coverage (verbatim / near) and noise's value."""
    head = " | ".join(f"seed {s}: verbatim / near / noise" for s in seeds)
    lines = [f"| dial | {head} |", "|---|" + "---:|" * len(seeds)]
    for label in _labels(points):
        cells = []
        for s in seeds:
            p = next((p for p in points if p.label == label and p.seed == s), None)
            cells.append("—" if p is None else f"{p.verbatim:.1%} / {p.near:.1%} / {p.noise:.3f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return f"clip coverage of each run's bank and noise {metric}\n\n" + "\n".join(lines)


def difference_table(points: list[Point], seeds: list[int], bridges: list[str], metric: str) -> str:
    """Per setting and bridge: each seed's paired difference from noise, and mean ± std [t 95%] over seeds."""
    from mats_core.stats.intervals import across_seeds

    head = " | ".join(f"seed {s}" for s in seeds)
    lines = [f"| dial | bridge | {head} | over seeds: mean ± std [95% t] | seeds with CI > 0 / < 0 |"]
    lines.append("|---|---|" + "---:|" * (len(seeds) + 2))
    for label in _labels(points):
        for bridge in bridges:
            mine = {p.seed: p for p in points if p.label == label and p.bridge == bridge}
            cells = [_ci(mine[s].diff) if s in mine else "—" for s in seeds]
            agg = across_seeds([p.diff["difference"] for p in mine.values()])
            spread = f"{agg['mean']:+.3f} ± {agg['std']:.3f}" + (
                f" [{agg['low']:+.3f}, {agg['high']:+.3f}]" if agg["low"] is not None else ""
            )
            up = sum(p.diff["low"] > 0 for p in mine.values())
            down = sum(p.diff["high"] < 0 for p in mine.values())
            lines.append(f"| {label} | {bridge} | " + " | ".join(cells) + f" | {spread} | {up} / {down} |")
    return f"{metric} minus noise, paired bootstrap 95% CI over clips (* excludes 0)\n\n" + "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line (the docs test parses the tutorial's command with it)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("roots", type=Path, nargs="+", help="one root of dial runs per training seed")
    ap.add_argument("--metric", default="cider")
    ap.add_argument("--task", default="tiny-caption")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument(
        "--audiocaps", default=None, help="LOW,HIGH verbatim coverage of real AudioCaps text, marked on the plot"
    )
    ap.add_argument("--plot", type=Path)
    ap.add_argument("--cache", type=Path, help="JSON file keeping the measured coverage between calls")
    return ap


def main() -> None:
    args = build_parser().parse_args()
    points, bridges = collect(args.roots, args)
    seeds = sorted({p.seed for p in points})
    print(f"{seeds_label(points)}\n")
    print(coverage_table(points, seeds, args.metric) + "\n")
    print(difference_table(points, seeds, bridges, args.metric))
    if args.plot:
        draw(points, bridges, args)


QUESTION = "does retrieval help when the bank covers the test set?"


def seeds_label(points: list[Point]) -> str:
    """What the seeds vary: the training seed too when every root has its own checkpoints, else only
    the bank and dial draws of one checkpoint set."""
    seeds = ", ".join(map(str, sorted({p.seed for p in points})))
    if len({p.checkpoint for p in points}) == len({p.seed for p in points}) > 1:
        return f"training seeds {seeds} (own checkpoints, evaluation seed = training seed)"
    return f"evaluation seeds {seeds} (bank + dial draws) on one checkpoint set"


def draw(points: list[Point], bridges: list[str], args: argparse.Namespace) -> None:
    """(bridge - noise) against coverage: the bank dial against measured verbatim coverage, the
    paraphrase dial against its share; the ordinary bank (coverage of today) starts both lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    panels = (
        (axes[0], "bank", "share of test clips with a reference VERBATIM in the bank (measured)"),
        (axes[1], "paraphrase", "share of test clips given a NEW caption of their scene in the bank (dial)"),
    )
    for ax, kind, xlabel in panels:
        mine = [p for p in points if p.kind == kind or not p.share]
        for n, bridge in enumerate(bridges):
            _panel_line(ax, [p for p in mine if p.bridge == bridge], kind=kind, bridge=bridge, color=f"C{n}")
        ax.axhline(0, color="grey", lw=0.8)
        if args.audiocaps and kind == "bank":
            lo, hi = (float(v) for v in args.audiocaps.split(","))
            ax.axvspan(lo, hi, color="orange", alpha=0.3, label="real AudioCaps text (held-out, random bank)")
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_title(f"ORACLE {kind} dial (diagnosis only)", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"{args.metric} minus noise (line: mean over seeds; dots: each seed)", fontsize=8)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{args.task}, {seeds_label(points)}, first {args.limit} clips: {QUESTION}", fontsize=9)
    fig.tight_layout()
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.plot, dpi=110)
    print(f"plot: {args.plot}")


def _panel_line(ax, points: list[Point], *, kind: str, bridge: str, color: str) -> None:
    """One bridge: a dot per seed at its own coverage, a line through the means per dial setting."""
    x_of = (lambda p: p.verbatim) if kind == "bank" else (lambda p: p.share)
    shares = sorted({p.share for p in points})
    xs, ys = [], []
    for share in shares:
        at = [p for p in points if p.share == share]
        xs.append(sum(x_of(p) for p in at) / len(at))
        ys.append(sum(p.diff["difference"] for p in at) / len(at))
    ax.plot(xs, ys, marker="o", color=color, label=bridge)
    ax.scatter([x_of(p) for p in points], [p.diff["difference"] for p in points], s=10, color=color, alpha=0.5)


if __name__ == "__main__":
    main()

"""What a sweep prints and draws: a compact pivot of the headline metrics, one summary figure
per swept param (every headline metric, one panel each) and per-metric figures in ``plots/``.

Cells are ``mean ± std [95% CI]``: over replicates (training seeds x evaluation seeds) the
interval is a Student-t interval of the mean across them; with one replicate it is the run's
bootstrap interval over samples. ``*`` marks points whose paired difference from the grid's
reference point excludes 0 (one replicate: the paired bootstrap interval; several: the
t-interval across replicates of the per-replicate differences).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mats_core.bench.sweep_plots import plot
from mats_core.bench.sweep_spec import SweepSpec, point_name

COUNTS = {"n", "errors"}


def headline(row: dict[str, Any]) -> bool:
    """A metric the task declares as headline (every metric when it declares none), not a count."""
    return bool(row.get("headline", True)) and row["metric"] not in COUNTS


def point_key(r: dict[str, Any]) -> tuple:
    return (r["bridge"], tuple(sorted((k, str(v)) for k, v in r.items() if k.startswith("param."))))


def label(key: tuple) -> str:
    bridge, params = key
    return bridge + "".join(f" {k.removeprefix('param.')}={v}" for k, v in params)


def pivot(summary: list[dict[str, Any]], marks: dict[tuple, set]) -> str:
    """Markdown: one line per grid point, one column per headline (task, metric)."""
    cols = sorted({(r["task"], r["metric"]) for r in summary if headline(r)})
    if not cols:  # tasks of unknown kind: every metric but the bookkeeping counts
        cols = sorted({(r["task"], r["metric"]) for r in summary if r["metric"] not in COUNTS})
    points = list(dict.fromkeys(point_key(r) for r in summary))
    cells = {(point_key(r), r["task"], r["metric"]): r for r in summary}
    lines = ["| point | " + " | ".join(f"{t} {m}" for t, m in cols) + " |", "|---|" + "---:|" * len(cols)]
    for p in points:
        row = []
        for t, m in cols:
            r = cells.get((p, t, m))
            row.append("—" if r is None else _cell(r) + ("*" if (t, m) in marks.get(p, set()) else ""))
        lines.append(f"| {label(p)} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _cell(r: dict[str, Any]) -> str:
    text = f"{r['mean']:.3f}" + (f" ± {r['std']:.3f}" if r["n"] > 1 else "")
    if r.get("low") is not None:
        text += f" [{r['low']:.2f}, {r['high']:.2f}]"
    return text


def legend(summary: list[dict[str, Any]], reference: str | None) -> str:
    reps = max((r["n"] for r in summary), default=1)
    how = (
        f"mean ± std over {reps} replicates (training x evaluation seeds), [95% t-interval across them]"
        if reps > 1
        else "one replicate: value [95% bootstrap CI over samples]"
    )
    ref = f"; * = differs from point '{reference}' beyond chance (paired)" if reference else ""
    return how + ref


def summary_figures(summary: list[dict[str, Any]], output: Path, *, oracle: str = "") -> list[Path]:
    """``summary-<param>.png``: one panel per headline metric; series offset along x so equal
    values stay visible; error bars (std over replicates) when there are several. ``oracle``: the
    coverage-dial label, the figure's title when the dial was on."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mats_core.bench.sweep_plots import swept_params

    heads = sorted({(r["task"], r["metric"]) for r in summary if headline(r)})
    swept = swept_params(summary)
    paths = []
    for param in sorted({p for ps in swept.values() for p in ps}):
        fig, axes = plt.subplots(1, max(1, len(heads)), figsize=(3.4 * max(1, len(heads)), 3.4), squeeze=False)
        for ax, (task, metric) in zip(axes[0], heads):
            rows = [r for r in summary if r["task"] == task and r["metric"] == metric]
            _summary_panel(ax, rows, swept=swept, param=param)
            ax.set_title(f"{task}\n{metric}", fontsize=9)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(
            handles,
            labels,
            loc="lower center",
            ncol=min(4, max(1, len(labels))),
            fontsize=8,
            bbox_to_anchor=(0.5, -0.08),
        )
        if oracle:
            fig.suptitle(f"{oracle}, diagnosis only", fontsize=10)
        fig.tight_layout()
        path = output / f"summary-{param.removeprefix('param.')}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths


def _summary_panel(ax: Any, rows: list[dict[str, Any]], *, swept: dict[str, list[str]], param: str) -> None:
    """One metric's ``rows`` against ``param`` on ``ax``: a series per bridge and value of its other
    swept params, side by side at each x; bridges that sweep nothing as horizontal reference lines."""
    from mats_core.bench.sweep_plots import _numeric

    series: dict[str, list] = {}
    for r in rows:
        if param in swept.get(r["bridge"], ()):
            others = " ".join(f"{k.removeprefix('param.')}={r[k]}" for k in swept[r["bridge"]] if k != param)
            series.setdefault(f"{r['bridge']} {others}".strip(), []).append(r)
    xs = sorted(
        {r[param] for s in series.values() for r in s},
        key=lambda v: (not _numeric(v), v if _numeric(v) else str(v)),
    )
    pos = {x: i for i, x in enumerate(xs)}
    width = 0.5 / max(1, len(series))
    for j, (name, pts) in enumerate(sorted(series.items())):
        pts.sort(key=lambda r: pos[r[param]])
        shift = (j - (len(series) - 1) / 2) * width
        ax.errorbar(
            [pos[r[param]] + shift for r in pts],
            [r["mean"] for r in pts],
            yerr=[r["std"] for r in pts] if any(r["n"] > 1 for r in pts) else None,
            marker="osD^v"[j % 5],
            capsize=3,
            label=name,
        )
    for k, r in enumerate(r for r in rows if not swept.get(r["bridge"])):
        ax.axhline(
            r["mean"],
            linestyle=(0, (4, 2 + k)),
            linewidth=1,
            color=f"C{(len(series) + k) % 10}",
            label=f"{r['bridge']} (reference)",
        )
    ax.set_xticks(range(len(xs)), [f"{x:g}" if isinstance(x, float) else str(x) for x in xs])
    ax.set_xlabel(param.removeprefix("param."))
    ax.grid(alpha=0.3)
    ax.margins(y=0.15)


def _differences(spec: SweepSpec, dirs: dict[tuple, dict[str, Path]], registry: str | None, encoder: Any) -> dict:
    """(checkpoint, seed) -> point -> task -> metric -> paired difference from the reference point."""
    from mats_core.report.compare import differences, load_row

    out = {}
    for (ci, seed), points in dirs.items():
        if not spec.reference or spec.reference not in points:
            continue
        rows = [load_row(name, d) for name, d in points.items()]
        resamples = int((spec.run or {}).get("resamples", 1000))
        out[f"ckpt{ci}/seed{seed}"] = differences(rows, spec.reference, registry, encoder, resamples, seed)[0]
    return out


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and spread over checkpoints x seeds for each (point, task, metric); the bookkeeping
    counts (n, errors) are left out. ``low``/``high``: a 95% t-interval across replicates, or the
    run's bootstrap interval over samples when there is one replicate (``ci`` says which)."""
    from mats_core.stats.intervals import across_seeds

    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["value"] is None or r["metric"] in COUNTS:
            continue
        key = tuple((k, r[k]) for k in sorted(r) if k not in ("checkpoint", "seed", "value", "ci_low", "ci_high"))
        groups.setdefault(key, []).append(r)
    out = []
    for key, items in groups.items():
        agg = across_seeds([float(r["value"]) for r in items])
        one = len(items) == 1
        low, high = (items[0].get("ci_low"), items[0].get("ci_high")) if one else (agg["low"], agg["high"])
        out.append(
            {
                **dict(key),
                "mean": agg["mean"],
                "std": agg["std"] if not one else 0.0,
                "n": len(items),
                "low": low,
                "high": high,
                "ci": "bootstrap over samples" if one else "t across replicates",
            }
        )
    return out


def write_outputs(rows: list[dict[str, Any]], spec: SweepSpec, output: Path, diffs: dict | None = None) -> None:
    """sweep.json, sweep.csv, sweep.md and the figures. A grid whose ``run`` turns the diagnosis-only
    coverage dial on (``oracle_bank`` / ``oracle_paraphrase``) is labelled ORACLE BANK in every one of
    them: sweep.json and each CSV row record the setting, the table and every figure title name it."""
    import csv

    from mats_core.run.oracle import oracle_label, oracle_settings
    from mats_core.run.results import atomic_write_text

    summary = summarise(rows)
    marks = _marks(diffs or {}, rows)
    settings = oracle_settings(spec.run)
    oracle = oracle_label(settings)
    record = {"rows": rows, "summary": summary, "differences": diffs or {}, "reference": spec.reference}
    record.update({"oracle_bank": settings} if settings else {})
    atomic_write_text(output / "sweep.json", json.dumps(record, indent=2, default=str))
    table_rows = [{**r, "oracle_bank": oracle} for r in summary] if oracle else summary
    keys = sorted({k for r in table_rows for k in r}, key=lambda k: (k not in ("bridge", "task", "metric"), k))
    with open(output / "sweep.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(table_rows)
    ref = spec.reference if diffs else None
    counts = {r["task"]: int(r["value"]) for r in rows if r["metric"] == "n" and r["value"] is not None}
    sizes = f"n per task: {', '.join(f'{t} {n}' for t, n in counts.items())}; --limit {spec.run.get('limit') or 'none'}"
    head = f"**{oracle}: diagnosis only, test captions in the memory bank**\n\n" if oracle else ""
    atomic_write_text(output / "sweep.md", f"{head}{legend(summary, ref)}; {sizes}\n\n{pivot(summary, marks)}")
    summary_figures(summary, output, oracle=oracle)
    (output / "plots").mkdir(exist_ok=True)
    plot(summary, output / "plots", oracle=oracle)


def _marks(diffs: dict, rows: list[dict[str, Any]]) -> dict[tuple, set]:
    """point -> {(task, metric)} whose difference from the reference point excludes 0."""
    from mats_core.stats.intervals import across_seeds

    keys = {
        point_name(
            r["bridge"], {k.removeprefix("param."): v for k, v in r.items() if k.startswith("param.")}
        ): point_key(r)
        for r in rows
    }
    per: dict[tuple, list[dict]] = {}
    for replicate in diffs.values():
        for name, tasks in replicate.items():
            for task, metrics in tasks.items():
                for metric, d in metrics.items():
                    per.setdefault((name, task, metric), []).append(d)
    out: dict[tuple, set] = {}
    for (name, task, metric), ds in per.items():
        if len(ds) == 1:
            hit = ds[0]["excludes_zero"]
        else:
            agg = across_seeds([d["difference"] for d in ds])
            hit = agg["low"] is not None and (agg["low"] > 0 or agg["high"] < 0)
        if hit and name in keys:
            out.setdefault(keys[name], set()).add((task, metric))
    return out

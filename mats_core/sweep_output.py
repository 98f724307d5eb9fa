"""What a sweep prints and draws: a compact pivot of the headline metrics, one summary figure
per swept param (every headline metric, one panel each) and per-metric figures in ``plots/``.

Cells are ``mean ± std [95% CI]``: over replicates (training seeds x evaluation seeds) the
interval is a Student-t interval of the mean across them; with one replicate it is the run's
bootstrap interval over samples. ``*`` marks points whose paired difference from the grid's
reference point excludes 0 (one replicate: the paired bootstrap interval; several: the
t-interval across replicates of the per-replicate differences).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

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
    how = (f"mean ± std over {reps} replicates (training x evaluation seeds), [95% t-interval across them]" if reps > 1
           else "one replicate: value [95% bootstrap CI over samples]")
    ref = f"; * = differs from point '{reference}' beyond chance (paired)" if reference else ""
    return how + ref


def summary_figures(summary: list[dict[str, Any]], output: Path) -> list[Path]:
    """``summary-<param>.png``: one panel per headline metric; series offset along x so equal
    values stay visible; error bars (std over replicates) when there are several."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mats_core.sweep import _numeric, swept_params

    heads = sorted({(r["task"], r["metric"]) for r in summary if headline(r)})
    swept = swept_params(summary)
    paths = []
    for param in sorted({p for ps in swept.values() for p in ps}):
        fig, axes = plt.subplots(1, max(1, len(heads)), figsize=(3.4 * max(1, len(heads)), 3.4), squeeze=False)
        for ax, (task, metric) in zip(axes[0], heads):
            rows = [r for r in summary if r["task"] == task and r["metric"] == metric]
            series: dict[str, list] = {}
            for r in rows:
                if param in swept.get(r["bridge"], ()):
                    others = " ".join(f"{k.removeprefix('param.')}={r[k]}" for k in swept[r["bridge"]] if k != param)
                    series.setdefault(f"{r['bridge']} {others}".strip(), []).append(r)
            xs = sorted({r[param] for s in series.values() for r in s}, key=lambda v: (not _numeric(v), v if _numeric(v) else str(v)))
            pos = {x: i for i, x in enumerate(xs)}
            width = 0.5 / max(1, len(series))
            for j, (name, pts) in enumerate(sorted(series.items())):
                pts.sort(key=lambda r: pos[r[param]])
                shift = (j - (len(series) - 1) / 2) * width
                ax.errorbar([pos[r[param]] + shift for r in pts], [r["mean"] for r in pts],
                            yerr=[r["std"] for r in pts] if any(r["n"] > 1 for r in pts) else None,
                            marker="osD^v"[j % 5], capsize=3, label=name)
            for k, r in enumerate(r for r in rows if not swept.get(r["bridge"])):
                ax.axhline(r["mean"], linestyle=(0, (4, 2 + k)), linewidth=1, color=f"C{(len(series) + k) % 10}", label=f"{r['bridge']} (reference)")
            ax.set_xticks(range(len(xs)), [f"{x:g}" if isinstance(x, float) else str(x) for x in xs])
            ax.set_title(f"{task}\n{metric}", fontsize=9)
            ax.set_xlabel(param.removeprefix("param."))
            ax.grid(alpha=0.3)
            ax.margins(y=0.15)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(4, max(1, len(labels))), fontsize=8, bbox_to_anchor=(0.5, -0.08))
        fig.tight_layout()
        path = output / f"summary-{param.removeprefix('param.')}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths

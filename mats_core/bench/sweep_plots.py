"""A sweep's figures: one line per bridge (and per other swept setting) against each swept param, with intervals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

COUNTS = {"n", "errors"}  # bookkeeping columns of every task's results: in the table, not plotted


def plot(summary: list[dict[str, Any]], output: Path, *, oracle: str = "") -> list[Path]:
    """One PNG per (task, metric, swept param): ``plot-<task>-<metric>-<param>.png``; ``oracle``: the
    sweep's coverage-dial label (:func:`mats_core.run.oracle.oracle_label`), which heads every title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for task, metric in sorted({(r["task"], r["metric"]) for r in summary if r["metric"] not in COUNTS}):
        rows = [r for r in summary if r["task"] == task and r["metric"] == metric]
        swept = swept_params(rows)
        for param in sorted({p for ps in swept.values() for p in ps}):
            fig = plot_param(rows, swept, param, f"{task} {metric}", oracle=oracle)
            path = output / f"plot-{task}-{metric}-{param.removeprefix('param.')}.png"
            fig.savefig(path, dpi=110, bbox_inches="tight")
            plt.close(fig)
            paths.append(path)
    return paths


def swept_params(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """bridge -> its ``param.*`` keys that take two or more values in ``rows``."""
    values: dict[str, dict[str, set]] = {}
    for r in rows:
        params = values.setdefault(r["bridge"], {})
        for k, v in r.items():
            if k.startswith("param."):
                params.setdefault(k, set()).add(_key(v))
    return {b: sorted(k for k, vs in ps.items() if len(vs) > 1) for b, ps in values.items()}


def plot_param(rows: list[dict[str, Any]], swept: dict[str, list[str]], param: str, ylabel: str, *, oracle: str = ""):
    """The metric (mean ± std over replicates) against ``param``: one line per bridge and value
    of that bridge's other swept params (the legend says which); bridges that sweep nothing
    (e.g. ``none``) as dashed horizontal reference lines. Points of a bridge that sweeps other
    params but not this one have their own plots. An ``oracle`` label (the diagnosis-only coverage
    dial was on) heads the title: such a figure must never pass for a result of the method."""
    import matplotlib.pyplot as plt

    lines, fixed = _lines(rows, swept, param)
    references = sorted((r for r in rows if not swept.get(r["bridge"])), key=lambda r: r["bridge"])
    xs = [x for pts in lines.values() for x, _, _ in pts]
    numeric = all(_numeric(x) for x in xs)
    ticks = sorted({_key(x) for x in xs}, key=str)
    where = (lambda x: float(x)) if numeric else (lambda x: ticks.index(_key(x)))
    entries = len(lines) + len(references)
    fig, ax = plt.subplots(figsize=(6.4 if entries <= 4 else 8.4, 4.0))
    cmap = plt.get_cmap("tab10" if entries <= 10 else "tab20")
    markers = "osD^vP*Xh<>"
    handles, labels = [], []
    for n, ((bridge, others), pts) in enumerate(sorted(lines.items(), key=lambda kv: _order(kv[0]))):
        pts.sort(key=lambda t: where(t[0]))
        handles.append(
            ax.errorbar(
                [where(x) for x, _, _ in pts],
                [m for _, m, _ in pts],
                yerr=[s for _, _, s in pts],
                marker=markers[n % len(markers)],
                capsize=3,
                color=cmap(n % cmap.N),
            )
        )
        labels.append(" ".join([bridge] + [f"{k}={_fmt_value(v)}" for k, v in others]))
    for n, r in enumerate(references, start=len(lines)):
        handles.append(ax.axhline(r["mean"], linestyle="--", linewidth=1.2, color=cmap(n % cmap.N)))
        own = "".join(
            f" {k.removeprefix('param.')}={_fmt_value(v)}" for k, v in sorted(r.items()) if k.startswith("param.")
        )
        labels.append(f"{r['bridge']}{own} (reference)")
    if not numeric:
        ax.set_xticks(range(len(ticks)), [_fmt_value(t) for t in ticks])
    name = param.removeprefix("param.")
    constant = [f"{k}={', '.join(sorted(v))}" for k, v in sorted(fixed.items()) if len(v) == 1]
    title = f"{ylabel} vs {name}" + (f"\n(fixed: {'; '.join(constant)})" if constant else "")
    ax.set_title((f"{oracle}, diagnosis only\n" if oracle else "") + title, fontsize=10)
    ax.set_xlabel(name)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if entries > 4:
        ax.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    else:
        ax.legend(handles, labels, fontsize=8)
    fig.tight_layout()
    return fig


def _lines(rows: list[dict[str, Any]], swept: dict[str, list[str]], param: str) -> tuple[dict, dict]:
    """The lines of :func:`plot_param`: (bridge, ((other swept param, value), ...)) -> its
    (x, mean, std) points; and "<bridge> <param>" -> the values of the params a bridge does not sweep
    (the title names those that are constant)."""
    lines: dict[tuple, list[tuple[Any, float, float]]] = {}
    fixed: dict[str, set] = {}
    for r in rows:
        bridge = r["bridge"]
        if param not in swept.get(bridge, ()) or param not in r:
            continue
        others = tuple((p.removeprefix("param."), r.get(p)) for p in swept[bridge] if p != param)
        lines.setdefault((bridge, others), []).append((r[param], r["mean"], r["std"]))
        for k, v in r.items():
            if k.startswith("param.") and k not in swept[bridge]:
                fixed.setdefault(f"{bridge} {k.removeprefix('param.')}", set()).add(_fmt_value(v))
    return lines, fixed


def _order(line: tuple) -> tuple:
    """Sort key of a line (bridge, ((param, value), ...)): numbers by value, before other values."""
    bridge, others = line
    return bridge, tuple((0, float(v), "") if _numeric(v) else (1, 0.0, str(v)) for _, v in others)


def _key(v: Any) -> Any:
    """A hashable stand-in for a param value (lists and dicts from YAML included)."""
    return json.dumps(v, sort_keys=True, default=str) if isinstance(v, (list, dict)) else v


def _fmt_value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else ("" if v is None else str(v))

"""Ablation grids: ``mats-bench sweep GRID.yaml`` -> one run per point, a table and plots.

A grid file::

    encoder: tiny
    llm: tiny
    tasks: [tiny-caption, tiny-classify]
    checkpoints: [null]          # checkpoint sets (replicates, e.g. training seeds); null = shipped
    seeds: [0, 1, 2]             # evaluation seeds (bridge noise)
    run: {limit: 100}
    grid:
      - bridge: santa
        params: {lam: [0, 0.1, 0.3, 0.5, 1.0]}
      - bridge: none

Every point is an ordinary run directory, so an interrupted sweep resumes point by point.
"""
from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path
from typing import Any, Callable

import yaml
from pydantic import BaseModel, ConfigDict, Field

from mats_core.registry import MatsError


class GridEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bridge: str
    params: dict[str, list[Any] | Any] = Field(default_factory=dict)


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    encoder: str = "tiny"
    llm: str = "tiny"
    tasks: list[str]
    checkpoints: list[str | None] = Field(default_factory=lambda: [None])
    seeds: list[int] = Field(default_factory=lambda: [0])
    run: dict[str, Any] = Field(default_factory=dict)
    grid: list[GridEntry]

    def points(self) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for entry in self.grid:
            keys = sorted(entry.params)
            values = [v if isinstance(v, list) else [v] for v in (entry.params[k] for k in keys)]
            for combo in itertools.product(*values) if keys else [()]:
                out.append((entry.bridge, dict(zip(keys, combo))))
        return out


def load_spec(path: str | Path) -> SweepSpec:
    from pydantic import ValidationError

    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise MatsError(f"grid file {path} does not exist") from None
    try:
        return SweepSpec.model_validate(raw)
    except ValidationError as exc:
        errs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise MatsError(f"{path}: {errs}") from None


def point_name(bridge: str, params: dict[str, Any]) -> str:
    return bridge + "".join(f"-{k}={v}" for k, v in sorted(params.items()))


def run_sweep(spec: SweepSpec, output: Path, registry: str | None = None, overwrite: bool = False,
              log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    from mats_core.harness import Pipeline, RunConfig, evaluate
    from mats_core.registry import resolve
    from mats_core.runner import find_checkpoints

    for bridge, params in spec.points():
        resolve("bridge", bridge, registry)
    rows: list[dict[str, Any]] = []
    pipe = None
    for ci, ck in enumerate(spec.checkpoints):
        ckpts = find_checkpoints(Path(ck) if ck else None, spec.encoder, spec.llm, registry)
        pipe = pipe or Pipeline.from_checkpoint(ckpts["noise"], registry, spec.run.get("device", "auto"))
        for seed in spec.seeds:
            cfg = RunConfig(**{**spec.run, "seed": seed})
            for bridge, params in spec.points():
                name = point_name(bridge, params)
                out = output / f"ckpt{ci}" / f"seed{seed}" / name
                log(f"sweep point {name} (checkpoint {ci}, seed {seed})")
                res = evaluate(pipe, ckpts["clean"] if bridge == "none" else ckpts["noise"], bridge, spec.tasks, out, cfg, params, overwrite)
                for task, metrics in res.results.items():
                    for metric, value in metrics.items():
                        rows.append({"bridge": bridge, **{f"param.{k}": v for k, v in params.items()}, "checkpoint": ci,
                                     "seed": seed, "task": task, "metric": metric, "value": value})
    write_outputs(rows, spec, output)
    return rows


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and spread over checkpoints x seeds for each (point, task, metric)."""
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        if r["value"] is None:
            continue
        key = tuple((k, r[k]) for k in sorted(r) if k not in ("checkpoint", "seed", "value"))
        groups.setdefault(key, []).append(float(r["value"]))
    out = []
    for key, vals in groups.items():
        out.append({**dict(key), "mean": statistics.fmean(vals), "std": statistics.pstdev(vals) if len(vals) > 1 else 0.0, "n": len(vals)})
    return out


def write_outputs(rows: list[dict[str, Any]], spec: SweepSpec, output: Path) -> None:
    import csv

    from mats_core.results import atomic_write_text

    summary = summarise(rows)
    atomic_write_text(output / "sweep.json", json.dumps({"rows": rows, "summary": summary}, indent=2, default=str))
    keys = sorted({k for r in summary for k in r}, key=lambda k: (k not in ("bridge", "task", "metric"), k))
    with open(output / "sweep.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(summary)
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in summary:
        lines.append("| " + " | ".join(_fmt(r.get(k)) for k in keys) + " |")
    atomic_write_text(output / "sweep.md", "\n".join(lines) + "\n")
    plot(summary, output)


def plot(summary: list[dict[str, Any]], output: Path) -> list[Path]:
    """One PNG per (task, metric, swept param): mean ± std over replicates, one line per bridge."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = sorted({k for r in summary for k in r if k.startswith("param.")})
    paths = []
    for task, metric in sorted({(r["task"], r["metric"]) for r in summary}):
        for p in params:
            sel = [r for r in summary if r["task"] == task and r["metric"] == metric and p in r and _numeric(r[p])]
            if len({r[p] for r in sel}) < 2:
                continue
            fig, ax = plt.subplots(figsize=(5, 3.5))
            for bridge in sorted({r["bridge"] for r in sel}):
                pts = sorted((float(r[p]), r["mean"], r["std"]) for r in sel if r["bridge"] == bridge)
                ax.errorbar([x for x, _, _ in pts], [m for _, m, _ in pts], yerr=[s for _, _, s in pts], marker="o", capsize=3, label=bridge)
            for r in summary:  # unswept reference points (e.g. bridge none) as horizontal lines
                if r["task"] == task and r["metric"] == metric and p not in r:
                    ax.axhline(r["mean"], linestyle="--", linewidth=1, label=r["bridge"], color="grey")
            ax.set_xlabel(p.removeprefix("param."))
            ax.set_ylabel(f"{task} {metric}")
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
            fig.tight_layout()
            path = output / f"plot-{task}-{metric}-{p.removeprefix('param.')}.png"
            fig.savefig(path, dpi=110)
            plt.close(fig)
            paths.append(path)
    return paths


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else ("" if v is None else str(v))

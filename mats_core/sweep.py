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

Every name and param of the grid (encoder, llm, tasks, checkpoints, run options, each bridge and every
value of every swept param, bounds included; no empty list, no value twice: :mod:`mats_core.grid_values`)
is checked before the first point runs, so a typo fails in a second. A sweep resumes point by point.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Annotated, Any, Callable

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from mats_core.grid_values import Distinct, DistinctPoints, Swept
from mats_core.registry import MatsError


class GridEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bridge: str
    params: dict[str, Swept] = Field(default_factory=dict)

    def combinations(self) -> list[dict[str, Any]]:
        """Every point of this entry: a param given as a list is swept, a scalar is fixed."""
        keys = sorted(self.params)
        values = [v if isinstance(v, list) else [v] for v in (self.params[k] for k in keys)]
        return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    encoder: str = "tiny"
    llm: str = "tiny"
    tasks: Annotated[list[str], Distinct]
    checkpoints: Annotated[list[str | None], Distinct] = Field(default_factory=lambda: [None])
    seeds: Annotated[list[int], Distinct] = Field(default_factory=lambda: [0])
    run: dict[str, Any] = Field(default_factory=dict)
    grid: Annotated[list[GridEntry], DistinctPoints] = Field(min_length=1)
    reference: str | None = "noise"  # the point others are compared with (paired), when the grid has it
    launcher: dict[str, Any] = Field(default_factory=dict)  # where points run (mats_core.launchers.LauncherConfig)
    _source: str = PrivateAttr("grid")  # the file it was read from, for error messages

    def points(self) -> list[tuple[str, dict[str, Any]]]:
        return [(entry.bridge, params) for entry in self.grid for params in entry.combinations()]


def load_spec(path: str | Path) -> SweepSpec:
    from pydantic import ValidationError

    from mats_core.validation import format_errors

    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise MatsError(f"grid file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise MatsError(f"grid file {path} is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(raw, dict):
        raise MatsError(f"grid file {path}: expected a mapping (encoder, llm, tasks, checkpoints, seeds, run, grid), "
                        f"got {type(raw).__name__}")
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as exc:
        raise MatsError(f"{path}: {format_errors(exc, known=SweepSpec.model_fields, noun='key')}") from None
    spec._source = str(path)
    return spec


def check_spec(spec: SweepSpec, registry: str | None = None) -> None:
    """Validate every name and param of the grid without running anything; the error names
    the grid file and the key (``grid[0].params.lam``, ``tasks[1]``, ``run.limit`` ...)."""
    from pydantic import ValidationError

    from mats_core.validation import RunConfig
    from mats_core.registry import resolve, resolved_params
    from mats_core.runner import find_checkpoints
    from mats_core.validation import check_device, format_errors

    src = spec._source

    def fail(key: str, exc: Exception) -> MatsError:
        return MatsError(f"{src}: {key}: {exc}")

    for kind in ("encoder", "llm"):
        try:
            resolve(kind, getattr(spec, kind), registry)
        except MatsError as exc:
            raise fail(kind, exc) from None
    for i, task in enumerate(spec.tasks):
        try:
            resolve("task", task, registry)
        except MatsError as exc:
            raise fail(f"tasks[{i}]", exc) from None
    for seed in spec.seeds:
        try:
            RunConfig(**{**spec.run, "seed": seed})
        except ValidationError as exc:
            raise fail("run", format_errors(exc, "run.", RunConfig.model_fields, noun="setting")) from None
        except MatsError as exc:  # the typed decoding settings
            raise fail("run", exc) from None
    try:
        check_device(spec.run.get("device", "auto"), "run.device")
    except MatsError as exc:
        raise fail("run.device", exc) from None
    for i, entry in enumerate(spec.grid):
        try:
            resolve("bridge", entry.bridge, registry)
        except MatsError as exc:
            raise fail(f"grid[{i}].bridge", exc) from None
        for key, values in entry.params.items():  # each value alone: the error names its key
            for j, value in enumerate(values if isinstance(values, list) else [values]):
                try:
                    resolved_params("bridge", entry.bridge, registry, **{key: value})
                except MatsError as exc:
                    index = f"[{j}]" if isinstance(values, list) else ""
                    raise fail(f"grid[{i}].params.{key}{index} = {value!r}", exc) from None
        for params in entry.combinations():  # then whole points (params that constrain each other)
            try:
                resolved_params("bridge", entry.bridge, registry, **params)
            except MatsError as exc:
                raise fail(f"grid[{i}] point {point_name(entry.bridge, params)}", exc) from None
    for i, ck in enumerate(spec.checkpoints):
        try:
            find_checkpoints(Path(ck) if ck else None, spec.encoder, spec.llm, registry)
        except MatsError as exc:
            raise fail(f"checkpoints[{i}]", exc) from None


def point_name(bridge: str, params: dict[str, Any]) -> str:
    return bridge + "".join(f"-{k}={v}" for k, v in sorted(params.items()))


def run_sweep(spec: SweepSpec, output: Path, registry: str | None = None, overwrite: bool = False,
              log: Callable[[str], None] = print, progress: bool = False, *, launcher: Any = None) -> list[dict[str, Any]]:
    """Every point of the grid; ``progress`` shows a bar (point k/N, ETA) instead of ``log`` lines.
    ``launcher`` (a mats_core.launchers.LauncherConfig) named ``submitit``: one job per point."""
    from mats_core.harness import Pipeline, evaluate
    from mats_core.launchers import Point, launcher_config, point_rows, run_submitit
    from mats_core.runner import find_checkpoints, paired_checkpoint
    from mats_core.validation import RunConfig

    check_spec(spec, registry)
    launcher = launcher or launcher_config(spec.launcher)  # the grid file's launcher: block
    if launcher.name == "submitit":
        return run_submitit(spec, output, registry=registry, overwrite=overwrite, launcher=launcher, log=log)
    rows: list[dict[str, Any]] = []
    pipe = None
    total = len(spec.checkpoints) * len(spec.seeds) * len(spec.points())
    bar = _bar(total, progress)
    dirs: dict[tuple, dict[str, Path]] = {}
    with bar:
        for ci, ck in enumerate(spec.checkpoints):
            ckpts = find_checkpoints(Path(ck) if ck else None, spec.encoder, spec.llm, registry)
            pipe = pipe or Pipeline.from_checkpoint(ckpts["noise"], registry, spec.run.get("device", "auto"))
            for seed in spec.seeds:
                cfg = RunConfig(**{**spec.run, "seed": seed})
                for bridge, params in spec.points():
                    name = point_name(bridge, params)
                    out = output / f"ckpt{ci}" / f"seed{seed}" / name
                    done = bar.tasks[0].completed if progress else len(rows)
                    bar.update(bar.task_ids[0], description=f"point {int(done) + 1}/{total} {name} (checkpoint {ci}, seed {seed})") if progress \
                        else log(f"sweep point {name} (checkpoint {ci}, seed {seed})")
                    res = evaluate(pipe, paired_checkpoint(ckpts, bridge, params, registry), bridge, spec.tasks, out, cfg, bridge_params=params, overwrite=overwrite)
                    dirs.setdefault((ci, seed), {})[name] = out
                    rows += point_rows(res, Point(ci, seed, bridge, params, out))  # the same rows as a submitit sweep's
                    if progress:
                        bar.advance(bar.task_ids[0])
    from mats_core.distributed import Shards

    if Shards.from_env().is_main:  # under a multi-process launch every rank holds the same rows
        diffs = _differences(spec, dirs, registry, pipe.encoder if pipe else None)
        write_outputs(rows, spec, output, diffs)
    return rows


def _bar(total: int, enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from rich.console import Console

    from mats_core.quiet import terminal

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("ETA"), TimeRemainingColumn(), disable=not enabled, console=Console(file=terminal()),
                   redirect_stdout=False, redirect_stderr=False)  # third-party noise goes to the log (mats_core.quiet)
    bar.add_task("sweep", total=total)
    return bar


def _differences(spec: SweepSpec, dirs: dict[tuple, dict[str, Path]], registry: str | None, encoder: Any) -> dict:
    """(checkpoint, seed) -> point -> task -> metric -> paired difference from the reference point."""
    from mats_core.compare import differences, load_row

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
    from mats_core.stats import across_seeds

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
        out.append({**dict(key), "mean": agg["mean"], "std": agg["std"] if not one else 0.0, "n": len(items),
                    "low": low, "high": high, "ci": "bootstrap over samples" if one else "t across replicates"})
    return out


def write_outputs(rows: list[dict[str, Any]], spec: SweepSpec, output: Path, diffs: dict | None = None) -> None:
    import csv

    from mats_core.results import atomic_write_text
    from mats_core.sweep_output import legend, pivot, summary_figures

    summary = summarise(rows)
    marks = _marks(diffs or {}, rows)
    atomic_write_text(output / "sweep.json", json.dumps({"rows": rows, "summary": summary, "differences": diffs or {},
                                                         "reference": spec.reference}, indent=2, default=str))
    keys = sorted({k for r in summary for k in r}, key=lambda k: (k not in ("bridge", "task", "metric"), k))
    with open(output / "sweep.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows(summary)
    ref = spec.reference if diffs else None
    counts = {r["task"]: int(r["value"]) for r in rows if r["metric"] == "n" and r["value"] is not None}
    sizes = f"n per task: {', '.join(f'{t} {n}' for t, n in counts.items())}; --limit {spec.run.get('limit') or 'none'}"
    atomic_write_text(output / "sweep.md", f"{legend(summary, ref)}; {sizes}\n\n{pivot(summary, marks)}")
    summary_figures(summary, output)
    (output / "plots").mkdir(exist_ok=True)
    plot(summary, output / "plots")


def _marks(diffs: dict, rows: list[dict[str, Any]]) -> dict[tuple, set]:
    """point -> {(task, metric)} whose difference from the reference point excludes 0."""
    from mats_core.stats import across_seeds
    from mats_core.sweep_output import point_key

    keys = {point_name(r["bridge"], {k.removeprefix("param."): v for k, v in r.items() if k.startswith("param.")}): point_key(r) for r in rows}
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


COUNTS = {"n", "errors"}  # bookkeeping columns of every task's results: in the table, not plotted


def plot(summary: list[dict[str, Any]], output: Path) -> list[Path]:
    """One PNG per (task, metric, swept param): ``plot-<task>-<metric>-<param>.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for task, metric in sorted({(r["task"], r["metric"]) for r in summary if r["metric"] not in COUNTS}):
        rows = [r for r in summary if r["task"] == task and r["metric"] == metric]
        swept = swept_params(rows)
        for param in sorted({p for ps in swept.values() for p in ps}):
            fig = plot_param(rows, swept, param, f"{task} {metric}")
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


def plot_param(rows: list[dict[str, Any]], swept: dict[str, list[str]], param: str, ylabel: str):
    """The metric (mean ± std over replicates) against ``param``: one line per bridge and value
    of that bridge's other swept params (the legend says which); bridges that sweep nothing
    (e.g. ``none``) as dashed horizontal reference lines. Points of a bridge that sweeps other
    params but not this one have their own plots."""
    import matplotlib.pyplot as plt

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
        handles.append(ax.errorbar([where(x) for x, _, _ in pts], [m for _, m, _ in pts], yerr=[s for _, _, s in pts],
                                   marker=markers[n % len(markers)], capsize=3, color=cmap(n % cmap.N)))
        labels.append(" ".join([bridge] + [f"{k}={_fmt_value(v)}" for k, v in others]))
    for n, r in enumerate(references, start=len(lines)):
        handles.append(ax.axhline(r["mean"], linestyle="--", linewidth=1.2, color=cmap(n % cmap.N)))
        own = "".join(f" {k.removeprefix('param.')}={_fmt_value(v)}" for k, v in sorted(r.items()) if k.startswith("param."))
        labels.append(f"{r['bridge']}{own} (reference)")
    if not numeric:
        ax.set_xticks(range(len(ticks)), [_fmt_value(t) for t in ticks])
    name = param.removeprefix("param.")
    constant = [f"{k}={', '.join(sorted(v))}" for k, v in sorted(fixed.items()) if len(v) == 1]
    ax.set_title(f"{ylabel} vs {name}" + (f"\n(fixed: {'; '.join(constant)})" if constant else ""), fontsize=10)
    ax.set_xlabel(name)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if entries > 4:
        ax.legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    else:
        ax.legend(handles, labels, fontsize=8)
    fig.tight_layout()
    return fig


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

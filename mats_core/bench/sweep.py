"""``mats-bench sweep GRID.yaml``: one run per grid point (here or as cluster jobs), resumed point by point,
then the table and plots of :mod:`mats_core.bench.sweep_output`. The grid file: :mod:`mats_core.bench.sweep_spec`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from mats_core.bench.sweep_output import _differences, write_outputs
from mats_core.bench.sweep_spec import SweepSpec, check_spec, point_name


def run_sweep(
    spec: SweepSpec,
    output: Path,
    registry: str | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
    progress: bool = False,
    *,
    launcher: Any = None,
) -> list[dict[str, Any]]:
    """Every point of the grid; ``progress`` shows a bar (point k/N, ETA) instead of ``log`` lines.
    ``launcher`` (a mats_core.bench.launchers.LauncherConfig) named ``submitit``: one job per point."""
    from mats_core.bench.launchers import Point, launcher_config, point_rows, run_submitit
    from mats_core.bench.pairing import any_checkpoint, find_checkpoints, paired_checkpoint
    from mats_core.config.validation import RunConfig
    from mats_core.run.harness import Pipeline, evaluate

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
            pipe = pipe or Pipeline.from_checkpoint(any_checkpoint(ckpts), registry, spec.run.get("device", "auto"))
            for seed in spec.seeds:
                cfg = RunConfig(**{**spec.run, "seed": seed})
                for bridge, params in spec.points():
                    name = point_name(bridge, params)
                    out = output / f"ckpt{ci}" / f"seed{seed}" / name
                    done = bar.tasks[0].completed if progress else len(rows)
                    bar.update(
                        bar.task_ids[0],
                        description=f"point {int(done) + 1}/{total} {name} (checkpoint {ci}, seed {seed})",
                    ) if progress else log(f"sweep point {name} (checkpoint {ci}, seed {seed})")
                    res = evaluate(
                        pipe,
                        paired_checkpoint(ckpts, bridge, params, registry),
                        bridge,
                        spec.tasks,
                        out,
                        cfg,
                        bridge_params=params,
                        overwrite=overwrite,
                    )
                    dirs.setdefault((ci, seed), {})[name] = out
                    rows += point_rows(res, Point(ci, seed, bridge, params, out))  # the same rows as a submitit sweep's
                    if progress:
                        bar.advance(bar.task_ids[0])
    from mats_core.run.distributed import Shards

    if Shards.from_env().is_main:  # under a multi-process launch every rank holds the same rows
        diffs = _differences(spec, dirs, registry, pipe.encoder if pipe else None)
        write_outputs(rows, spec, output, diffs)
    return rows


def _bar(total: int, enabled: bool):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from mats_core.process.quiet import terminal

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        disable=not enabled,
        console=Console(file=terminal()),
        redirect_stdout=False,
        redirect_stderr=False,
    )  # third-party noise goes to the log (mats_core.process.quiet)
    bar.add_task("sweep", total=total)
    return bar

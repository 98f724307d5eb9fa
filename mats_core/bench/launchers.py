"""Where a sweep's grid points run: in this process (``local``) or as one job each through
submitit (``submitit``: a Slurm cluster, or submitit's local executor = parallel processes on
this machine, or its in-process ``debug`` executor).

Every point is an ordinary run directory (``<output>/ckpt<i>/seed<s>/<point>``) holding its
results.json, so both launchers build the table, CSV, plots and comparison from the same
files. A submitit sweep is resumable: a rerun skips the points whose results.json is there
(same tasks and run settings) and resubmits the others; a job that dies loses only its own
point, and the table is written from the finished points with the missing ones named.
Each job gets a log folder of its own, ``<output>/jobs/<job id>/`` (submitit's stdout,
stderr, pickles and, on Slurm, the sbatch file), and ``<output>/jobs.json`` says which job
ran which point and how it ended.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from mats_core.errors import MatsError


class LauncherConfig(BaseModel):
    """The ``launcher:`` block of a grid file; the command line's ``--launcher``/``--partition``... win."""

    model_config = ConfigDict(extra="forbid")
    name: Literal["local", "submitit"] = "local"
    cluster: Literal["auto", "slurm", "local", "debug"] = (
        "auto"  # auto: Slurm when `srun` is on PATH, else local processes
    )
    partition: str | None = None
    gpus_per_node: int | None = Field(None, ge=0)
    cpus_per_task: int | None = Field(None, ge=1)
    mem_gb: float | None = Field(None, gt=0)
    timeout_min: int = Field(24 * 60, ge=1)  # submitit's own defaults (2 min local, 5 min Slurm) kill real points
    array_parallelism: int | None = Field(None, ge=1)  # Slurm: at most this many points run at once (--array=0-N%P)
    setup: list[str] = Field(
        default_factory=list
    )  # shell lines the sbatch script runs first (module load, activate a venv)
    slurm: dict[str, Any] = Field(default_factory=dict)  # any other sbatch option, e.g. {account: lab, qos: high}
    wait: bool = True  # False: submit, write jobs.json and return; a rerun collects the finished points


def launcher_config(grid_block: dict | None, **options: Any) -> LauncherConfig:
    """The grid file's ``launcher:`` block with the command-line options that were given on top."""
    from pydantic import ValidationError

    from mats_core.registry.hints import format_errors

    given = {k: v for k, v in options.items() if v is not None}
    try:
        return LauncherConfig(**{**(grid_block or {}), **given})
    except ValidationError as exc:
        raise MatsError(
            f"launcher: {format_errors(exc, 'launcher.', LauncherConfig.model_fields, noun='setting')}"
        ) from None


def executor_parameters(cfg: LauncherConfig, name: str = "mats-sweep") -> dict[str, Any]:
    """``AutoExecutor.update_parameters`` keywords: the generic ones (every cluster) and the
    ``slurm_``-prefixed ones (ignored by the local executors)."""
    generic = {
        "name": name,
        "timeout_min": cfg.timeout_min,
        "gpus_per_node": cfg.gpus_per_node,
        "cpus_per_task": cfg.cpus_per_task,
        "mem_gb": cfg.mem_gb,
    }
    slurm = {
        "slurm_partition": cfg.partition,
        "slurm_array_parallelism": cfg.array_parallelism,
        "slurm_setup": cfg.setup or None,
        "slurm_additional_parameters": cfg.slurm or None,
    }
    return {k: v for k, v in {**generic, **slurm}.items() if v is not None}


def make_executor(cfg: LauncherConfig, folder: Path):
    """A submitit AutoExecutor writing one log folder per job under ``folder``."""
    try:
        import submitit
    except ImportError:
        raise MatsError("--launcher submitit needs submitit: pip install 'mats-bench[cluster]'") from None
    cluster = None if cfg.cluster == "auto" else cfg.cluster
    if cluster is None and submitit.SlurmExecutor.affinity() <= 0:
        cluster = "local"  # no Slurm here: parallel processes on this machine
    executor = submitit.AutoExecutor(folder=str(folder / "%j"), cluster=cluster)  # %j: the job id, one folder each
    executor.update_parameters(**executor_parameters(cfg))
    with contextlib.suppress(OSError):
        (folder / "%j").rmdir()  # the literal pattern folder submitit makes up front stays empty
    return executor


@dataclass(frozen=True)
class Point:
    """One job: a grid point under one checkpoint set and one evaluation seed."""

    checkpoint: int
    seed: int
    bridge: str
    params: dict
    out: Path

    @property
    def name(self) -> str:
        from mats_core.bench.sweep_spec import point_name

        return point_name(self.bridge, self.params)

    @property
    def label(self) -> str:
        return f"ckpt{self.checkpoint}/seed{self.seed}/{self.name}"


def plan(spec: Any, output: Path) -> list[Point]:
    """Every (checkpoint set, seed, point) of the grid, in the order the local launcher runs them."""
    from mats_core.bench.sweep_spec import point_name

    return [
        Point(ci, seed, bridge, params, output / f"ckpt{ci}" / f"seed{seed}" / point_name(bridge, params))
        for ci in range(len(spec.checkpoints))
        for seed in spec.seeds
        for bridge, params in spec.points()
    ]


def point_rows(res: Any, point: Point) -> list[dict[str, Any]]:
    """The sweep's long-format rows of one point's results (a RunResults)."""
    extra = res.model_extra or {}
    kinds, heads, cis = extra.get("task_kinds") or {}, extra.get("headline") or {}, extra.get("intervals") or {}
    rows = []
    for task, metrics in res.results.items():
        for metric, value in metrics.items():
            ci = cis.get(task, {}).get(metric) or {}
            rows.append(
                {
                    "bridge": point.bridge,
                    **{f"param.{k}": v for k, v in point.params.items()},
                    "checkpoint": point.checkpoint,
                    "seed": point.seed,
                    "task": task,
                    "kind": kinds.get(task, ""),
                    "metric": metric,
                    "value": value,
                    "headline": metric in (heads.get(task) or [metric]),
                    "ci_low": ci.get("low"),
                    "ci_high": ci.get("high"),
                }
            )
    return rows


def run_point(
    *,
    grid: dict,
    registry: str | None,
    checkpoint: int,
    seed: int,
    bridge: str,
    params: dict,
    output: str,
    overwrite: bool = False,
) -> str:
    """One grid point in its own process: what a submitit job runs. Plain arguments only (the
    grid as a dict), so the job pickles by reference to this function. Returns results.json."""
    from mats_core.bench.pairing import any_checkpoint, find_checkpoints, paired_checkpoint
    from mats_core.bench.sweep_spec import SweepSpec
    from mats_core.config.validation import RunConfig
    from mats_core.run.harness import Pipeline, evaluate

    spec = SweepSpec.model_validate(grid)
    out = Path(output)
    _note_job(out)
    ck = spec.checkpoints[checkpoint]
    ckpts = find_checkpoints(Path(ck) if ck else None, spec.encoder, spec.llm, registry)
    pipe = Pipeline.from_checkpoint(any_checkpoint(ckpts), registry, spec.run.get("device", "auto"))
    cfg = RunConfig(**{**spec.run, "seed": seed})
    evaluate(
        pipe,
        paired_checkpoint(ckpts, bridge, params, registry),
        bridge,
        spec.tasks,
        out,
        cfg,
        bridge_params=params,
        overwrite=overwrite,
    )
    return str(out / "results.json")


def _requeue(**kwargs: Any) -> Any:
    """What submitit calls when a Slurm job is preempted or reaches its time limit: the same
    point again (requeued up to 3 times); evaluate resumes from the samples already written."""
    from submitit.helpers import DelayedSubmission

    return DelayedSubmission(run_point, **kwargs)


run_point.__submitit_checkpoint__ = _requeue  # type: ignore[attr-defined]  (submitit's checkpointable protocol)


def _note_job(out: Path) -> None:
    """``<point>/job.json``: which job, process and host run this point (for a dead job's post-mortem)."""
    import os
    import socket

    job: dict[str, Any] = {"pid": os.getpid(), "host": socket.gethostname()}
    try:
        import submitit

        env = submitit.JobEnvironment()
        job.update(job_id=env.job_id, cluster=env.cluster)
    except Exception:  # noqa: BLE001  (not inside a submitit job: run_point called directly)
        pass
    out.mkdir(parents=True, exist_ok=True)
    (out / "job.json").write_text(json.dumps(job) + "\n")


def finished(point: Point, spec: Any) -> bool:
    """The point's results.json is there, complete, for the grid's tasks and run settings."""
    from mats_core.config.validation import RunConfig
    from mats_core.run.results import read_results

    path = point.out / "results.json"
    if not path.is_file():
        return False
    try:
        res = read_results(path)
    except MatsError:
        return False
    recorded = json.loads(json.dumps(RunConfig(**{**spec.run, "seed": point.seed}).recorded(), default=str))
    return not res.partial and res.config.get("tasks") == list(spec.tasks) and res.config.get("run") == recorded


def run_submitit(
    spec: Any,
    output: Path,
    *,
    registry: str | None,
    overwrite: bool,
    launcher: LauncherConfig,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Submit every unfinished point as one job, wait (unless ``launcher.wait`` is off), then
    write the sweep's outputs from the finished points. Raises MatsError naming the points that
    are missing (their log folders included) after the outputs of the others are written."""
    from mats_core.bench.jobs import JobBook

    points = plan(spec, output)
    todo = points if overwrite else [p for p in points if not finished(p, spec)]
    book = JobBook(output)
    for p in points:
        if p not in todo:
            book.skip(p.label)
    if not todo:
        log(f"submitting 0 of {len(points)} points ({len(points)} finished)")
    if todo:
        executor = make_executor(launcher, output / "jobs")
        queued = {
            p.label: (p, job)
            for p in todo
            if (job := book.queued(p.label, executor.cluster, output / "jobs")) is not None
        }
        fresh = [p for p in todo if p.label not in queued]
        log(
            f"submitting {len(fresh)} of {len(points)} points ({len(points) - len(todo)} finished, {len(queued)} still queued or running)"
        )
        if fresh:
            jobs = _submit(executor, fresh, spec.model_dump(), registry=registry, overwrite=overwrite)
            for p, job in zip(fresh, jobs):
                book.submitted(p.label, job, executor.cluster)
            queued.update((p.label, (p, job)) for p, job in zip(fresh, jobs))
        book.save()
        if not launcher.wait:
            log(
                f"{len(queued)} job(s) listed in {output / 'jobs.json'}; rerun the same command to collect the finished points"
            )
            return []
        for label, (_, job) in queued.items():
            book.wait(label, job, log)
        book.save()
    return collect(spec, output, points, registry=registry, book=book)


def _submit(executor: Any, points: list[Point], grid: dict, *, registry: str | None, overwrite: bool) -> list:
    """A job per point running :func:`run_point`, submitted together: one Slurm array job
    (array_parallelism caps how many run at once)."""
    with executor.batch():
        jobs = [
            executor.submit(
                run_point,
                grid=grid,
                registry=registry,
                checkpoint=p.checkpoint,
                seed=p.seed,
                bridge=p.bridge,
                params=dict(p.params),
                output=str(p.out),
                overwrite=overwrite,
            )
            for p in points
        ]
    return jobs


def collect(spec: Any, output: Path, points: list[Point], *, registry: str | None, book: Any) -> list[dict[str, Any]]:
    """The sweep's rows, comparison and outputs from the finished points' results.json."""
    from mats_core.bench.sweep_output import _differences, write_outputs
    from mats_core.run.results import read_results

    rows: list[dict[str, Any]] = []
    dirs: dict[tuple, dict[str, Path]] = {}
    missing = []
    for p in points:
        if not finished(p, spec):
            missing.append(p)
            continue
        rows += point_rows(read_results(p.out / "results.json"), p)
        dirs.setdefault((p.checkpoint, p.seed), {})[p.name] = p.out
    if rows:
        write_outputs(rows, spec, output, _differences(spec, dirs, registry, _encoder(spec, registry)))
        if missing:
            book.note_missing(output / "sweep.md", [p.label for p in missing])
    book.save()
    if missing:
        raise MatsError(book.missing_message([p.label for p in missing], output))
    return rows


def _encoder(spec: Any, registry: str | None) -> Any:
    """The encoder of the grid's first checkpoint set, built here for the paired comparison
    (classification scoring embeds the labels); the LLM is not loaded."""
    from mats_core.bench.pairing import any_checkpoint, find_checkpoints
    from mats_core.model.pipeline import read_checkpoint_config as read_config
    from mats_core.registry.presets import accepted_params, build

    ck = spec.checkpoints[0]
    cfg = read_config(any_checkpoint(find_checkpoints(Path(ck) if ck else None, spec.encoder, spec.llm, registry)))
    enc = cfg["encoder"]
    params = {
        **enc.get("params", {}),
        **accepted_params("encoder", enc["name"], {"device": spec.run.get("device", "auto")}, registry),
    }
    return build("encoder", enc["name"], registry, **params)

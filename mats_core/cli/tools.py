"""The ``mats-bench`` commands that read, merge or measure runs (score, report, sweep, gap).

They register on :data:`mats_core.cli.app.app`, which imports this module, so the app holds every command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from mats_core.cli.app import SET_HELP, _console, _fail, app
from mats_core.config.overrides import parse_sets


@app.command()
def score(
    run_dir: Path = typer.Argument(..., help="A run directory (samples.jsonl + run_config.json)."),
    registry: Optional[Path] = typer.Option(None, help="Extra preset registry (YAML)."),
    resamples: Optional[int] = typer.Option(
        None, min=0, help="Bootstrap resamples of the 95% intervals (default: the run's own)."
    ),
) -> None:
    """Re-score a finished (or --predict-only) run from its samples.jsonl, without generating."""
    from mats_core.errors import MatsError
    from mats_core.process.quiet import quiet
    from mats_core.run.rescore import rescore

    try:
        with quiet(
            run_dir
        ):  # Java's `PTBTokenizer tokenized ...` and other third-party noise -> <run_dir>/mats-bench.log
            res = rescore(run_dir, str(registry) if registry else None, resamples=resamples)
    except (MatsError, OSError) as exc:
        _fail(exc)
    from mats_core.bench.runner import comparison_table

    if res.partial:
        missing = {
            t: f"{res.samples_count.get(t, 0)} of {n}"
            for t, n in res.expected_count.items()
            if res.samples_count.get(t, 0) != n
        }
        _console().print(
            f"[bold yellow]partial:[/] {run_dir} lacks rows ({', '.join(f'{t}: {m}' for t, m in missing.items())}); "
            "results.json says partial: true. Re-run the same `mats-bench run` to finish it.",
            highlight=False,
        )
    kinds = res.model_extra.get("task_kinds", {})
    _console().print(comparison_table(f"scored {run_dir}", run_dir, [(run_dir.name, res.results)], kinds, own=True))


@app.command()
def report(
    run_dirs: List[Path] = typer.Argument(
        ..., help="Run directories (searched recursively for results.json; a comparison.json gives its rows and order)."
    ),
    out: Optional[Path] = typer.Option(
        None,
        "--output",
        "-o",
        "--output_path",
        "--out",
        help="Write <output>.md, .csv and .json instead of printing Markdown.",
    ),
    reference_row: str = typer.Option(
        "noise", help="Row every other row is compared with (paired bootstrap difference, p-value)."
    ),
    allow_mixed: bool = typer.Option(
        False, help="Put runs that scored different samples (e.g. another --limit) in one table."
    ),
    resamples: int = typer.Option(1000, min=0, help="Bootstrap resamples of the paired differences (0: none)."),
    registry: Optional[Path] = typer.Option(None, help="Extra preset registry (YAML)."),
) -> None:
    """Merge runs into one table: rows in run order, reference rows kept, n / limit / source per row,
    95% CIs and the paired difference from --reference-row."""
    from mats_core.errors import MatsError
    from mats_core.report.rows import report_doc

    try:
        doc = report_doc(run_dirs, reference_row, allow_mixed, resamples, str(registry) if registry else None)
    except (MatsError, OSError) as exc:
        _fail(exc)
    from mats_core.report.tables import as_csv, as_markdown

    if out is None:
        typer.echo(as_markdown(doc, with_source=True))
        return
    try:
        for suffix, text in (
            (".md", as_markdown(doc, with_source=True)),
            (".csv", as_csv(doc)),
            (".json", json.dumps(doc, indent=2)),
        ):
            out.with_suffix(suffix).write_text(text)
    except OSError as exc:  # a read-only or missing folder, a full disk: one error line
        _fail(exc)
    _console().print(f"wrote {out.with_suffix('.md')}, {out.with_suffix('.csv')} and {out.with_suffix('.json')}")


SweepOutput = Annotated[
    Path, typer.Option("--output", "-o", "--output_path", "--out", help="Where point runs, sweep.csv/md and plots go.")
]
SweepRegistry = Annotated[Optional[Path], typer.Option(help="Extra preset registry (YAML).")]
SweepLimit = Annotated[
    Optional[int],
    typer.Option(
        min=1, help="Score only the first N samples of each task (replaces the grid's run.limit: a quick check)."
    ),
]
SweepOverwrite = Annotated[bool, typer.Option(help="Replace points that were run with another config.")]
SweepLauncher = Annotated[
    Optional[str],
    typer.Option(
        help="local (default: one point after another here) | submitit (one job per point: Slurm, or parallel local processes)."
    ),
]
SweepCluster = Annotated[
    Optional[str], typer.Option(help="submitit: auto (Slurm when srun is on PATH) | slurm | local | debug.")
]
SweepPartition = Annotated[Optional[str], typer.Option(help="Slurm partition.")]
SweepGpusPerNode = Annotated[Optional[int], typer.Option(min=0, help="GPUs per job.")]
SweepCpusPerTask = Annotated[Optional[int], typer.Option(min=1, help="CPUs per job.")]
SweepMemGb = Annotated[Optional[float], typer.Option(min=0, help="Memory per job (GB).")]
SweepTimeoutMin = Annotated[Optional[int], typer.Option(min=1, help="Time limit per job (minutes).")]
SweepArrayParallelism = Annotated[Optional[int], typer.Option(min=1, help="Slurm: at most this many points at once.")]
SweepWait = Annotated[
    Optional[bool], typer.Option(help="submitit: wait for the jobs (default), or submit and return; a rerun collects.")
]
SweepReportTo = Annotated[
    Optional[str],
    typer.Option(
        "--report-to",
        "--report_to",
        help="Trackers for each point's headline metrics: tensorboard, wandb, mlflow (comma-separated), under --output.",
    ),
]


@app.command()
def sweep(
    grid: Path = typer.Argument(
        ...,
        help="Grid YAML: encoder, llm, tasks, seeds, run settings and a `grid:` list of {bridge, params}; list-valued params are swept, every combination is one point (see the ablation tutorial).",
    ),
    *,
    output: SweepOutput = Path("runs/sweep"),
    registry: SweepRegistry = None,
    limit: SweepLimit = None,
    overwrite: SweepOverwrite = False,
    launcher: SweepLauncher = None,
    cluster: SweepCluster = None,
    partition: SweepPartition = None,
    gpus_per_node: SweepGpusPerNode = None,
    cpus_per_task: SweepCpusPerTask = None,
    mem_gb: SweepMemGb = None,
    timeout_min: SweepTimeoutMin = None,
    array_parallelism: SweepArrayParallelism = None,
    wait: SweepWait = None,
    report_to: SweepReportTo = None,
) -> None:
    """Run an ablation grid (bridges x params x checkpoints x seeds); write a table and plots.

    Launcher options override the grid file's `launcher:` block (docs: Run a grid on a cluster)."""
    from mats_core.bench.launchers import launcher_config
    from mats_core.bench.sweep_spec import load_spec
    from mats_core.errors import MatsError
    from mats_core.run.distributed import Shards

    main = Shards.from_env().is_main
    try:
        spec = load_spec(grid)
        if limit is not None:
            spec.run = {**spec.run, "limit": limit}
        from mats_core.bench.tracking import parse_report_to

        trackers = parse_report_to(report_to)
        jobs = launcher_config(
            spec.launcher,
            name=launcher,
            cluster=cluster,
            partition=partition,
            gpus_per_node=gpus_per_node,
            cpus_per_task=cpus_per_task,
            mem_gb=mem_gb,
            timeout_min=timeout_min,
            array_parallelism=array_parallelism,
            wait=wait,
        )
        rows = _run_points(spec, output=output, registry=registry, overwrite=overwrite, jobs=jobs, trackers=trackers)
    except (MatsError, OSError) as exc:
        _fail(exc)
    if not main or not rows:
        return  # rank 0 writes and prints the table; `--no-wait` submitted jobs and has none yet
    _print_sweep(output)


def _run_points(spec, *, output: Path, registry: Path | None, overwrite: bool, jobs, trackers: list) -> list:
    """Every grid point, in ``output`` held by this process (third-party noise to its log, the bar to the terminal)."""
    from mats_core.bench.sweep import run_sweep
    from mats_core.bench.tracking import report_sweep
    from mats_core.process.output_dir import check_output, output_lock
    from mats_core.process.quiet import quiet, terminal
    from mats_core.run.distributed import Shards

    main = Shards.from_env().is_main
    with quiet(check_output(output), enabled=main), output_lock(output, enabled=main):
        log = (lambda m: print(m, file=terminal(), flush=True)) if jobs.name == "submitit" else (lambda _: None)
        reg = str(registry) if registry else None
        progress = main and jobs.name == "local"
        rows = run_sweep(spec, output, reg, overwrite, log=log, progress=progress, launcher=jobs)
        if main and rows:
            report_sweep(trackers, rows, output=output, grid=spec.model_dump())
    return rows


def _print_sweep(output: Path) -> None:
    typer.echo((output / "sweep.md").read_text())
    pngs = sorted(output.glob("summary-*.png"))
    _console().print(
        f"table: {output / 'sweep.csv'}; {len(pngs)} summary figure(s) in {output}, per-metric plots in {output / 'plots'}"
    )


GapEncoder = Annotated[str, typer.Option(help="Encoder preset or plugin name.")]
GapTasks = Annotated[str, typer.Option(help="Comma-separated tasks with audio and reference captions.")]
GapCorpus = Annotated[str, typer.Option(help="Corpus whose captions form the bridges' memory bank.")]
GapBridge = Annotated[
    str, typer.Option(help="Bridges whose effect (cosine to the caption, before/after) is measured; '' for none.")
]
GapLimit = Annotated[Optional[int], typer.Option(min=1, help="At most N clips per task (default 2000).")]
GapMemorySize = Annotated[int, typer.Option(min=1, help="Captions in the memory bank.")]
GapOutput = Annotated[Path, typer.Option(help="Where gap.json (and the figure) go.")]
GapFigure = Annotated[Optional[Path], typer.Option(help="PCA figure path for the first task (default OUTPUT/gap.png).")]
GapSeed = Annotated[int, typer.Option()]
GapDevice = Annotated[str, typer.Option(help="cpu | cuda")]
GapRegistry = Annotated[Optional[Path], typer.Option(help="Extra preset registry (YAML).")]
GapSet = Annotated[List[str], typer.Option("--set", help=SET_HELP)]


@app.command()
def gap(
    *,
    encoder: GapEncoder = "tiny",
    tasks: GapTasks = "tiny-caption",
    corpus: GapCorpus = "tiny",
    bridge: GapBridge = ",".join(("none", "noise", "memory", "santa", "shift", "nearest", "project")),
    limit: GapLimit = None,
    memory_size: GapMemorySize = 5172,
    output: GapOutput = Path("runs/gap"),
    figure: GapFigure = None,
    seed: GapSeed = 0,
    device: GapDevice = "cpu",
    registry: GapRegistry = None,
    set_: GapSet = [],  # noqa: B006 - typer's default for a repeatable option, never mutated
) -> None:
    """Measure an encoder's modality gap on paired audio + captions (and what each bridge does to it)."""
    from mats_core.errors import MatsError

    try:
        from mats_core.bench.gap import measure
        from mats_core.config.run_spec import split_names
        from mats_core.run.results import atomic_write_text

        ov = parse_sets(set_)
        bridges, names = split_names(bridge), split_names(tasks)
        report = measure(
            encoder,
            names,
            corpus,
            bridges,
            str(registry) if registry else None,
            {
                **ov,
                "limit": limit,
                "memory_size": memory_size,
                "seed": seed,
                "device": device,
                "figure": figure or output / "gap.png",
            },
        )
        atomic_write_text(output / "gap.json", json.dumps(report, indent=2))
    except (MatsError, OSError) as exc:
        _fail(exc)
    from mats_core.bench.gap import as_rich_table

    _console().print(as_rich_table(report))
    _console().print(
        f"gap.json in [bold]{output}[/]"
        + "".join(f"; figure {e['figure']}" for e in report["tasks"].values() if "figure" in e)
    )

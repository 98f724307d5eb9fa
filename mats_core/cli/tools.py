"""The ``mats-bench`` commands that read, merge or measure runs (score, report, sweep, gap).

They register on :data:`mats_core.cli.main.app`, which imports this module, so the app holds every command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from mats_core.cli.app import SET_HELP, _console, _fail, app, parse_sets


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


@app.command()
def sweep(
    grid: Path = typer.Argument(
        ...,
        help="Grid YAML: encoder, llm, tasks, seeds, run settings and a `grid:` list of {bridge, params}; list-valued params are swept, every combination is one point (see the ablation tutorial).",
    ),
    *,
    output: Path = typer.Option(
        Path("runs/sweep"),
        "--output",
        "-o",
        "--output_path",
        "--out",
        help="Where point runs, sweep.csv/md and plots go.",
    ),
    registry: Optional[Path] = typer.Option(None, help="Extra preset registry (YAML)."),
    overwrite: bool = typer.Option(False, help="Replace points that were run with another config."),
    launcher: Optional[str] = typer.Option(
        None,
        help="local (default: one point after another here) | submitit (one job per point: Slurm, or parallel local processes).",
    ),
    cluster: Optional[str] = typer.Option(
        None, help="submitit: auto (Slurm when srun is on PATH) | slurm | local | debug."
    ),
    partition: Optional[str] = typer.Option(None, help="Slurm partition."),
    gpus_per_node: Optional[int] = typer.Option(None, min=0, help="GPUs per job."),
    cpus_per_task: Optional[int] = typer.Option(None, min=1, help="CPUs per job."),
    mem_gb: Optional[float] = typer.Option(None, min=0, help="Memory per job (GB)."),
    timeout_min: Optional[int] = typer.Option(None, min=1, help="Time limit per job (minutes)."),
    array_parallelism: Optional[int] = typer.Option(None, min=1, help="Slurm: at most this many points at once."),
    wait: Optional[bool] = typer.Option(
        None, help="submitit: wait for the jobs (default), or submit and return; a rerun collects."
    ),
    report_to: Optional[str] = typer.Option(
        None,
        "--report-to",
        "--report_to",
        help="Trackers for each point's headline metrics: tensorboard, wandb, mlflow (comma-separated), under --output.",
    ),
) -> None:
    """Run an ablation grid (bridges x params x checkpoints x seeds); write a table and plots.

    Launcher options override the grid file's `launcher:` block (docs: Run a grid on a cluster)."""
    from mats_core.bench.launchers import launcher_config
    from mats_core.bench.sweep import run_sweep
    from mats_core.bench.sweep_spec import load_spec
    from mats_core.errors import MatsError
    from mats_core.run.distributed import Shards

    main = Shards.from_env().is_main
    try:
        spec = load_spec(grid)
        from mats_core.bench.tracking import parse_report_to, report_sweep

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
        from mats_core.process.output_dir import check_output, output_lock
        from mats_core.process.quiet import quiet, terminal

        with (
            quiet(check_output(output), enabled=main),
            output_lock(output, enabled=main),
        ):  # third-party noise -> <output>/mats-bench.log; the bar goes to the terminal
            log = (lambda m: print(m, file=terminal(), flush=True)) if jobs.name == "submitit" else (lambda _: None)
            rows = run_sweep(
                spec,
                output,
                str(registry) if registry else None,
                overwrite,
                log=log,
                progress=main and jobs.name == "local",
                launcher=jobs,
            )
            if main and rows:
                report_sweep(trackers, rows, output=output, grid=spec.model_dump())
    except (MatsError, OSError) as exc:
        _fail(exc)
    if not main or not rows:
        return  # rank 0 writes and prints the table; `--no-wait` submitted jobs and has none yet
    typer.echo((output / "sweep.md").read_text())
    pngs = sorted(output.glob("summary-*.png"))
    _console().print(
        f"table: {output / 'sweep.csv'}; {len(pngs)} summary figure(s) in {output}, per-metric plots in {output / 'plots'}"
    )


@app.command()
def gap(
    *,
    encoder: str = typer.Option("tiny", help="Encoder preset or plugin name."),
    tasks: str = typer.Option("tiny-caption", help="Comma-separated tasks with audio and reference captions."),
    corpus: str = typer.Option("tiny", help="Corpus whose captions form the bridges' memory bank."),
    bridge: str = typer.Option(
        ",".join(("none", "noise", "memory", "santa", "shift", "nearest", "project")),
        help="Bridges whose effect (cosine to the caption, before/after) is measured; '' for none.",
    ),
    limit: Optional[int] = typer.Option(None, min=1, help="At most N clips per task (default 2000)."),
    memory_size: int = typer.Option(5172, min=1, help="Captions in the memory bank."),
    output: Path = typer.Option(Path("runs/gap"), help="Where gap.json (and the figure) go."),
    figure: Optional[Path] = typer.Option(None, help="PCA figure path for the first task (default OUTPUT/gap.png)."),
    seed: int = typer.Option(0),
    device: str = typer.Option("cpu", help="cpu | cuda"),
    registry: Optional[Path] = typer.Option(None, help="Extra preset registry (YAML)."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """Measure an encoder's modality gap on paired audio + captions (and what each bridge does to it)."""
    from mats_core.errors import MatsError

    try:
        from mats_core.bench.gap import measure
        from mats_core.run.results import atomic_write_text

        ov = parse_sets(set_)
        bridges = [b.strip() for b in bridge.split(",") if b.strip()]
        names = [t.strip() for t in tasks.split(",") if t.strip()]
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

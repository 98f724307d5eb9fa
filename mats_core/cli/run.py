"""``mats-bench run``: the main job. Its options are :class:`mats_core.config.run_spec.RunOptions`, resolved
once into a :class:`~mats_core.config.run_spec.RunSpec`; the runner takes the spec, this module prints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from mats_core.cli.app import DEFAULTS_HELP, OUTPUT_HELP, SET_HELP, _console, _fail, app
from mats_core.cli.options import _spelling

Opt = typer.Option
Encoder = Annotated[
    Optional[str],
    Opt(help="Encoder preset (must match the checkpoint)." + DEFAULTS_HELP.format(key="encoder", shipped="tiny")),
]
Bridge = Annotated[
    Optional[str],
    Opt(
        help="Bridge(s), comma-separated: one table row each."
        + DEFAULTS_HELP.format(key="bridges", shipped="none,noise,memory,santa")
    ),
]
Llm = Annotated[
    Optional[str], Opt(help="LLM preset (must match the checkpoint)." + DEFAULTS_HELP.format(key="llm", shipped="tiny"))
]
Checkpoint = Annotated[
    Optional[str],
    Opt(
        help="A checkpoint, or a set dir with clean/ noise/ audio/ (default: the shipped set for encoder+llm). Several sets, comma-separated (training seeds): mean ± std over them."
    ),
]
Tasks = Annotated[
    Optional[str],
    Opt(
        "--tasks",
        "-t",
        help="Comma-separated task names; `--tasks list` prints the registered tasks and exits."
        + DEFAULTS_HELP.format(key="tasks", shipped="tiny-caption,tiny-classify,tiny-qa"),
    ),
]
DataRoot = Annotated[Optional[Path], Opt(help="Root of dataset folders (for dataset tasks).")]
Output = Annotated[Optional[Path], Opt("--output", "-o", help=OUTPUT_HELP)]  # --output_path, --out: cli.options
Limit = Annotated[
    Optional[float],
    Opt(min=0, help="At most N samples per task, or a fraction of each task's samples if below 1 (e.g. 0.1)."),
]
BatchSize = Annotated[
    Optional[str],
    Opt(
        "--batch-size",
        "-b",
        help="Generation batch size (default 32), or 'auto': start at 64, halve on out-of-memory (--batch_size works too).",
    ),
]
Device = Annotated[str, Opt(help="auto | cpu | cuda")]
Seed = Annotated[Optional[int], Opt(help="Evaluation seed (default 0).")]
Registry = Annotated[Optional[Path], Opt(help="Extra preset registry (YAML).")]
Sets = Annotated[List[str], Opt("--set", help=SET_HELP)]
Overwrite = Annotated[bool, Opt("--overwrite", help="Replace a previous run with a different config in --output.")]
Reference = Annotated[bool, Opt(help="Add the CLAP zero-shot and MATS-Audio reference rows.")]
PredictOnly = Annotated[bool, Opt("--predict-only", help="Only generate; score later with `mats-bench score DIR`.")]
Suite = Annotated[
    Optional[Path],
    Opt(
        help="A suite YAML (benchmarks/suites/): its encoder, llm, bridges, tasks, run and decoding settings replace those options; --set still wins."
    ),
]
Controls = Annotated[
    Optional[str],
    Opt(
        help="No-audio control rows (noise checkpoint and bridge, audio replaced): silence, shuffled, or none. Default: silence,shuffled, none with --no-reference."
    ),
]
ReferenceRow = Annotated[
    str, Opt(help="Row that every other row is compared with (paired bootstrap difference and p-value).")
]
Resamples = Annotated[
    Optional[int], Opt(min=0, help="Bootstrap resamples of the 95% intervals (default 1000; 0: none).")
]
AudioLm = Annotated[
    Optional[str],
    Opt(
        "--audio-lm",
        help="Audio-supervised audio LM(s), comma-separated (e.g. qwen2-audio): one table row each, beside the MATS rows; --set audio_lm.model=DIR loads a local copy.",
    ),
]
LogSamples = Annotated[
    bool,
    Opt(
        "--log-samples",
        help="Accepted for lm-evaluation-harness habits (--log_samples too); a no-op: every sample is always logged to <output>/<row>/samples.jsonl.",
    ),
]


@app.command(context_settings={"token_normalize_func": _spelling})
def run(
    ctx: typer.Context,
    *,
    encoder: Encoder = None,
    bridge: Bridge = None,
    llm: Llm = None,
    checkpoint: Checkpoint = None,
    tasks: Tasks = None,
    data_root: DataRoot = None,
    output: Output = None,
    limit: Limit = None,
    batch_size: BatchSize = None,
    device: Device = "auto",
    seed: Seed = None,
    registry: Registry = None,
    set_: Sets = [],  # noqa: B006 - typer's default for a repeatable option, never mutated
    overwrite: Overwrite = False,
    reference: Reference = True,
    predict_only: PredictOnly = False,
    suite: Suite = None,
    controls: Controls = None,
    reference_row: ReferenceRow = "noise",
    resamples: Resamples = None,
    audio_lm: AudioLm = None,
    log_samples: LogSamples = False,
) -> None:
    """Evaluate bridges on tasks and print the comparison table (the main job).

    Scale out: `accelerate launch --multi_gpu --num_processes N -m mats_core.cli run ...` (CPU-only
    machines too; accelerate's --cpu flag starts a single process). Each process generates a shard;
    rank 0 merges them into the same samples.jsonl and results.json as a single-process run.
    """
    from mats_core.config.run_spec import RunOptions, resolve_run_spec
    from mats_core.errors import MatsError

    options = RunOptions.model_validate(ctx.params)  # every option, typed, by name
    if options.tasks is not None and options.tasks.strip() == "list":
        from mats_core.registry.catalog import task_names

        typer.echo("\n".join(task_names(str(registry) if registry else None)))
        return
    try:
        run_spec(resolve_run_spec(options))
    except (MatsError, OSError) as exc:  # an I/O failure (full disk, read-only) too: one error line
        _fail(exc)


def run_spec(spec) -> None:
    """Run a resolved spec in its output directory (held by this process) and print its table."""
    from mats_core.bench.rundir import default_output, point_latest
    from mats_core.process.output_dir import check_output, output_lock
    from mats_core.process.quiet import quiet
    from mats_core.run.distributed import Shards
    from mats_core.run.resume_note import resume_note, snapshot

    output = spec.output if spec.output is not None else default_output(spec.identity)
    main = Shards.from_env().is_main
    before = snapshot(output)  # what a rerun reuses: said under the table
    with quiet(check_output(output), enabled=main), output_lock(output, enabled=main):  # Java's chatter -> log
        rows, kinds, _ = _run_comparison(spec, output)
    if not main:
        return  # one table per sharded run
    if spec.output is None:
        point_latest(output)
    _print_table(spec, output, rows, kinds)
    note = resume_note(before, output)
    if note:
        _console().print(note, highlight=False, markup=False, soft_wrap=True)


def _run_comparison(spec, output: Path):
    from mats_core.bench.runner import run_comparison

    return run_comparison(
        encoder=spec.encoder,
        llm=spec.llm,
        bridges=spec.bridges,
        tasks=spec.tasks,
        checkpoint=spec.checkpoint,
        data_root=spec.data_root,
        output=output,
        run_params=spec.run_params,
        overrides=spec.overrides,
        registry=spec.registry,
        overwrite=spec.overwrite,
        reference=spec.reference,
        audio_lms=spec.audio_lms,
        controls=spec.controls,
        reference_row=spec.reference_row,
    )


def _print_table(spec, output: Path, rows, kinds) -> None:
    from mats_core.bench.rundir import run_footer
    from mats_core.bench.runner import comparison_table
    from mats_core.run.oracle import oracle_label, oracle_settings

    oracle = oracle_label(oracle_settings(spec.overrides.get("run", {})))  # the diagnosis-only dial is in the title
    title = f"mats-bench run · encoder {spec.encoder} · llm {spec.llm}" + (f" · {oracle}" if oracle else "")
    _console().print(comparison_table(title, output, rows, kinds))
    _console().print(run_footer(output, rows, kinds), highlight=False, markup=False)

"""The ``mats-bench`` command line. Imports nothing heavy at module level: ``--help`` is instant."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from mats_core.cli.app import DEFAULTS_HELP, OUTPUT_HELP, SET_HELP, _console, _fail, app, parse_sets  # noqa: F401 - re-exported
from mats_core.cli.options import _batch_size, _checkpoints, _limit, _spelling


@app.command()
def train(
    *,
    encoder: Optional[str] = typer.Option(
        None, help="Encoder preset or plugin name." + DEFAULTS_HELP.format(key="encoder", shipped="tiny")
    ),
    llm: Optional[str] = typer.Option(
        None, help="LLM preset or plugin name." + DEFAULTS_HELP.format(key="llm", shipped="tiny")
    ),
    bridge: Optional[str] = typer.Option(
        None,
        help="Training-time bridge (noise = MATS; none = clean)."
        + DEFAULTS_HELP.format(key="train_bridge", shipped="noise"),
    ),
    corpus: Optional[str] = typer.Option(
        None,
        help="Corpus name, or a JSONL file of {text, instruction, answer, task}."
        + DEFAULTS_HELP.format(key="corpus", shipped="tiny"),
    ),
    output: Path = typer.Option(Path("runs/checkpoint"), help="Checkpoint directory."),
    steps: int = typer.Option(1000, min=1, help="Optimiser steps (one batch of texts each)."),
    batch_size: int = typer.Option(32, "--batch-size", "-b", "--batch_size", min=1, help="Texts per training step."),
    lr: float = typer.Option(1e-3, min=0, help="Learning rate of the mapper and LoRA (AdamW)."),
    seed: int = typer.Option(0, help="Seed of the initialisation, the training noise and the text order."),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    supervision: str = typer.Option("text", help="text (MATS) | audio (MATS-Audio reference; needs a paired corpus)."),
    resume: bool = typer.Option(False, help="Continue an interrupted run in --output exactly (same settings only)."),
    overwrite: bool = typer.Option(False, help="Replace a checkpoint already in --output."),
    registry: Optional[Path] = typer.Option(None, help="Extra preset registry (YAML)."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
    gap_task: Optional[str] = typer.Option(
        None,
        help="Paired task measured for --set bridge.noise_variance=auto (its gap variance E||a-t||^2/dim); task params via --set task.*, e.g. task.split=val.",
    ),
    report_to: Optional[str] = typer.Option(
        None,
        "--report-to",
        "--report_to",
        help="Experiment trackers, comma-separated: tensorboard, wandb (offline), mlflow (file store), all under --output.",
    ),
    data_root: Optional[Path] = typer.Option(
        None,
        help="Folder of the datasets, for a corpus read from official files (e.g. --corpus audiocaps: DIR/audiocaps/train.csv).",
    ),
) -> None:
    """Train the mapper (+ LoRA) on text only and save a checkpoint."""
    opts = dict(locals())  # every option, by name
    from mats_core.errors import MatsError

    try:
        _train(opts)
    except (MatsError, OSError) as exc:  # an I/O failure (full disk, read-only) too: one error line
        _fail(exc)


def _train(opts: dict) -> None:
    (
        encoder,
        llm,
        bridge,
        corpus,
        output,
        steps,
        batch_size,
        lr,
        seed,
        device,
        supervision,
        resume,
        registry,
        set_,
        gap_task,
        overwrite,
    ) = (
        opts[k]
        for k in "encoder llm bridge corpus output steps batch_size lr seed device supervision resume registry set_ gap_task overwrite".split()
    )
    from mats_core.config.validation import check_device, check_kinds
    from mats_core.corpus import corpus_data_root, load_corpus
    from mats_core.model.checkpoints import check_fresh
    from mats_core.registry.presets import build, resolved_params
    from mats_core.train.trainer import train as run_train

    check_fresh(output, resume, overwrite)  # before anything loads
    from mats_core.bench.tracking import Trackers, parse_report_to, training_logger

    trackers = parse_report_to(opts.get("report_to"))
    ov = parse_sets(set_)
    check_kinds(ov, "train")
    reg = str(registry) if registry else None
    encoder, llm, bridge, corpus = (
        _default(v, k, reg)
        for v, k in ((encoder, "encoder"), (llm, "llm"), (bridge, "train_bridge"), (corpus, "corpus"))
    )
    if (
        opts.get("data_root") is not None
    ):  # a corpus read from its official files (mats_datasets: audiocaps, clotho, ...)
        ov["corpus"] = {**corpus_data_root(corpus, reg, opts["data_root"]), **ov.get("corpus", {})}
    cfg = _train_config(
        dict(steps=steps, batch_size=batch_size, lr=lr, seed=seed, device=device, supervision=supervision), ov
    )
    check_device(cfg.device)
    enc_params = _with_device("encoder", encoder, reg, ov.get("encoder", {}), device)
    auto = _auto_noise(ov, encoder, enc_params, reg, gap_task)
    llm_params = _with_device("llm", llm, reg, ov.get("llm", {}), device)
    resolved_params("llm", llm, reg, **llm_params)  # every name and param checked before a model loads
    _check_corpus(corpus, reg, ov.get("corpus", {}))
    spec = {
        "encoder": {"name": encoder, "params": enc_params},
        "llm": {"name": llm, "params": llm_params},
        "bridge": {"name": bridge, **resolved_params("bridge", bridge, reg, **ov.get("bridge", {}))},
        "corpus": {"name": corpus, "params": ov.get("corpus", {})},
        "supervision": supervision,
        **({"noise_variance_auto": auto} if auto else {}),
    }
    console = _console()
    console.print(f"[bold]train[/] {json.dumps(spec, default=str)}", highlight=False)
    import torch

    torch.manual_seed(seed)  # peft initialises LoRA A from the global RNG while the LLM is built
    enc = build("encoder", encoder, reg, **enc_params)
    lm = build("llm", llm, reg, **llm_params)
    br = build("bridge", bridge, reg, **ov.get("bridge", {}))
    _, records = load_corpus(corpus, reg, **ov.get("corpus", {}))
    from mats_core.process.output_dir import check_output, output_lock
    from mats_core.process.quiet import quiet
    from mats_core.run.distributed import Shards

    with (
        quiet(check_output(output), enabled=Shards.from_env().is_main),
        output_lock(output, enabled=Shards.from_env().is_main),
    ):  # noise -> log
        with Trackers(
            trackers if Shards.from_env().is_main else [],
            output=output,
            name=output.name,
            kind="train",
            config={**spec, "train": cfg.model_dump(), "mapper": ov.get("mapper") or {}},
        ) as tr:
            out = run_train(
                enc,
                lm,
                br,
                records,
                output,
                cfg,
                mapper=ov.get("mapper"),
                spec=spec,
                resume=resume,
                overwrite=overwrite,
                on_log=training_logger(tr) if tr.writers else None,
            )

    if Shards.from_env().is_main:
        console.print(f"checkpoint written to [bold]{out}[/]")


def _auto_noise(ov: dict, encoder: str, enc_params: dict, registry: str | None, gap_task: str | None) -> dict | None:
    """``--set bridge.noise_variance=auto``: measure the gap variance on ``--gap-task``, in place."""
    from mats_core.errors import MatsError
    from mats_core.registry.presets import build

    if ov.get("bridge", {}).get("noise_variance") != "auto":
        return None
    if not gap_task:
        raise MatsError(
            "--set bridge.noise_variance=auto needs --gap-task TASK: a small paired task (audio + captions) "
            "whose gap is measured, e.g. --gap-task tiny-caption --set task.split=val"
        )
    from mats_core.bench.gap import noise_variance_from

    enc = build("encoder", encoder, registry, **enc_params)  # a second build: the training one keeps its RNG order
    value, record = noise_variance_from(
        enc, {"name": encoder, "params": enc_params}, gap_task, registry, ov.get("task", {})
    )
    ov["bridge"]["noise_variance"] = value
    _console().print(
        f"noise_variance=auto: {value:.6g} (E||a - t||^2 / dim over {record['clips']} clips of {gap_task})"
    )
    return record


def _check_corpus(corpus: str, registry: str | None, params: dict) -> None:
    from mats_core.errors import MatsError
    from mats_core.registry.presets import resolved_params

    if not corpus.endswith((".jsonl", ".json")) and os.sep not in corpus:
        resolved_params("corpus", corpus, registry, **params)
    elif not Path(corpus).is_file():
        raise MatsError(f"--corpus {corpus}: no such file (a JSONL of {{text, instruction, answer, task}})")


def _train_config(options: dict, ov: dict):
    """TrainConfig and MapperConfig from the options and ``--set train.* / mapper.*``, errors as one line."""
    from pydantic import ValidationError

    from mats_core.errors import MatsError
    from mats_core.model.mapper import MapperConfig
    from mats_core.registry.hints import format_errors
    from mats_core.train.trainer import TrainConfig

    try:
        MapperConfig(**ov.get("mapper", {}))
    except ValidationError as exc:
        raise MatsError(format_errors(exc, "mapper.", MapperConfig.model_fields, noun="setting")) from None
    try:
        return TrainConfig(**{**options, **ov.get("train", {})})
    except ValidationError as exc:
        raise MatsError(format_errors(exc, "train.", TrainConfig.model_fields, noun="setting")) from None


def _default(value: str | None, key: str, registry: str | None) -> str:
    """An option's value, else the registry's ``defaults.<key>``."""
    from mats_core.errors import MatsError
    from mats_core.registry.presets import cli_defaults

    if value is not None:
        return value
    found = cli_defaults(registry).get(key)
    if found is None:
        flag = {"train_bridge": "bridge", "bridges": "bridge"}.get(key, key)
        raise MatsError(f"no --{flag} given and the registry has no defaults.{key}; pass --{flag}")
    return found


def _with_device(kind: str, name: str, registry: str | None, params: dict, device: str) -> dict:
    from mats_core.registry.presets import accepted_params

    # only a factory that takes `device` gets it (API v1.1); an explicit --set kind.device wins
    return {**accepted_params(kind, name, {"device": device}, registry), **params}


@app.command(context_settings={"token_normalize_func": _spelling})
def run(
    *,
    encoder: Optional[str] = typer.Option(
        None, help="Encoder preset (must match the checkpoint)." + DEFAULTS_HELP.format(key="encoder", shipped="tiny")
    ),
    bridge: Optional[str] = typer.Option(
        None,
        help="Bridge(s), comma-separated: one table row each."
        + DEFAULTS_HELP.format(key="bridges", shipped="none,noise,memory,santa"),
    ),
    llm: Optional[str] = typer.Option(
        None, help="LLM preset (must match the checkpoint)." + DEFAULTS_HELP.format(key="llm", shipped="tiny")
    ),
    checkpoint: Optional[str] = typer.Option(
        None,
        help="A checkpoint, or a set dir with clean/ noise/ audio/ (default: the shipped set for encoder+llm). Several sets, comma-separated (training seeds): mean ± std over them.",
    ),
    tasks: Optional[str] = typer.Option(
        None,
        "--tasks",
        "-t",
        help="Comma-separated task names; `--tasks list` prints the registered tasks and exits."
        + DEFAULTS_HELP.format(key="tasks", shipped="tiny-caption,tiny-classify,tiny-qa"),
    ),
    data_root: Optional[Path] = typer.Option(None, help="Root of dataset folders (for dataset tasks)."),
    output: Optional[Path] = typer.Option(
        None, "--output", "-o", help=OUTPUT_HELP
    ),  # --output_path, --out: cli_options._SPELLINGS
    limit: Optional[float] = typer.Option(
        None, min=0, help="At most N samples per task, or a fraction of each task's samples if below 1 (e.g. 0.1)."
    ),
    batch_size: Optional[str] = typer.Option(
        None,
        "--batch-size",
        "-b",
        help="Generation batch size (default 32), or 'auto': start at 64, halve on out-of-memory (--batch_size works too).",
    ),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    seed: Optional[int] = typer.Option(None, help="Evaluation seed (default 0)."),
    registry: Optional[Path] = typer.Option(None, help="Extra preset registry (YAML)."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace a previous run with a different config in --output."
    ),
    reference: bool = typer.Option(True, help="Add the CLAP zero-shot and MATS-Audio reference rows."),
    predict_only: bool = typer.Option(
        False, "--predict-only", help="Only generate; score later with `mats-bench score DIR`."
    ),
    suite: Optional[Path] = typer.Option(
        None,
        help="A suite YAML (benchmarks/suites/): its encoder, llm, bridges, tasks, run and decoding settings replace those options; --set still wins.",
    ),
    controls: Optional[str] = typer.Option(
        None,
        help="No-audio control rows (noise checkpoint and bridge, audio replaced): silence, shuffled, or none. Default: silence,shuffled, none with --no-reference.",
    ),
    reference_row: str = typer.Option(
        "noise", help="Row that every other row is compared with (paired bootstrap difference and p-value)."
    ),
    resamples: Optional[int] = typer.Option(
        None, min=0, help="Bootstrap resamples of the 95% intervals (default 1000; 0: none)."
    ),
    audio_lm: Optional[str] = typer.Option(
        None,
        "--audio-lm",
        help="Audio-supervised audio LM(s), comma-separated (e.g. qwen2-audio): one table row each, beside the MATS rows; --set audio_lm.model=DIR loads a local copy.",
    ),
    log_samples: bool = typer.Option(
        False,
        "--log-samples",
        help="Accepted for lm-evaluation-harness habits (--log_samples too); a no-op: every sample is always logged to <output>/<row>/samples.jsonl.",
    ),
) -> None:
    """Evaluate bridges on tasks and print the comparison table (the main job).

    Scale out: `accelerate launch --multi_gpu --num_processes N -m mats_core.cli run ...` (CPU-only
    machines too; accelerate's --cpu flag starts a single process). Each process generates a shard;
    rank 0 merges them into the same samples.jsonl and results.json as a single-process run.
    """
    opts = dict(locals())  # every option, by name
    from mats_core.errors import MatsError

    if tasks is not None and tasks.strip() == "list":
        from mats_core.registry.catalog import task_names

        typer.echo("\n".join(task_names(str(registry) if registry else None)))
        return
    try:
        from mats_core.run.controls import parse_controls

        stats = {
            "controls": None if controls is None else parse_controls(controls),
            "reference_row": reference_row,
            "resamples": resamples,
        }
        _run({**opts, "limit": _limit(limit), "reference": reference and not predict_only, "stats": stats})
    except (MatsError, OSError) as exc:  # an I/O failure (full disk, read-only) too: one error line
        _fail(exc)


def _run(opts: dict) -> None:
    (
        encoder,
        bridge,
        llm,
        checkpoint,
        tasks,
        data_root,
        output,
        limit,
        batch_size,
        device,
        seed,
        registry,
        set_,
        overwrite,
        reference,
        predict_only,
        suite,
        stats,
    ) = (
        opts[k]
        for k in "encoder bridge llm checkpoint tasks data_root output limit batch_size device seed registry set_ overwrite reference predict_only suite stats".split()
    )
    from mats_core.bench.runner import run_comparison
    from mats_core.config.validation import check_kinds
    from mats_core.run.distributed import Shards

    batch_size = None if batch_size is None else _batch_size(str(batch_size))
    audio_lms = [a.strip() for a in (opts.get("audio_lm") or "").split(",") if a.strip()]
    ov = parse_sets(set_)
    check_kinds(ov, "run")
    reg = str(registry) if registry else None
    encoder, llm, bridge, tasks = (
        _default(v, k, reg) for v, k in ((encoder, "encoder"), (llm, "llm"), (bridge, "bridges"), (tasks, "tasks"))
    )
    if suite is not None:
        from mats_core.config.suites import suite_options

        given = {k: v for k, v in (("limit", limit), ("batch_size", batch_size), ("seed", seed)) if v is not None}
        ov["run"] = {**given, **ov.get("run", {})}  # the command line beats the suite; --set beats both
        s = suite_options(suite, str(registry) if registry else None, ov)
        encoder, llm, bridge, tasks, registry, ov, reference = (
            s.encoder,
            s.llm,
            s.bridge,
            s.tasks,
            s.registry,
            s.overrides,
            reference and s.reference,
        )
        audio_lms = audio_lms or s.audio_lms
    explicit = output is not None
    if not explicit:
        from mats_core.bench.rundir import default_output

        output = default_output(
            {
                "encoder": encoder,
                "llm": llm,
                "bridge": bridge,
                "tasks": tasks,
                "limit": limit,
                "seed": seed,
                "checkpoint": str(Path(checkpoint).resolve()) if checkpoint else None,
                "predict_only": predict_only,
                "data_root": str(data_root) if data_root else None,
                "reference": reference,
                "sets": ov,
                "registry": str(registry) if registry else None,
                **({"audio_lms": audio_lms} if audio_lms else {}),
            }
        )
    from mats_core.process.output_dir import check_output, output_lock
    from mats_core.process.quiet import quiet
    from mats_core.run.resume_note import resume_note, snapshot

    before = snapshot(output)  # what a rerun reuses: said under the table
    with (
        quiet(check_output(output), enabled=Shards.from_env().is_main),
        output_lock(output, enabled=Shards.from_env().is_main),
    ):  # Java's chatter -> log
        rows, kinds, headline = run_comparison(
            encoder=encoder,
            llm=llm,
            bridges=[b.strip() for b in bridge.split(",") if b.strip()],
            tasks=[t.strip() for t in tasks.split(",") if t.strip()],
            checkpoint=_checkpoints(checkpoint),
            data_root=data_root,
            output=output,
            run_params={
                "limit": limit,
                "batch_size": batch_size,
                "seed": seed,
                "device": device,
                "predict_only": predict_only,
                "resamples": (stats or {}).get("resamples"),
                **ov.get("run", {}),
                "decoding": ov.get("decoding", {}),
            },
            overrides=ov,
            registry=str(registry) if registry else None,
            overwrite=overwrite,
            reference=reference,
            audio_lms=audio_lms,
            **{k: v for k, v in (stats or {}).items() if k != "resamples"},
        )
    if not Shards.from_env().is_main:
        return  # one table per sharded run
    if not explicit:
        from mats_core.bench.rundir import point_latest

        point_latest(output)
    from mats_core.bench.rundir import run_footer
    from mats_core.bench.runner import comparison_table
    from mats_core.run.oracle import oracle_label, oracle_settings

    oracle = oracle_label(oracle_settings(ov.get("run", {})))  # the diagnosis-only coverage dial says so in the title
    _console().print(
        comparison_table(
            f"mats-bench run · encoder {encoder} · llm {llm}" + (f" · {oracle}" if oracle else ""), output, rows, kinds
        )
    )
    _console().print(run_footer(output, rows, kinds), highlight=False, markup=False)
    note = resume_note(before, output)
    if note:
        _console().print(note, highlight=False, markup=False, soft_wrap=True)


def _load_command_plugins() -> None:
    """Let plugins add sub-commands (e.g. ``mats-bench tiny build``); a failing one is skipped."""
    if os.environ.get("MATS_NO_PLUGIN_COMMANDS"):
        return
    from mats_core.registry.plugins import get_host

    host = get_host()
    for impl in host.pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=app)
        except Exception as exc:  # noqa: BLE001
            print(f"mats-bench: plugin '{impl.plugin_name}' failed to add commands: {exc}", file=sys.stderr)


from mats_core.cli import plugins as cli_plugins  # noqa: E402,F401  (plugins registers on `app`)
from mats_core.cli import regime as cli_regime  # noqa: E402,F401  (regime registers on `app`)
from mats_core.cli import tools as cli_tools  # noqa: E402,F401  (score, report, sweep, gap register on `app`)

_load_command_plugins()

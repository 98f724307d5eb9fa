"""``mats-bench train``: train the mapper (+ LoRA) on text only. Options are :class:`TrainOptions`; the
training settings' defaults live once, in :class:`mats_core.config.train_config.TrainConfig`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, List, Optional

import typer
from pydantic import BaseModel, ConfigDict

from mats_core.cli.app import DEFAULTS_HELP, SET_HELP, _console, _fail, app

Opt = typer.Option
TRAIN_DEFAULT = " Default: train.{key} of TrainConfig ({value})."  # the one place of the training defaults


def _default_help(key: str) -> str:
    from mats_core.config.train_config import TrainConfig  # pydantic only: --help stays instant

    return TRAIN_DEFAULT.format(key=key, value=TrainConfig.model_fields[key].default)


class TrainOptions(BaseModel):
    """``mats-bench train``'s options, one field per option (``None``: not given)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    encoder: str | None
    llm: str | None
    bridge: str | None
    corpus: str | None
    output: Path
    steps: int | None
    batch_size: int | None
    lr: float | None
    seed: int | None
    device: str | None
    supervision: str | None
    resume: bool
    overwrite: bool
    registry: Path | None
    set_: list[str]
    gap_task: str | None
    report_to: str | None
    data_root: Path | None


EncoderOption = Annotated[
    Optional[str], Opt(help="Encoder preset or plugin name." + DEFAULTS_HELP.format(key="encoder", shipped="tiny"))
]
LlmOption = Annotated[
    Optional[str], Opt(help="LLM preset or plugin name." + DEFAULTS_HELP.format(key="llm", shipped="tiny"))
]
BridgeOption = Annotated[
    Optional[str],
    Opt(
        help="Training-time bridge (noise = MATS; none = clean)."
        + DEFAULTS_HELP.format(key="train_bridge", shipped="noise")
    ),
]
CorpusOption = Annotated[
    Optional[str],
    Opt(
        help="Corpus name, or a JSONL file of {text, instruction, answer, task}."
        + DEFAULTS_HELP.format(key="corpus", shipped="tiny")
    ),
]
OutputOption = Annotated[Path, Opt(help="Checkpoint directory.")]
StepsOption = Annotated[
    Optional[int], Opt(min=1, help="Optimiser steps (one batch of texts each)." + _default_help("steps"))
]
BatchSizeOption = Annotated[
    Optional[int],
    Opt("--batch-size", "-b", "--batch_size", min=1, help="Texts per training step." + _default_help("batch_size")),
]
LrOption = Annotated[
    Optional[float], Opt(min=0, help="Learning rate of the mapper and LoRA (AdamW)." + _default_help("lr"))
]
SeedOption = Annotated[
    Optional[int],
    Opt(help="Seed of the initialisation, the training noise and the text order." + _default_help("seed")),
]
DeviceOption = Annotated[Optional[str], Opt(help="auto | cpu | cuda." + _default_help("device"))]
SupervisionOption = Annotated[
    Optional[str],
    Opt(help="text (MATS) | audio (MATS-Audio reference; needs a paired corpus)." + _default_help("supervision")),
]
ResumeOption = Annotated[bool, Opt(help="Continue an interrupted run in --output exactly (same settings only).")]
OverwriteOption = Annotated[bool, Opt(help="Replace a checkpoint already in --output.")]
RegistryOption = Annotated[Optional[Path], Opt(help="Extra preset registry (YAML).")]
SetOption = Annotated[List[str], Opt("--set", help=SET_HELP)]
GapTaskOption = Annotated[
    Optional[str],
    Opt(
        help="Paired task measured for --set bridge.noise_variance=auto (its gap variance E||a-t||^2/dim); task params via --set task.*, e.g. task.split=val."
    ),
]
ReportToOption = Annotated[
    Optional[str],
    Opt(
        "--report-to",
        "--report_to",
        help="Experiment trackers, comma-separated: tensorboard, wandb (offline), mlflow (file store), all under --output.",
    ),
]
DataRootOption = Annotated[
    Optional[Path],
    Opt(
        help="Folder of the datasets, for a corpus read from official files (e.g. --corpus audiocaps: DIR/audiocaps/train.csv)."
    ),
]


@app.command()
def train(
    ctx: typer.Context,
    *,
    encoder: EncoderOption = None,
    llm: LlmOption = None,
    bridge: BridgeOption = None,
    corpus: CorpusOption = None,
    output: OutputOption = Path("runs/checkpoint"),
    steps: StepsOption = None,
    batch_size: BatchSizeOption = None,
    lr: LrOption = None,
    seed: SeedOption = None,
    device: DeviceOption = None,
    supervision: SupervisionOption = None,
    resume: ResumeOption = False,
    overwrite: OverwriteOption = False,
    registry: RegistryOption = None,
    set_: SetOption = [],  # noqa: B006 - typer's default for a repeatable option, never mutated
    gap_task: GapTaskOption = None,
    report_to: ReportToOption = None,
    data_root: DataRootOption = None,
) -> None:
    """Train the mapper (+ LoRA) on text only and save a checkpoint."""
    from mats_core.errors import MatsError

    try:
        _train(TrainOptions.model_validate(ctx.params))
    except (MatsError, OSError) as exc:  # an I/O failure (full disk, read-only) too: one error line
        _fail(exc)


@dataclass(frozen=True, kw_only=True)
class TrainPlan:
    """A training, resolved and checked before any model loads."""

    options: TrainOptions
    registry: str | None
    overrides: dict[str, Any]
    config: Any  # TrainConfig
    spec: dict[str, Any]  # what the checkpoint records: names and params of every part


def _train(options: TrainOptions) -> None:
    from mats_core.bench.tracking import parse_report_to
    from mats_core.model.checkpoints import check_fresh

    check_fresh(options.output, options.resume, options.overwrite)  # before anything loads
    trackers = parse_report_to(options.report_to)
    plan = _plan(options)
    _console().print(f"[bold]train[/] {json.dumps(plan.spec, default=str)}", highlight=False)
    out = _fit(plan, trackers)
    if out is not None:
        _console().print(f"checkpoint written to [bold]{out}[/]")


def _plan(options: TrainOptions) -> TrainPlan:
    """Every name, param and setting resolved (registry defaults < options < --set) and checked."""
    from mats_core.config.overrides import parse_sets
    from mats_core.config.run_spec import registry_default
    from mats_core.config.validation import check_device, check_kinds
    from mats_core.corpus import corpus_data_root
    from mats_core.registry.presets import resolved_params

    ov = parse_sets(options.set_)
    check_kinds(ov, "train")
    reg = str(options.registry) if options.registry else None
    encoder, llm = registry_default(options.encoder, "encoder", reg), registry_default(options.llm, "llm", reg)
    bridge = registry_default(options.bridge, "train_bridge", reg)
    corpus = registry_default(options.corpus, "corpus", reg)
    if options.data_root is not None:  # a corpus read from its official files (mats_datasets: audiocaps, clotho, ...)
        ov["corpus"] = {**corpus_data_root(corpus, reg, options.data_root), **ov.get("corpus", {})}
    cfg = _train_config(options, ov)
    check_device(cfg.device)
    enc_params = _with_device("encoder", encoder, reg, ov.get("encoder", {}), cfg.device)
    auto = _auto_noise(ov, encoder, enc_params, reg, options.gap_task)
    llm_params = _with_device("llm", llm, reg, ov.get("llm", {}), cfg.device)
    resolved_params("llm", llm, reg, **llm_params)  # every name and param checked before a model loads
    _check_corpus(corpus, reg, ov.get("corpus", {}))
    spec = {
        "encoder": {"name": encoder, "params": enc_params},
        "llm": {"name": llm, "params": llm_params},
        "bridge": {"name": bridge, **resolved_params("bridge", bridge, reg, **ov.get("bridge", {}))},
        "corpus": {"name": corpus, "params": ov.get("corpus", {})},
        "supervision": cfg.supervision,
        **({"noise_variance_auto": auto} if auto else {}),
    }
    return TrainPlan(options=options, registry=reg, overrides=ov, config=cfg, spec=spec)


def _fit(plan: TrainPlan, trackers: list) -> Path | None:
    """Build the parts, train in the output directory (held by this process); the checkpoint (rank 0)."""
    import torch

    from mats_core.bench.tracking import Trackers, training_logger
    from mats_core.corpus import load_corpus
    from mats_core.process.output_dir import check_output, output_lock
    from mats_core.process.quiet import quiet
    from mats_core.registry.presets import build
    from mats_core.run.distributed import Shards
    from mats_core.train.batch import check_batch_size
    from mats_core.train.trainer import train as run_train

    spec, ov, reg, output = plan.spec, plan.overrides, plan.registry, plan.options.output
    _, records = load_corpus(spec["corpus"]["name"], reg, **ov.get("corpus", {}))
    check_batch_size(plan.config.batch_size, len(records))  # before any model loads
    torch.manual_seed(plan.config.seed)  # peft initialises LoRA A from the global RNG while the LLM is built
    enc = build("encoder", spec["encoder"]["name"], reg, **spec["encoder"]["params"])
    lm = build("llm", spec["llm"]["name"], reg, **spec["llm"]["params"])
    br = build("bridge", spec["bridge"]["name"], reg, **ov.get("bridge", {}))
    main = Shards.from_env().is_main
    config = {**spec, "train": plan.config.model_dump(), "mapper": ov.get("mapper") or {}}
    with quiet(check_output(output), enabled=main), output_lock(output, enabled=main):  # noise -> log
        with Trackers(trackers if main else [], output=output, name=output.name, kind="train", config=config) as tr:
            out = run_train(
                enc,
                lm,
                br,
                records,
                output,
                plan.config,
                mapper=ov.get("mapper"),
                spec=spec,
                resume=plan.options.resume,
                overwrite=plan.options.overwrite,
                on_log=training_logger(tr) if tr.writers else None,
            )
    return out if main else None


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


def _train_config(options: TrainOptions, ov: dict):
    """TrainConfig and MapperConfig from the options and ``--set train.* / mapper.*``, errors as one line."""
    from pydantic import ValidationError

    from mats_core.config.train_config import TrainConfig
    from mats_core.errors import MatsError
    from mats_core.model.mapper import MapperConfig
    from mats_core.registry.hints import format_errors

    try:
        MapperConfig(**ov.get("mapper", {}))
    except ValidationError as exc:
        raise MatsError(format_errors(exc, "mapper.", MapperConfig.model_fields, noun="setting")) from None
    given = options.model_dump(
        include={"steps", "batch_size", "lr", "seed", "device", "supervision"}, exclude_none=True
    )
    try:
        return TrainConfig(**{**given, **ov.get("train", {})})  # --set train.* wins
    except ValidationError as exc:
        raise MatsError(format_errors(exc, "train.", TrainConfig.model_fields, noun="setting")) from None


def _with_device(kind: str, name: str, registry: str | None, params: dict, device: str) -> dict:
    from mats_core.registry.presets import accepted_params

    # only a factory that takes `device` gets it (API v1.1); an explicit --set kind.device wins
    return {**accepted_params(kind, name, {"device": device}, registry), **params}

"""The run spec: what one ``mats-bench run`` asks for, resolved once.

:class:`RunOptions` is the command line as typed (``None``: not given). :func:`resolve_run_spec` turns it
into a :class:`RunSpec` by one rule, later wins: the registry's ``defaults:``, then a suite, then the
command line, then ``--set``. Every name and value is checked there, before a model loads; the runner
takes the spec and nothing else re-reads the options.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from mats_core.config.overrides import parse_sets
from mats_core.config.validation import check_kinds
from mats_core.errors import MatsError

CONTROLS = ("silence", "shuffled")  # the no-audio control rows (mats_core.run.controls builds them)


class RunOptions(BaseModel):
    """``mats-bench run``'s options, one field per option (its defaults are the command line's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    encoder: str | None
    bridge: str | None
    llm: str | None
    checkpoint: str | None
    tasks: str | None
    data_root: Path | None
    output: Path | None
    limit: float | None
    batch_size: str | None
    device: str
    seed: int | None
    registry: Path | None
    set_: list[str]
    overwrite: bool
    reference: bool
    predict_only: bool
    suite: Path | None
    controls: str | None
    reference_row: str
    resamples: int | None
    audio_lm: str | None
    log_samples: bool  # lm-evaluation-harness's habit; every sample is always logged


class RunSpec(BaseModel):
    """One run, resolved: what :func:`mats_core.bench.runner.run_comparison` takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    encoder: str
    llm: str
    bridges: list[str]
    tasks: list[str]
    checkpoint: Path | list[Path] | None  # several: checkpoint sets (training seeds), mean ± std over them
    data_root: Path | None
    output: Path | None  # None: runs/<key>/, <key> a hash of ``identity``
    run_params: dict[str, Any]  # RunConfig's settings and ``decoding``
    overrides: dict[str, Any]  # --set (and a suite's settings) by kind
    registry: str | None
    overwrite: bool
    reference: bool  # the CLAP zero-shot and MATS-Audio reference rows
    predict_only: bool
    controls: list[str] | None  # None: the default controls
    reference_row: str
    audio_lms: list[str]
    identity: dict[str, Any]  # the options that change the results: they name the default run directory


@dataclass(frozen=True, kw_only=True)
class _Named:
    """What a run names: its models, bridges, tasks, registry and overrides (after defaults and a suite)."""

    encoder: str
    llm: str
    bridge: str  # comma-separated, as --bridge
    tasks: str  # comma-separated, as --tasks
    registry: str | None
    overrides: dict[str, Any]
    reference: bool
    audio_lms: list[str]


def resolve_run_spec(options: RunOptions) -> RunSpec:
    """The spec of ``options``: registry defaults < suite < command line < ``--set``, every value checked."""
    controls = None if options.controls is None else parse_controls(options.controls)
    limit = parse_limit(options.limit)
    batch_size = None if options.batch_size is None else parse_batch_size(str(options.batch_size))
    named = _named(options, limit=limit, batch_size=batch_size)
    ov = named.overrides
    return RunSpec(
        encoder=named.encoder,
        llm=named.llm,
        bridges=split_names(named.bridge),
        tasks=split_names(named.tasks),
        checkpoint=parse_checkpoints(options.checkpoint),
        data_root=options.data_root,
        output=options.output,
        run_params={
            "limit": limit,
            "batch_size": batch_size,
            "seed": options.seed,
            "device": options.device,
            "predict_only": options.predict_only,
            "resamples": options.resamples,
            **ov.get("run", {}),
            "decoding": ov.get("decoding", {}),
        },
        overrides=ov,
        registry=named.registry,
        overwrite=options.overwrite,
        reference=named.reference,
        predict_only=options.predict_only,
        controls=controls,
        reference_row=options.reference_row,
        audio_lms=named.audio_lms,
        identity=_identity(options, named, limit=limit),
    )


def _named(options: RunOptions, *, limit: int | float | None, batch_size: int | str | None) -> _Named:
    """The registry's defaults where an option is left out; a suite's names and settings over them."""
    ov = parse_sets(options.set_)
    check_kinds(ov, "run")
    registry = str(options.registry) if options.registry else None
    named = _Named(
        encoder=registry_default(options.encoder, "encoder", registry),
        llm=registry_default(options.llm, "llm", registry),
        bridge=registry_default(options.bridge, "bridges", registry),
        tasks=registry_default(options.tasks, "tasks", registry),
        registry=registry,
        overrides=ov,
        reference=options.reference and not options.predict_only,
        audio_lms=split_names(options.audio_lm or ""),
    )
    if options.suite is None:
        return named
    from mats_core.config.suites import suite_options

    given = {"limit": limit, "batch_size": batch_size, "seed": options.seed}
    ov["run"] = {**{k: v for k, v in given.items() if v is not None}, **ov.get("run", {})}  # --set beats both
    suite = suite_options(options.suite, registry, ov)
    return _Named(
        encoder=suite.encoder,
        llm=suite.llm,
        bridge=suite.bridge,
        tasks=suite.tasks,
        registry=suite.registry,
        overrides=suite.overrides,
        reference=named.reference and suite.reference,
        audio_lms=named.audio_lms or suite.audio_lms,
    )


def _identity(options: RunOptions, named: _Named, *, limit: int | float | None) -> dict[str, Any]:
    """The options that change a run's results: their hash names its default directory (runs/<key>/)."""
    return {
        "encoder": named.encoder,
        "llm": named.llm,
        "bridge": named.bridge,
        "tasks": named.tasks,
        "limit": limit,
        "seed": options.seed,
        "checkpoint": str(Path(options.checkpoint).resolve()) if options.checkpoint else None,
        "predict_only": options.predict_only,
        "data_root": str(options.data_root) if options.data_root else None,
        "reference": named.reference,
        "sets": named.overrides,
        "registry": named.registry,
        **({"audio_lms": named.audio_lms} if named.audio_lms else {}),
    }


def split_names(value: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: a comma list as every list option takes it."""
    return [v.strip() for v in value.split(",") if v.strip()]


def registry_default(value: str | None, key: str, registry: str | None) -> str:
    """An option's value, else the registry's ``defaults.<key>``."""
    from mats_core.registry.presets import cli_defaults

    if value is not None:
        return value
    found = cli_defaults(registry).get(key)
    if found is None:
        flag = {"train_bridge": "bridge", "bridges": "bridge"}.get(key, key)
        raise MatsError(f"no --{flag} given and the registry has no defaults.{key}; pass --{flag}")
    return found


def parse_controls(value: str) -> list[str]:
    """``--controls silence,shuffled`` / ``none`` -> the list of controls."""
    items = split_names(value)
    if items in ([], ["none"]):
        return []
    bad = [v for v in items if v not in CONTROLS]
    if bad:
        raise MatsError(
            f"--controls: unknown control {', '.join(bad)}; use a comma list of {', '.join(CONTROLS)}, or none"
        )
    return list(dict.fromkeys(items))


def parse_checkpoints(value: str | None) -> Path | list[Path] | None:
    """``--checkpoint A`` -> Path; ``--checkpoint A,B,C`` (training seeds) -> [Path, ...]."""
    if value is None:
        return None
    items = [Path(v) for v in split_names(str(value))]
    if not items:  # --checkpoint "": never the shipped set in silence
        raise MatsError(
            f"--checkpoint {value!r} names no checkpoint; leave it out for the shipped set, or give a directory"
        )
    return items if len(items) > 1 else items[0]


def parse_batch_size(value: str) -> int | str:
    """``--batch-size N`` (a positive count) or ``auto`` (halve on out-of-memory)."""
    if value.strip() == "auto":
        return "auto"
    try:
        size = int(value)
    except ValueError:
        size = 0
    if size < 1:
        raise MatsError(f"--batch-size must be a positive integer or 'auto', got {value!r}")
    return size


def parse_limit(value: float | None) -> int | float | None:
    """--limit N (samples per task) or a fraction below 1 (of each task's samples), as lm-eval takes it."""
    if value is None:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        raise MatsError(
            f"--limit must be a finite count or a fraction in (0, 1), got {value}; leave it out for every sample"
        )
    if value <= 0:
        raise MatsError(f"--limit must be a positive count or a fraction in (0, 1), got {value}")
    if value < 1:
        return value
    if value != int(value):
        raise MatsError(f"--limit {value}: a count must be a whole number (a fraction must be below 1)")
    return int(value)

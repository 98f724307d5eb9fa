"""What a run checks before any model loads or its output is touched: every name, param and
setting (with the closest name for a typo), Java for caption scoring, ``--reference-row``, and
each checkpoint set against the encoder + LLM asked for and against the runs already in the
row directories it would write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mats_core.bench.pairing import any_checkpoint, find_checkpoints, paired_checkpoint, set_output
from mats_core.errors import MatsError


@dataclass(frozen=True, kw_only=True)
class RunInputs:
    """A run's inputs once :func:`check_inputs` passed them: the same for every row of every set."""

    cfg: Any  # the RunConfig
    tasks: list[str]
    task_params: dict  # task name -> its params
    overrides: dict  # --set values by kind
    overwrite: bool
    registry: str | None


def check_java(kinds: dict[str, str]) -> None:
    """Caption scoring (PTB tokeniser, METEOR, SPICE) runs Java: fail up front without it."""
    import shutil

    caption = [t for t, k in kinds.items() if k == "caption"]
    if caption and shutil.which("java") is None:
        raise MatsError(
            f"task(s) {', '.join(caption)} score captions with Java (PTB tokeniser, METEOR, SPICE), and no `java` is on PATH: "
            "install a JRE (e.g. apt-get install default-jre-headless), or drop them from --tasks, or pass --predict-only"
        )


def check_inputs(
    encoder: str,
    llm: str,
    bridges: list[str],
    tasks: list[str],
    run_params: dict[str, Any],
    overrides: dict[str, dict],
    *,
    registry: str | None = None,
    data_root: Path | None = None,
) -> tuple[Any, dict]:
    """Every name, param and setting of a run, checked before a model loads or the output is
    touched: (RunConfig, task name -> its params)."""
    from pydantic import ValidationError

    from mats_core.config.validation import RunConfig, check_device, split_task_params
    from mats_core.registry.hints import format_errors
    from mats_core.registry.presets import resolve, resolved_params

    if not bridges:
        raise MatsError("--bridge is empty")
    check_lists(bridges, tasks)
    resolve("encoder", encoder, registry)  # typos fail fast, with the closest name
    resolve("llm", llm, registry)
    for b in bridges:
        many = (
            f" (--set bridge.* goes to every bridge of the run: {', '.join(bridges)}; pass --bridge to pick)"
            if len(bridges) > 1
            else ""
        )
        try:
            resolved_params("bridge", b, registry, **overrides.get("bridge", {}))
            check_run_time_params(b, overrides.get("bridge", {}), registry)
        except MatsError as exc:
            raise MatsError(f"{exc}{many}") from None
    shared = dict(overrides.get("task", {}), **({"data_root": str(data_root)} if data_root is not None else {}))
    task_params = {t: p for t, p in split_task_params(shared, tasks, registry, overrides.get("tasks")).items() if p}
    try:
        cfg = RunConfig(**{k: v for k, v in run_params.items() if v is not None})
    except ValidationError as exc:
        raise MatsError("run settings: " + format_errors(exc, "run.", RunConfig.model_fields, noun="setting")) from None
    check_device(cfg.device)
    return cfg, task_params


def check_run_time_params(bridge: str, params: dict[str, Any], registry: str | None) -> None:
    """A run-time bridge param that only training reads (the bridge's ``train_only``) would be
    recorded as the run's setting and change nothing: refused, pointing at ``train``."""
    from mats_core.capabilities import capability
    from mats_core.registry.presets import build

    if not params:
        return
    ignored = [k for k in capability(build("bridge", bridge, registry, **params), "train_only", ()) if k in params]
    if ignored:
        raise MatsError(
            f"bridge.{ignored[0]}: bridge '{bridge}' reads it only in training, so a run-time value would change "
            f"nothing; set it when training (`mats-bench train --set bridge.{ignored[0]}=...`): a run takes the "
            "checkpoint's value"
        )


def check_lists(bridges: list[str], tasks: list[str]) -> None:
    """No empty --tasks (an empty run is no result) and no name twice (two rows, one directory)."""
    if not tasks:
        raise MatsError("--tasks is empty: name at least one task (`mats-bench run --tasks list` prints them)")
    for flag, names in (("--bridge", bridges), ("--tasks", tasks)):
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise MatsError(f"{flag} names {', '.join(twice)} twice: each is one row and one directory; give it once")


def check_reference_row(reference_row: str, bridges: list[str], controls: list[str], reference: bool) -> None:
    """``--reference-row`` must name a row of this run, else every difference would be skipped in silence."""
    from mats_core.run.controls import LABELS

    rows = [*bridges, *(LABELS[c] for c in controls), *(["clap-zero-shot", "mats-audio"] if reference else [])]
    if reference_row not in rows:
        raise MatsError(f"--reference-row {reference_row!r} names no row of this run; its rows are {', '.join(rows)}")


def checked_sets(
    sets: list, encoder: str, llm: str, output: Path, *, bridges: list[str], single: bool, inputs: RunInputs
) -> list[dict]:
    """Every checkpoint set found, trained with ``encoder`` + ``llm``, and each row directory
    comparable with what it already holds: all from config.json files, before any model loads."""
    from mats_core.model.pipeline import read_checkpoint_config

    all_ckpts = [find_checkpoints(c, encoder, llm, inputs.registry) for c in sets]
    for i, ckpts in enumerate(all_ckpts):
        trained_with = read_checkpoint_config(any_checkpoint(ckpts))
        for kind, name in (("encoder", encoder), ("llm", llm)):
            trained = trained_with[kind]["name"]
            if trained != name:
                raise MatsError(
                    f"the checkpoint was trained with {kind} '{trained}', not '{name}': pass --{kind} {trained} or another --checkpoint"
                )
        where = set_output(output, i, len(sets))
        for b in bridges:
            ck = paired_checkpoint(ckpts, b, inputs.overrides.get("bridge", {}), inputs.registry)
            out = where if single else where / b
            precheck_output(out, ck, inputs.tasks, inputs.task_params, inputs.cfg, inputs.overwrite)
    return all_ckpts


def precheck_output(
    out: Path, checkpoint: Path, tasks: list[str], task_params: dict, cfg: Any, overwrite: bool
) -> None:
    """The parts of a run's config known before any model loads, against a run already in ``out``:
    a changed --limit, task or run setting is refused at once (the full check, with the bridge
    and the data, is the harness's once the models are loaded)."""
    from mats_core.config.validation import config_diff

    stamp = out / "run_config.json"
    if overwrite or not stamp.is_file():
        return
    try:
        held = json.loads(stamp.read_text()).get("config") or {}
    except (OSError, ValueError, AttributeError):
        return  # an unreadable stamp: the harness decides
    expected = {
        "checkpoint": str(checkpoint),
        "tasks": list(tasks),
        "task_params": dict(task_params),
        "run": cfg.recorded(),
    }
    changed = config_diff({k: held.get(k) for k in expected}, expected)
    if changed:
        raise MatsError(
            f"{out} holds a run with a different config: config differs: {'; '.join(changed[:8])}; "
            "use another --output or pass --overwrite to re-run it"
        )

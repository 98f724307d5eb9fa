"""The main job: one run per bridge (+ reference rows) and the comparison table.

As in the paper, a bridge that declares ``pairs_with = "clean"`` (the built-in ``none``) uses
a checkpoint trained on clean text and the other bridges a noise-trained one; the CLAP zero-shot classifier and MATS-Audio (trained on audio
embeddings) are reference rows. A checkpoint *set* is a directory with ``clean/``,
``noise/`` and ``audio/``; a single checkpoint is used for every bridge.

Under a multi-process launch (``accelerate launch --multi_gpu --num_processes N``) every process
runs this: each evaluation is sharded, and rank 0 alone shows progress, computes the zero-shot
reference row and writes the comparison.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mats_core.registry import MatsError, checkpoint_sets, resolve_path


def find_checkpoints(checkpoint: Path | None, encoder: str, llm: str, registry: str | None) -> dict[str, Path]:
    if checkpoint is None:
        sets = checkpoint_sets(registry)
        key = f"{encoder}+{llm}"
        if key not in sets:
            raise MatsError(
                f"no shipped checkpoints for encoder '{encoder}' + llm '{llm}' (known: {', '.join(sets) or 'none'}); "
                "train one with `mats-bench train` and pass --checkpoint DIR"
            )
        checkpoint = resolve_path(sets[key])
    checkpoint = Path(checkpoint)
    if (checkpoint / "config.json").exists():
        return {"clean": checkpoint, "noise": checkpoint}
    found = {k: checkpoint / k for k in ("clean", "noise", "audio") if (checkpoint / k / "config.json").exists()}
    if "noise" not in found and "clean" not in found:
        raise MatsError(f"{checkpoint}: neither a checkpoint (config.json) nor a set with clean/ and noise/ checkpoints")
    found.setdefault("clean", found.get("noise"))
    found.setdefault("noise", found.get("clean"))
    return found


def check_inputs(encoder: str, llm: str, bridges: list[str], tasks: list[str], run_params: dict[str, Any],
                 overrides: dict[str, dict], *, registry: str | None = None, data_root: Path | None = None) -> tuple[Any, dict]:
    """Every name, param and setting of a run, checked before a model loads or the output is
    touched: (RunConfig, task name -> its params)."""
    from pydantic import ValidationError

    from mats_core.registry import resolve, resolved_params
    from mats_core.validation import RunConfig, check_device, format_errors, split_task_params

    if not bridges:
        raise MatsError("--bridge is empty")
    resolve("encoder", encoder, registry)  # typos fail fast, with the closest name
    resolve("llm", llm, registry)
    for b in bridges:
        try:
            resolved_params("bridge", b, registry, **overrides.get("bridge", {}))
        except MatsError as exc:
            many = f" (--set bridge.* goes to every bridge of the run: {', '.join(bridges)}; pass --bridge to pick)" if len(bridges) > 1 else ""
            raise MatsError(f"{exc}{many}") from None
    shared = dict(overrides.get("task", {}), **({"data_root": str(data_root)} if data_root is not None else {}))
    task_params = {t: p for t, p in split_task_params(shared, tasks, registry, overrides.get("tasks")).items() if p}
    try:
        cfg = RunConfig(**{k: v for k, v in run_params.items() if v is not None})
    except ValidationError as exc:
        raise MatsError("run settings: " + format_errors(exc, "run.", RunConfig.model_fields, noun="setting")) from None
    check_device(cfg.device)
    return cfg, task_params


def paired_checkpoint(ckpts: dict[str, Path], bridge: str, params: dict, registry: str | None) -> Path:
    """The checkpoint of a clean/noise set that ``bridge`` runs with: its optional ``pairs_with``
    attribute (``"clean"`` or ``"noise"``, default ``"noise"``)."""
    from mats_core.capabilities import capability
    from mats_core.registry import accepted_params, build

    pairs = capability(build("bridge", bridge, registry, **accepted_params("bridge", bridge, params, registry)), "pairs_with", "noise")
    if pairs not in ("clean", "noise"):
        raise MatsError(f"bridge '{bridge}': pairs_with must be 'clean' or 'noise', got {pairs!r}")
    return ckpts[pairs]


def run_comparison(
    encoder: str,
    llm: str,
    bridges: list[str],
    tasks: list[str],
    checkpoint: Path | None,
    output: Path,
    run_params: dict[str, Any],
    overrides: dict[str, dict],
    registry: str | None = None,
    data_root: Path | None = None,
    overwrite: bool = False,
    reference: bool = True,
) -> tuple[list[tuple[str, dict]], dict[str, str], dict[str, list[str] | None]]:
    """``overrides``: ``--set`` values by kind (``task``: params for every task that takes them)
    and, from a suite, ``tasks``: task name -> params for that task alone. Every name, param and
    setting is checked before a model loads or the output is touched."""
    cfg, task_params = check_inputs(encoder, llm, bridges, tasks, run_params, overrides, registry=registry, data_root=data_root)
    from mats_core.distributed import Shards  # torch and the models only once everything checked out
    from mats_core.harness import Pipeline, evaluate, zero_shot
    from mats_core.model import read_checkpoint_config
    from mats_core.registry import build
    from mats_core.scoring import declarations

    main = Shards.from_env().is_main
    ckpts = find_checkpoints(checkpoint, encoder, llm, registry)
    trained_with = read_checkpoint_config(ckpts["noise"])  # config.json only: checked before the models load
    for kind, name in (("encoder", encoder), ("llm", llm)):
        trained = trained_with[kind]["name"]
        if trained != name:
            raise MatsError(f"the checkpoint was trained with {kind} '{trained}', not '{name}': pass --{kind} {trained} or another --checkpoint")
    single = len(bridges) == 1 and not reference
    for b in bridges:  # what can be compared with a run already in the output, before loading
        precheck_output(output if single else output / b, paired_checkpoint(ckpts, b, overrides.get("bridge", {}), registry), tasks, task_params, cfg, overwrite)
    pipe = Pipeline.from_checkpoint(ckpts["noise"], registry, cfg.device, overrides)
    built = {t: build("task", t, registry, **task_params.get(t, {})) for t in tasks}
    kinds = {t: task.kind for t, task in built.items()}
    headline = {t: declarations(task)["headline"] for t, task in built.items()}  # what tables show (the tasks' declarations)
    progress = _Progress(enabled=main)
    rows: list[tuple[str, dict]] = []
    with progress:
        for b in bridges:
            ck = paired_checkpoint(ckpts, b, overrides.get("bridge", {}), registry)
            out = output if single else output / b
            res = evaluate(pipe, ck, b, tasks, out, cfg, overrides.get("bridge", {}), overwrite, progress.update(b), task_params)
            audio_stats = (res.model_extra or {}).get("bridge_statistics") or {}
            rows.append((f"{b} (unpaired-audio stats)" if audio_stats.get("kind") == "unpaired-audio" else b, res.results))
        if reference:
            zs = {t: zero_shot(pipe, t, cfg, task_params.get(t, {})) for t in tasks if main and kinds[t] == "classification"}
            if zs:
                rows.append(("clap-zero-shot", zs))
            if "audio" in ckpts:
                res = evaluate(pipe, ckpts["audio"], "none", tasks, output / "mats-audio", cfg, {}, overwrite, progress.update("mats-audio"), task_params)
                rows.append(("mats-audio", res.results))
    if not single and main:
        from mats_core.report import as_markdown
        from mats_core.results import atomic_write_text

        atomic_write_text(output / "comparison.json", json.dumps({"rows": dict(rows), "kinds": kinds, "headline": headline}, indent=2))
        atomic_write_text(output / "comparison.md", as_markdown(rows, kinds, headline))
    return rows, kinds, headline


def precheck_output(out: Path, checkpoint: Path, tasks: list[str], task_params: dict, cfg: Any, overwrite: bool) -> None:
    """The parts of a run's config known before any model loads, against a run already in ``out``:
    a changed --limit, task or run setting is refused at once (the full check, with the bridge
    and the data, is the harness's once the models are loaded)."""
    from mats_core.validation import config_diff

    stamp = out / "run_config.json"
    if overwrite or not stamp.is_file():
        return
    try:
        held = json.loads(stamp.read_text()).get("config") or {}
    except (OSError, ValueError, AttributeError):
        return  # an unreadable stamp: the harness decides
    expected = {"checkpoint": str(checkpoint), "tasks": list(tasks), "task_params": dict(task_params),
                "run": cfg.recorded()}
    changed = config_diff({k: held.get(k) for k in expected}, expected)
    if changed:
        raise MatsError(f"{out} holds a run with a different config: config differs: {'; '.join(changed[:8])}; "
                        "use another --output or pass --overwrite to re-run it")


class _Progress:
    """One rich progress bar per (row, task); disabled on all but one process of a sharded run."""

    def __init__(self, enabled: bool = True):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TimeRemainingColumn(), disable=not enabled)
        self.ids: dict[str, Any] = {}

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def update(self, row: str):
        def cb(task: str, done: int, total: int) -> None:
            key = f"{row} · {task}"
            if key not in self.ids:
                self.ids[key] = self.progress.add_task(key, total=total)
            self.progress.update(self.ids[key], completed=done)

        return cb

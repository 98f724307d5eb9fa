"""The main job: one run per bridge (+ reference rows) and the comparison table.

As in the paper, bridge ``none`` uses a checkpoint trained on clean text and the other
bridges a noise-trained one; the CLAP zero-shot classifier and MATS-Audio (trained on audio
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
from mats_core.rundir import key_bridge_params, write_reference_row


def check_java(kinds: dict[str, str]) -> None:
    """Caption scoring (PTB tokeniser, METEOR, SPICE) runs Java: fail up front without it."""
    import shutil

    caption = [t for t, k in kinds.items() if k == "caption"]
    if caption and shutil.which("java") is None:
        raise MatsError(
            f"task(s) {', '.join(caption)} score captions with Java (PTB tokeniser, METEOR, SPICE), and no `java` is on PATH: "
            "install a JRE (e.g. apt-get install default-jre-headless), or drop them from --tasks, or pass --predict-only"
        )


def _short(path: Path) -> str:
    """A checkpoint as a user recognises it: its set and name (``mats/noise``), not a site-packages path."""
    path = Path(path)
    return f"{path.parent.name}/{path.name}"


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
) -> tuple[list[tuple[str, dict]], dict[str, str]]:
    from pydantic import ValidationError

    from mats_core.distributed import Shards
    from mats_core.harness import Pipeline, RunConfig, evaluate, zero_shot
    from mats_core.registry import accepted_params, build, resolve

    if not bridges:
        raise MatsError("--bridge is empty")
    for b in bridges:  # fail fast on typos, before loading any model
        resolve("bridge", b, registry)
    for t in tasks:
        resolve("task", t, registry)
    try:
        cfg = RunConfig(**{k: v for k, v in run_params.items() if v is not None})
    except ValidationError as exc:
        raise MatsError("run settings: " + "; ".join(f"{'.'.join(map(str, e['loc'][:1]))}: {e['msg']} (got {e.get('input')!r})" for e in exc.errors())) from None
    main = Shards.from_env().is_main
    task_params = dict(overrides.get("task", {}))
    if data_root is not None:
        task_params["data_root"] = str(data_root)
    kinds = {t: build("task", t, registry, **accepted_params("task", t, task_params, registry)).kind for t in tasks}
    if not cfg.predict_only:
        check_java(kinds)  # before any model loads or generates, not after all generation
    ckpts = find_checkpoints(checkpoint, encoder, llm, registry)
    pipe = Pipeline.from_checkpoint(ckpts["noise"], registry, cfg.device, overrides)
    for kind, name in (("encoder", encoder), ("llm", llm)):
        trained = pipe.spec[kind]["name"]
        if trained != name:
            raise MatsError(f"the checkpoint was trained with {kind} '{trained}', not '{name}': pass --{kind} {trained} or another --checkpoint")
    progress = _Progress(enabled=main, rows=len(bridges) + (("audio" in ckpts) if reference else 0), tasks=len(tasks))
    about: dict[str, dict] = {}
    rows: list[tuple[str, dict]] = []
    single = len(bridges) == 1 and not reference
    with progress:
        for b in bridges:
            ck = ckpts["clean"] if b == "none" else ckpts["noise"]
            out = output if single else output / b
            res = evaluate(pipe, ck, b, tasks, out, cfg, overrides.get("bridge", {}), overwrite, progress.update(b), task_params)
            rows.append((b, res.results))
            about[b] = {"checkpoint": _short(ck), "params": key_bridge_params(b, registry, overrides.get("bridge", {})),
                        "samples_count": res.samples_count}
        if reference:
            zs = {t: zero_shot(pipe, t, cfg, accepted_params("task", t, task_params, registry)) for t in tasks if main and kinds[t] == "classification"}
            if zs:
                rows.append(("clap-zero-shot", {t: {"accuracy_exact": v.get("accuracy"), "accuracy_embed": v.get("accuracy")} for t, v in zs.items()}))
                about["clap-zero-shot"] = {"what": f"encoder {encoder} alone: audio vs label-text cosine, no LLM"}
                write_reference_row(output / "clap-zero-shot", "clap-zero-shot", rows[-1][1], {"encoder": pipe.spec["encoder"], "tasks": list(zs), "run": cfg.model_dump(exclude={"device", "batch_size"})},
                                    cfg.seed, {t: v.get("n", 0) for t, v in zs.items()})
            if "audio" in ckpts:
                res = evaluate(pipe, ckpts["audio"], "none", tasks, output / "mats-audio", cfg, {}, overwrite, progress.update("mats-audio"), task_params)
                rows.append(("mats-audio", res.results))
                about["mats-audio"] = {"checkpoint": _short(ckpts["audio"]), "what": "trained on audio embeddings", "params": {}}
    if not single and main:
        from mats_core.report import as_markdown
        from mats_core.results import atomic_write_text

        atomic_write_text(output / "comparison.json", json.dumps({"rows": dict(rows), "kinds": kinds, "about": about, "limit": cfg.limit}, indent=2, default=str))
        atomic_write_text(output / "comparison.md", as_markdown(rows, kinds))
    return rows, kinds


class _Progress:
    """One rich progress bar per (row, task), under an overall line (row k of N, the task, the ETA
    of the whole run, counted in row-task units); disabled on all but one process of a sharded run."""

    def __init__(self, enabled: bool = True, rows: int = 1, tasks: int = 1):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        from mats_core.quiet import terminal

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TimeRemainingColumn(), disable=not enabled, console=Console(file=terminal()),
                                 redirect_stdout=False, redirect_stderr=False)  # third-party noise: mats_core.quiet
        self.ids: dict[str, Any] = {}
        self.rows, self.tasks = max(rows, 1), max(tasks, 1)
        self.order: list[str] = []  # rows in the order they started
        self.fraction: dict[str, float] = {}  # row-task -> share done
        self.overall = None

    def __enter__(self):
        self.progress.start()
        self.overall = self.progress.add_task("overall", total=self.rows * self.tasks)
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def update(self, row: str):
        if row not in self.order:
            self.order.append(row)
        k = self.order.index(row) + 1

        def cb(task: str, done: int, total: int) -> None:
            key = f"{row} · {task}"
            if key not in self.ids:
                self.ids[key] = self.progress.add_task(key, total=total)
            self.progress.update(self.ids[key], completed=done)
            self.fraction[key] = done / total if total else 1.0
            self.progress.update(self.overall, completed=sum(self.fraction.values()),
                                 description=f"overall: row {k}/{self.rows} {row} · {task}")

        return cb

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
from dataclasses import dataclass
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


def run_comparison(
    encoder: str,
    llm: str,
    bridges: list[str],
    tasks: list[str],
    checkpoint: Path | list[Path] | None,
    output: Path,
    run_params: dict[str, Any],
    overrides: dict[str, dict],
    registry: str | None = None,
    data_root: Path | None = None,
    overwrite: bool = False,
    reference: bool = True,
    controls: tuple[str, ...] | list[str] = ("silence", "shuffled"),
    reference_row: str = "noise",
) -> tuple[list[tuple[str, dict]], dict[str, str]]:
    """The main job; several checkpoint sets (training seeds) run one after another, each in
    ``output/ckpt<i>``, and comparison.json aggregates them (mean ± std, per-seed values)."""
    from mats_core.distributed import Shards
    from mats_core.harness import Pipeline
    from mats_core.registry import accepted_params, build

    cfg = _checked(bridges, tasks, run_params, registry)
    main = Shards.from_env().is_main
    sets = checkpoint if isinstance(checkpoint, list) else [checkpoint]
    all_ckpts = [find_checkpoints(c, encoder, llm, registry) for c in sets]  # every set checked before the first runs
    pipe = Pipeline.from_checkpoint(all_ckpts[0]["noise"], registry, cfg.device, overrides)
    for kind, name in (("encoder", encoder), ("llm", llm)):
        trained = pipe.spec[kind]["name"]
        if trained != name:
            raise MatsError(f"the checkpoint was trained with {kind} '{trained}', not '{name}': pass --{kind} {trained} or another --checkpoint")
    task_params = dict(overrides.get("task", {}))
    if data_root is not None:
        task_params["data_root"] = str(data_root)
    kinds = {t: build("task", t, registry, **accepted_params("task", t, task_params, registry)).kind for t in tasks}
    controls = list(controls) if reference else []
    single = len(bridges) == 1 and not reference and len(sets) == 1
    progress = _Progress(enabled=main)
    comps = []
    with progress:
        for i, ckpts in enumerate(all_ckpts):
            where = output if len(sets) == 1 else output / f"ckpt{i}"
            job = _Job(pipe, cfg, tasks, overrides, overwrite, task_params, registry, progress, main, kinds)
            rows = job.rows(ckpts, bridges, where, single, reference, controls)
            if not single and main:
                comps.append(_write_comparison(where, rows, kinds, reference_row, registry, pipe.encoder, cfg))
    if len(comps) > 1:
        from mats_core.compare import aggregate_seeds

        seeds = {**aggregate_seeds(comps), "k": len(comps), "checkpoints": [str(c) for c in sets]}
        doc = {**comps[0], "rows": {n: {t: {m: a["mean"] for m, a in ms.items()} for t, ms in ts.items()} for n, ts in seeds["aggregate"].items()},
               "seeds": seeds, "per_checkpoint": [str(output / f"ckpt{i}" / "comparison.json") for i in range(len(comps))]}
        _write_docs(output, doc)
    return [(r.name, r.results) for r in rows], kinds


def _checked(bridges: list[str], tasks: list[str], run_params: dict[str, Any], registry: str | None):
    """Fail fast on typos and bad run settings, before loading any model; the RunConfig."""
    from pydantic import ValidationError

    from mats_core.harness import RunConfig
    from mats_core.registry import resolve

    if not bridges:
        raise MatsError("--bridge is empty")
    for b in bridges:
        resolve("bridge", b, registry)
    for t in tasks:
        resolve("task", t, registry)
    try:
        return RunConfig(**{k: v for k, v in run_params.items() if v is not None})
    except ValidationError as exc:
        raise MatsError("run settings: " + "; ".join(f"{'.'.join(map(str, e['loc'][:1]))}: {e['msg']} (got {e.get('input')!r})" for e in exc.errors())) from None


@dataclass
class _Job:
    """One checkpoint set's rows: bridges, no-audio controls, CLAP zero-shot and MATS-Audio."""

    pipe: Any
    cfg: Any
    tasks: list[str]
    overrides: dict
    overwrite: bool
    task_params: dict
    registry: str | None
    progress: Any
    main: bool
    kinds: dict

    def run(self, ck: Path, bridge: str, out: Path, label: str, params: dict, cfg: Any = None):
        from mats_core.harness import evaluate

        return evaluate(self.pipe, ck, bridge, self.tasks, out, cfg or self.cfg, params, self.overwrite, self.progress.update(label), self.task_params)

    def rows(self, ckpts: dict[str, Path], bridges: list[str], output: Path, single: bool, reference: bool, controls: list[str]) -> list:
        from mats_core.compare import Row, load_row
        from mats_core.controls import LABELS
        from mats_core.harness import zero_shot
        from mats_core.registry import accepted_params

        rows = []
        for b in bridges:
            out = output if single else output / b
            self.run(ckpts["clean"] if b == "none" else ckpts["noise"], b, out, b, self.overrides.get("bridge", {}))
            rows.append(load_row(b, out, f"{ckpts['clean' if b == 'none' else 'noise']} · bridge {b}"))
        for c in controls:  # same checkpoint (noise) and prompt, bridge noise, audio replaced
            out = output / f"control-{c}"
            self.run(ckpts["noise"], "noise", out, LABELS[c], {}, self.cfg.model_copy(update={"control": c}))
            rows.append(load_row(LABELS[c], out, f"{ckpts['noise']} · bridge noise · audio: {c}"))
        if reference:
            tasks = [t for t in self.tasks if self.main and self.kinds[t] == "classification"]
            zs = {t: zero_shot(self.pipe, t, self.cfg, accepted_params("task", t, self.task_params, self.registry)) for t in tasks}
            if zs:
                n = {t: len(list(self._samples(t))) for t in zs}
                rows.append(Row("clap-zero-shot", {t: {"accuracy_exact": v.get("accuracy"), "accuracy_embed": v.get("accuracy")} for t, v in zs.items()},
                                samples=n, limit=self.cfg.limit, source="encoder: audio vs label-text cosine"))
            if "audio" in ckpts:
                self.run(ckpts["audio"], "none", output / "mats-audio", "mats-audio", {})
                rows.append(load_row("mats-audio", output / "mats-audio", f"{ckpts['audio']} · bridge none"))
        return rows

    def _samples(self, task: str):
        from mats_core.registry import accepted_params, build

        samples = list(build("task", task, self.registry, **accepted_params("task", task, self.task_params, self.registry)).samples())
        return samples[: self.cfg.limit] if self.cfg.limit else samples


def comparison_table(title: str, output: Path, rows: list[tuple[str, dict]], kinds: dict[str, str], own: bool = False):
    """The printed table of a run: from comparison.json, or (a single run into ``output``) from
    its results.json, with intervals and no differences."""
    from mats_core.compare import comparison, load_row
    from mats_core.tables import as_rich

    path = output / "comparison.json"
    if path.exists() and not own:
        doc = json.loads(path.read_text())
    else:
        from mats_core.results import read_results

        stats = (read_results(output / "results.json").model_extra or {}).get("stats") or {}
        doc = comparison([load_row(name, output) for name, _ in rows[:1]], kinds, resamples=0)
        doc["stats"].update(resamples=stats.get("resamples", 0))
    return as_rich(title, doc)


def _write_comparison(output: Path, rows: list, kinds: dict, reference: str, registry: str | None, encoder: Any, cfg: Any) -> dict:
    from mats_core.compare import comparison

    doc = comparison(rows, kinds, reference, registry, encoder, cfg.resamples, cfg.seed)
    _write_docs(output, doc)
    return doc


def _write_docs(output: Path, doc: dict) -> None:
    from mats_core.results import atomic_write_text
    from mats_core.tables import as_markdown

    atomic_write_text(output / "comparison.json", json.dumps(doc, indent=2))
    atomic_write_text(output / "comparison.md", as_markdown(doc, with_source=True))


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

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mats_core.bench.rundir import key_bridge_params, write_reference_row
from mats_core.errors import MatsError
from mats_core.registry.presets import checkpoint_sets, resolve_path
from mats_core.run.audio_lm import check_audio_lms


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
        raise MatsError(
            f"{checkpoint}: neither a checkpoint (config.json) nor a set with clean/ and noise/ checkpoints"
        )
    found.setdefault("clean", found.get("noise"))
    found.setdefault("noise", found.get("clean"))
    return found


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
        try:
            resolved_params("bridge", b, registry, **overrides.get("bridge", {}))
        except MatsError as exc:
            many = (
                f" (--set bridge.* goes to every bridge of the run: {', '.join(bridges)}; pass --bridge to pick)"
                if len(bridges) > 1
                else ""
            )
            raise MatsError(f"{exc}{many}") from None
    shared = dict(overrides.get("task", {}), **({"data_root": str(data_root)} if data_root is not None else {}))
    task_params = {t: p for t, p in split_task_params(shared, tasks, registry, overrides.get("tasks")).items() if p}
    try:
        cfg = RunConfig(**{k: v for k, v in run_params.items() if v is not None})
    except ValidationError as exc:
        raise MatsError("run settings: " + format_errors(exc, "run.", RunConfig.model_fields, noun="setting")) from None
    check_device(cfg.device)
    return cfg, task_params


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


def paired_checkpoint(ckpts: dict[str, Path], bridge: str, params: dict, registry: str | None) -> Path:
    """The checkpoint of a clean/noise set that ``bridge`` runs with: its optional ``pairs_with``
    attribute (``"clean"`` or ``"noise"``, default ``"noise"``)."""
    from mats_core.capabilities import capability
    from mats_core.registry.presets import accepted_params, build

    pairs = capability(
        build("bridge", bridge, registry, **accepted_params("bridge", bridge, params, registry)), "pairs_with", "noise"
    )
    if pairs not in ("clean", "noise"):
        raise MatsError(f"bridge '{bridge}': pairs_with must be 'clean' or 'noise', got {pairs!r}")
    return ckpts[pairs]


def run_comparison(
    encoder: str,
    llm: str,
    bridges: list[str],
    tasks: list[str],
    *,
    checkpoint: Path | list[Path] | None,
    output: Path,
    run_params: dict[str, Any],
    overrides: dict[str, dict],
    registry: str | None = None,
    data_root: Path | None = None,
    overwrite: bool = False,
    reference: bool = True,
    controls: tuple[str, ...] | list[str] | None = None,
    reference_row: str = "noise",
    audio_lms: list[str] | None = None,
) -> tuple[list[tuple[str, dict]], dict[str, str], dict[str, list[str] | None]]:
    """The main job. ``overrides``: ``--set`` values by kind (``task``: params for every task that
    takes them) and, from a suite, ``tasks``: task name -> params for that task alone. Every name,
    param and setting is checked before a model loads or the output is touched. Several checkpoint
    sets (training seeds) run one after another, each in ``output/ckpt<i>``, and comparison.json
    aggregates them (mean ± std, per-seed values). ``audio_lms``: a row each (``mats_core.run.audio_lm``)."""
    cfg, task_params = check_inputs(
        encoder, llm, bridges, tasks, run_params, overrides, registry=registry, data_root=data_root
    )
    audio_lms = check_audio_lms(audio_lms or [], registry, overrides.get("audio_lm"))
    from mats_core.registry.presets import build
    from mats_core.run.controls import CONTROLS
    from mats_core.run.distributed import Shards  # torch and the models only once everything checked out
    from mats_core.run.harness import Pipeline
    from mats_core.scoring import declarations

    main = Shards.from_env().is_main
    sets = checkpoint if isinstance(checkpoint, list) else [checkpoint]
    controls = list(controls) if controls is not None else (list(CONTROLS) if reference else [])  # asked for: always
    single = len(bridges) == 1 and not reference and not controls and len(sets) == 1 and not audio_lms
    if (
        not single and reference_row != "noise"
    ):  # asked for (the default noise, when absent, is noted in comparison.json)
        check_reference_row(reference_row, bridges, controls, reference)
    all_ckpts = _checked_sets(
        sets,
        encoder,
        llm,
        bridges,
        output,
        single=single,
        run=(tasks, task_params, cfg, overrides, overwrite),
        registry=registry,
    )
    built = {t: build("task", t, registry, **task_params.get(t, {})) for t in tasks}
    kinds = {t: task.kind for t, task in built.items()}
    headline = {
        t: declarations(task)["headline"] for t, task in built.items()
    }  # what tables show (the tasks' declarations)
    if not cfg.predict_only:
        check_java(kinds)  # before any model loads or generates, not after all generation
    pipe = Pipeline.from_checkpoint(all_ckpts[0]["noise"], registry, cfg.device, overrides)
    per_set = len(bridges) + len(controls) + (reference and "audio" in all_ckpts[0]) + len(audio_lms)
    progress = _Progress(enabled=main, rows=per_set * len(sets), tasks=len(tasks))
    comps = []
    with progress:
        for i, ckpts in enumerate(all_ckpts):
            where = output if len(sets) == 1 else output / f"ckpt{i}"
            job = _Job(pipe, cfg, tasks, overrides, overwrite, task_params, registry, progress, main, kinds)
            rows = job.rows(ckpts, bridges, where, single, reference, controls) + job.audio_lm_rows(audio_lms, where)
            if not single and main:
                comps.append(
                    _write_comparison(
                        where,
                        rows,
                        kinds,
                        reference_row,
                        registry=registry,
                        encoder=pipe.encoder,
                        cfg=cfg,
                        about=job.about,
                    )
                )
    if len(comps) > 1:
        _write_seeds(output, comps, sets)
    return [(r.name, r.results) for r in rows], kinds, headline


def _write_seeds(output: Path, comps: list[dict], sets: list) -> None:
    """comparison.json/.md over several checkpoint sets (training seeds): mean ± std, per-seed values."""
    from mats_core.report.compare import aggregate_seeds

    seeds = {**aggregate_seeds(comps), "k": len(comps), "checkpoints": [str(c) for c in sets]}
    doc = {
        **comps[0],
        "rows": {
            n: {t: {m: a["mean"] for m, a in ms.items()} for t, ms in ts.items()}
            for n, ts in seeds["aggregate"].items()
        },
        "seeds": seeds,
        "per_checkpoint": [str(output / f"ckpt{i}" / "comparison.json") for i in range(len(comps))],
    }
    _write_docs(output, doc)


def _checked_sets(
    sets: list,
    encoder: str,
    llm: str,
    bridges: list[str],
    output: Path,
    *,
    single: bool,
    run: tuple,
    registry: str | None,
) -> list[dict]:
    """Every checkpoint set found, trained with ``encoder`` + ``llm``, and each row directory
    comparable with what it already holds: all from config.json files, before any model loads."""
    from mats_core.model.pipeline import read_checkpoint_config

    tasks, task_params, cfg, overrides, overwrite = run
    all_ckpts = [find_checkpoints(c, encoder, llm, registry) for c in sets]
    for i, ckpts in enumerate(all_ckpts):
        trained_with = read_checkpoint_config(ckpts["noise"])
        for kind, name in (("encoder", encoder), ("llm", llm)):
            trained = trained_with[kind]["name"]
            if trained != name:
                raise MatsError(
                    f"the checkpoint was trained with {kind} '{trained}', not '{name}': pass --{kind} {trained} or another --checkpoint"
                )
        where = output if len(sets) == 1 else output / f"ckpt{i}"
        for b in bridges:
            ck = paired_checkpoint(ckpts, b, overrides.get("bridge", {}), registry)
            precheck_output(where if single else where / b, ck, tasks, task_params, cfg, overwrite)
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
    about: dict = field(default_factory=dict)  # row -> what it is (checkpoint, key params), for the table's footer

    def run(self, ck: Path, bridge: str, out: Path, label: str, params: dict, cfg: Any = None):
        from mats_core.run.harness import evaluate

        return evaluate(
            self.pipe,
            ck,
            bridge,
            self.tasks,
            out,
            cfg or self.cfg,
            bridge_params=params,
            overwrite=self.overwrite,
            on_progress=self.progress.update(label),
            task_params=self.task_params,
        )

    def audio_lm_rows(self, names: list[str], output: Path) -> list:
        """One row per audio-supervised model (``mats_core.run.audio_lm``), scored with the run's encoder."""
        from mats_core.report.compare import load_row
        from mats_core.run.audio_lm import ROW_PREFIX, evaluate_audio_lm, row_label

        rows = []
        for name in names if self.main else []:  # one process generates an audio LM's row
            out = output / f"{ROW_PREFIX}{name}"
            res = evaluate_audio_lm(
                name,
                self.tasks,
                out,
                self.cfg,
                registry=self.registry,
                params=self.overrides.get("audio_lm", {}),
                overwrite=self.overwrite,
                task_params=self.task_params,
                encoder=self.pipe.encoder,
                encoder_spec=self.pipe.spec["encoder"],
                on_progress=self.progress.update(name),
            )
            label = row_label(name, res.config["audio_lm"]["supervision"])
            rows.append(load_row(label, out, f"audio_lm {name}"))
            self.about[label] = {
                "what": f"audio_lm {name}: its own audio encoder and LLM, trained on audio (none of our encoder, bridge or mapper)"
            }
        return rows

    def rows(
        self,
        ckpts: dict[str, Path],
        bridges: list[str],
        output: Path,
        single: bool,
        reference: bool,
        controls: list[str],
    ) -> list:
        from mats_core.report.compare import Row, load_row
        from mats_core.run.controls import LABELS, control_dir
        from mats_core.run.reference_row import score_zero_shot

        rows = []
        for b in bridges:
            out = output if single else output / b
            ck = paired_checkpoint(ckpts, b, self.overrides.get("bridge", {}), self.registry)
            res = self.run(ck, b, out, b, self.overrides.get("bridge", {}))
            audio_stats = (res.model_extra or {}).get("bridge_statistics") or {}
            name = f"{b} (unpaired-audio stats)" if audio_stats.get("kind") == "unpaired-audio" else b
            rows.append(load_row(name, out, f"{_short(ck)} · bridge {b}"))
            self.about[name] = {
                "checkpoint": _short(ck),
                "params": key_bridge_params(b, self.registry, self.overrides.get("bridge", {})),
            }
        for c in controls:  # same checkpoint (noise) and prompt, bridge noise, audio replaced
            out = control_dir(output, c)
            self.run(ckpts["noise"], "noise", out, LABELS[c], {}, self.cfg.model_copy(update={"control": c}))
            rows.append(load_row(LABELS[c], out, f"{_short(ckpts['noise'])} · bridge noise · audio: {c}"))
            self.about[LABELS[c]] = {
                "checkpoint": _short(ckpts["noise"]),
                "what": f"no-audio control: {c}",
                "params": {},
            }
        if reference:
            tasks = [t for t in self.tasks if self.main and self.kinds[t] == "classification"]
            scored = {t: score_zero_shot(self.pipe, t, self.cfg, self.task_params.get(t, {})) for t in tasks}
            zs = {t: z.metrics for t, z in scored.items() if z is not None}
            if zs:
                n = {t: int(v.get("n") or 0) for t, v in zs.items()}  # the task's own count of what it scored
                rows.append(
                    Row(
                        "clap-zero-shot",
                        zs,
                        samples=n,
                        limit=self.cfg.limit,
                        source="encoder: audio vs label-text cosine",
                    )
                )
                self.about["clap-zero-shot"] = {"what": "the encoder alone: audio vs label-text cosine, no LLM"}
                write_reference_row(
                    output / "clap-zero-shot",
                    "clap-zero-shot",
                    zs,
                    {"encoder": self.pipe.spec["encoder"], "tasks": list(zs), "run": self.cfg.recorded()},
                    self.cfg.seed,
                    n,
                    scored=scored,
                    resamples=self.cfg.resamples,
                )
            if "audio" in ckpts:
                self.run(ckpts["audio"], "none", output / "mats-audio", "mats-audio", {})
                rows.append(load_row("mats-audio", output / "mats-audio", f"{_short(ckpts['audio'])} · bridge none"))
                self.about["mats-audio"] = {
                    "checkpoint": _short(ckpts["audio"]),
                    "what": "trained on audio embeddings",
                    "params": {},
                }
        return rows


def comparison_table(title: str, output: Path, rows: list[tuple[str, dict]], kinds: dict[str, str], own: bool = False):
    """The printed table of a run: from comparison.json, or (a single run into ``output``) from
    its results.json, with intervals and no differences."""
    from mats_core.report.compare import comparison, load_row
    from mats_core.report.tables import as_rich

    path = output / "comparison.json"
    if path.exists() and not own:
        doc = json.loads(path.read_text())
    else:
        from mats_core.run.results import read_results

        stats = (read_results(output / "results.json").model_extra or {}).get("stats") or {}
        doc = comparison([load_row(name, output) for name, _ in rows[:1]], kinds, resamples=0)
        doc["stats"].update(resamples=stats.get("resamples", 0))
    return as_rich(title, doc)


def _write_comparison(
    output: Path,
    rows: list,
    kinds: dict,
    reference: str,
    *,
    registry: str | None,
    encoder: Any,
    cfg: Any,
    about: dict | None = None,
) -> dict:
    from mats_core.report.compare import comparison

    doc = {
        **comparison(rows, kinds, reference, registry, encoder=encoder, resamples=cfg.resamples, seed=cfg.seed),
        "about": about or {},
    }
    _write_docs(output, doc)
    return doc


def _write_docs(output: Path, doc: dict) -> None:
    from mats_core.report.tables import as_markdown
    from mats_core.run.results import atomic_write_text

    atomic_write_text(output / "comparison.json", json.dumps(doc, indent=2))
    atomic_write_text(output / "comparison.md", as_markdown(doc, with_source=True))


class _Progress:
    """One rich progress bar per (row, task), under an overall line (row k of N, the task, the ETA
    of the whole run, counted in row-task units); disabled on all but one process of a sharded run."""

    def __init__(self, enabled: bool = True, rows: int = 1, tasks: int = 1):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from mats_core.process.quiet import terminal

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            disable=not enabled,
            console=Console(file=terminal()),
            redirect_stdout=False,
            redirect_stderr=False,
        )  # third-party noise: mats_core.process.quiet
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
            self.progress.update(
                self.overall,
                completed=sum(self.fraction.values()),
                description=f"overall: row {k}/{self.rows} {row} · {task}",
            )

        return cb

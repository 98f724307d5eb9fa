"""The main job: one run per bridge (+ reference rows) and the comparison table.

As in the paper, a bridge that declares ``pairs_with = "clean"`` (the built-in ``none``) uses
a checkpoint trained on clean text and the other bridges a noise-trained one; the CLAP zero-shot classifier and MATS-Audio (trained on audio
embeddings) are reference rows. A checkpoint *set* is a directory with ``clean/``,
``noise/`` and ``audio/``; a single checkpoint is used for every bridge.

Under a multi-process launch (``accelerate launch --multi_gpu --num_processes N``) every process
runs this: each evaluation is sharded, and rank 0 alone shows progress, computes the zero-shot
reference row and writes the comparison.

The parts live beside it: finding and pairing checkpoints (:mod:`~mats_core.bench.pairing`), the
checks before any model loads (:mod:`~mats_core.bench.prechecks`), the table's rows
(:mod:`~mats_core.bench.rows`), comparison.json/.md and the printed table
(:mod:`~mats_core.bench.comparison_files`) and the progress bars (:mod:`~mats_core.bench.progress`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mats_core.bench.comparison_files import comparison_table, write_comparison, write_seeds
from mats_core.bench.pairing import any_checkpoint, half, set_output
from mats_core.bench.prechecks import RunInputs, check_inputs, check_java, check_reference_row, checked_sets
from mats_core.bench.progress import RunProgress
from mats_core.bench.rows import RowPlan, SetRows
from mats_core.run.audio_lm import check_audio_lms

__all__ = ["run_comparison", "comparison_table"]  # comparison_table: where the CLI imports it from


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
    from mats_core.run.controls import CONTROLS
    from mats_core.run.distributed import Shards  # torch and the models only once everything checked out

    main = Shards.from_env().is_main
    sets = checkpoint if isinstance(checkpoint, list) else [checkpoint]
    controls = list(controls) if controls is not None else (list(CONTROLS) if reference else [])  # asked for: always
    single = len(bridges) == 1 and not reference and not controls and len(sets) == 1 and not audio_lms
    plan = RowPlan(bridges=bridges, controls=controls, reference=reference, audio_lms=audio_lms, single=single)
    # --reference-row asked for (the default noise, when absent, is noted in comparison.json)
    if not single and reference_row != "noise":
        check_reference_row(reference_row, bridges, controls, reference)
    inputs = RunInputs(
        cfg=cfg, tasks=tasks, task_params=task_params, overrides=overrides, overwrite=overwrite, registry=registry
    )
    all_ckpts = checked_sets(sets, encoder, llm, output, bridges=bridges, single=single, inputs=inputs)
    for ckpts in all_ckpts if controls else []:
        half(ckpts, "noise", "the no-audio controls (bridge noise)")
    kinds, headline = _declarations(tasks, task_params, registry)
    if not cfg.predict_only:
        check_java(kinds)  # before any model loads or generates, not after all generation
    rows, comps = _evaluate_sets(
        all_ckpts, output, inputs=inputs, plan=plan, kinds=kinds, main=main, reference_row=reference_row
    )
    if len(comps) > 1:
        write_seeds(output, comps, sets)
    return [(r.name, r.results) for r in rows], kinds, headline


def _declarations(tasks: list[str], task_params: dict, registry: str | None) -> tuple[dict, dict]:
    """What the tables show of each task, from its declarations: (task -> kind, task -> headline metrics)."""
    from mats_core.registry.presets import build
    from mats_core.scoring import declarations

    built = {t: build("task", t, registry, **task_params.get(t, {})) for t in tasks}
    kinds = {t: task.kind for t, task in built.items()}
    headline = {t: declarations(task)["headline"] for t, task in built.items()}
    return kinds, headline


def _evaluate_sets(
    all_ckpts: list[dict],
    output: Path,
    *,
    inputs: RunInputs,
    plan: RowPlan,
    kinds: dict,
    main: bool,
    reference_row: str,
) -> tuple[list, list[dict]]:
    """Every checkpoint set's rows, one set after another (one pipeline, loaded once), and on rank 0
    each set's comparison written: (the last set's rows, the comparisons)."""
    from mats_core.run.harness import Pipeline

    pipe = Pipeline.from_checkpoint(any_checkpoint(all_ckpts[0]), inputs.registry, inputs.cfg.device, inputs.overrides)
    progress = RunProgress(enabled=main, rows=plan.count(all_ckpts[0]) * len(all_ckpts), tasks=len(inputs.tasks))
    rows, comps = [], []
    with progress:
        for i, ckpts in enumerate(all_ckpts):
            where = set_output(output, i, len(all_ckpts))
            job = SetRows(pipe=pipe, inputs=inputs, plan=plan, progress=progress, main=main, kinds=kinds)
            rows = job.rows(ckpts, where)
            if not plan.single and main:
                comps.append(
                    write_comparison(
                        where,
                        rows,
                        kinds,
                        reference_row,
                        registry=inputs.registry,
                        encoder=pipe.encoder,
                        cfg=inputs.cfg,
                        about=job.about,
                    )
                )
    return rows, comps

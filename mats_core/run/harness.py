"""Evaluation: audio -> encoder -> bridge.infer -> mapper -> LLM -> text -> task.score -> results.

One ``evaluate`` call is one run directory (results.json + samples.jsonl). Samples already in
samples.jsonl are skipped, so a killed run resumes; a sample whose audio fails is recorded
with its error and the run goes on. Bridge noise is drawn per fixed block of samples (not per
generation batch) so results do not depend on ``batch_size`` nor on how many processes share
the run (see ``mats_core.run.distributed``). ``batch_size="auto"`` halves the generation batch on
out-of-memory; on CUDA, decoding defaults to a static KV cache where the model supports it.

Its parts, each in its own module of ``mats_core.run``: the frozen encoder and LLM (``pipeline``),
the run's bridge fitted on the memory bank (``fitted_bridge``), the config it records
(``run_record``), the guard on the directory (``config_guard``) and generating the rows
(``task_generation``). Here: selecting each task's samples, scoring the rows and results.json.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

from mats_core.capabilities import capability
from mats_core.config.validation import RunConfig  # the run's settings (defined without torch: checked before it loads)
from mats_core.model.generation import BatchSizer, generation_settings, resolve_decoding
from mats_core.registry.presets import accepted_params, build
from mats_core.run.bridge_stats import AudioStatistics
from mats_core.run.config_guard import guard_config
from mats_core.run.controls import apply_control
from mats_core.run.distributed import Shards, merge_shards, shard_files
from mats_core.run.fitted_bridge import FittedBridge, fit_bridge
from mats_core.run.pipeline import EMBED_CHUNK, Pipeline  # noqa: F401 - public here too (mats_core.run.harness.Pipeline)
from mats_core.run.results import (
    RunResults,
    SamplesWriter,
    collect_versions,
    data_fingerprint,
    fingerprint,
    read_results,
    write_results,
)
from mats_core.run.run_record import execution_record, run_config_record
from mats_core.run.task_generation import RunParts, generate_tasks
from mats_core.scoring import task_declarations
from mats_core.stats.intervals import describe, score_task


def limited(samples: list, limit: int | float | None) -> list:
    """The first ``limit`` samples, or the first ``ceil(limit * n)`` when ``limit`` is a fraction."""
    if not limit:
        return samples
    import math

    return samples[: limit if isinstance(limit, int) else max(1, math.ceil(round(limit * len(samples), 6)))]


def evaluate(
    pipe: Pipeline,
    checkpoint: str | Path,
    bridge_name: str,
    tasks: Sequence[str],
    output: str | Path,
    cfg: RunConfig,
    *,
    bridge_params: dict | None = None,
    overwrite: bool = False,
    on_progress: Callable[[str, int, int], None] | None = None,
    task_params: dict | None = None,
) -> RunResults:
    """One run directory. Under a multi-process launch every process calls this with the same
    arguments: each generates its shard, rank 0 merges, scores and writes results.json."""
    t_start = time.perf_counter()
    out = Path(output)
    shards = Shards.from_env()
    model, ckpt_cfg = pipe.load(checkpoint)
    fitted = fit_bridge(pipe, bridge_name, bridge_params, checkpoint_config=ckpt_cfg, cfg=cfg, shards=shards)
    task_objs, task_samples = _tasks(pipe, tasks, task_params=task_params, cfg=cfg)
    bank, oracle = _oracle_bank(pipe, fitted, task_objs=task_objs, task_samples=task_samples, cfg=cfg)
    audio_stats = AudioStatistics(pipe, fitted.bridge, cfg, pipe.registry)  # optional fit_audio capability (shift)
    audio_stats.before_run()
    tokens = {n: cfg.task_tokens.get(n) or capability(t, "task_token") for n, t in task_objs.items()}  # task capability
    config = run_config_record(
        checkpoint=checkpoint,
        pipe=pipe,
        fitted=fitted,
        bank=bank,
        tasks=tasks,
        task_params=task_params,
        cfg=cfg,
        checkpoint_config=ckpt_cfg,
        tokens=tokens,
        oracle=oracle,
    )
    data = {n: data_fingerprint(t, task_samples[n]) for n, t in task_objs.items()}
    guard_config(out, config, overwrite=overwrite, shards=shards, data=data)
    run = RunParts(
        pipe=pipe,
        model=model,
        bridge=fitted.bridge,
        cfg=cfg,
        shards=shards,
        out=out,
        writer=SamplesWriter(out / shards.samples_file()),
        timings={"memory_bank_seconds": fitted.seconds},
        sizer=BatchSizer(cfg.batch_size, pipe),
        decoding=generation_settings(pipe.llm, resolve_decoding(cfg.decoding)),
        on_progress=on_progress,
    )
    work = generate_tasks(run, task_samples, audio_stats=audio_stats, tokens=tokens)
    if shards.is_main:
        execution = execution_record(processes=shards.world, work=work, decoding=run.decoding, cfg=cfg)
        res = _finish(
            run, config, task_objs, task_samples, t_start, execution=execution, statistics=audio_stats.record()
        )
    shards.barrier()  # results.json is written
    return res if shards.is_main else read_results(out / "results.json")


def _tasks(pipe: Pipeline, tasks: Sequence[str], *, task_params: dict | None, cfg: RunConfig) -> tuple[dict, dict]:
    """The run's task objects and, by task, the samples it evaluates (``--limit``, then ``--control``)."""
    task_objs = {
        n: build("task", n, pipe.registry, **params_for_task(task_params, n, tasks, pipe.registry)) for n in tasks
    }
    task_samples = {n: limited(list(t.samples()), cfg.limit) for n, t in task_objs.items()}
    # a no-audio control (silence, shuffled) replaces each sample's audio: mats_core.run.controls
    task_samples = {n: apply_control(ss, cfg.control, pipe.encoder, cfg.seed, n) for n, ss in task_samples.items()}
    return task_objs, task_samples


def _oracle_bank(
    pipe: Pipeline, fitted: FittedBridge, *, task_objs: dict, task_samples: dict, cfg: RunConfig
) -> tuple[Any, dict | None]:
    """The bank and the oracle record: the fitted bank, or with test captions added when the
    oracle dial is on (DIAGNOSIS ONLY: ``mats_core.run.oracle``, which refits the bridge on it)."""
    if not (cfg.oracle_bank or cfg.oracle_paraphrase):
        return fitted.bank, None
    from mats_core.run.oracle import extend_bank

    return extend_bank(pipe, fitted.bridge, fitted.bank, task_objs, task_samples, cfg)


def _finish(
    run: RunParts,
    config: dict,
    task_objs: dict,
    task_samples: dict,
    t_start: float,
    *,
    execution: dict,
    statistics: dict | None = None,
) -> RunResults:
    """Merge the shards (if any), score every task and write results.json."""
    pipe, out, cfg, timings = run.pipe, run.out, run.cfg, run.timings
    rows_by_key = run.writer.records
    if shard_files(out):  # sharded now, or resuming a sharded run: one samples.jsonl in single-process order
        rows_by_key = merge_shards(out, [(n, str(s.id)) for n, ss in task_samples.items() for s in ss])
    results, notes, counts, errors, prints, kinds = {}, {}, {}, 0, {}, {}
    cis, stats = {}, describe(cfg.resamples, cfg.seed)
    for name, task in task_objs.items():
        samples = task_samples[name]
        t0 = time.perf_counter()
        prints[name] = fingerprint([name, capability(task, "fingerprint"), [s.id for s in samples]])
        rows = [rows_by_key[(name, str(s.id))] for s in samples]
        kinds[name] = task.kind
        if not cfg.predict_only:
            scored = score_task(task, name, rows, {"encoder": pipe.encoder}, resamples=cfg.resamples, seed=cfg.seed)
            results[name], cis[name], stats["no_ci"][name] = scored.metrics, scored.intervals, scored.no_ci
            if scored.notes is not None:
                notes[name] = scored.notes
            timings["intervals_seconds"] = timings.get("intervals_seconds", 0.0) + scored.interval_seconds
        counts[name] = len(rows)  # every sample has its row here: expected_count == samples_count
        errors += sum(1 for r in rows if r.get("error"))
        timings[f"{name}_seconds"] += time.perf_counter() - t0
    timings["total_seconds"] = time.perf_counter() - t_start
    res = RunResults(
        config=config,
        versions=collect_versions(),
        seed=cfg.seed,
        results=results,
        notes=notes,
        errors_count=errors,
        samples_count=counts,
        expected_count=dict(counts),
        fingerprints={"config": fingerprint(config), **{f"task:{k}": v for k, v in prints.items()}},
        timings={k: round(v, 3) for k, v in timings.items()},
        task_kinds=kinds,
        **task_declarations(task_objs),  # what tables show, which way is better
        execution=execution,  # how it ran; not in the config, since a resume may run otherwise with the same results
        bridge_statistics=statistics,  # text-only or unpaired-audio (mats_core.run.bridge_stats)
        intervals=cis,
        stats=stats,
    )
    write_results(out / "results.json", res)
    return res


def params_for_task(task_params: dict | None, name: str, tasks: Sequence[str], registry: str | None) -> dict:
    """A task's params: ``task_params`` maps task name -> its params (runner, suites), or is one
    flat set (older callers and run_config.json files) of which each task takes what it accepts."""
    given = dict(task_params or {})
    if given and all(k in tasks and isinstance(v, dict) for k, v in given.items()):
        return dict(given.get(name, {}))
    return accepted_params("task", name, given, registry)

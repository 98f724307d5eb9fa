"""``mats-bench score``: score a run's samples.jsonl again without generating (the infer/score split)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mats_core.config.validation import check_resamples
from mats_core.errors import MatsError
from mats_core.registry.presets import build
from mats_core.run.harness import limited, params_for_task
from mats_core.run.results import RunResults, collect_versions, fingerprint, read_results, read_samples, write_results
from mats_core.scoring import task_declarations
from mats_core.stats.intervals import DEFAULT_RESAMPLES, describe, score_task


def rescore(
    run_dir: str | Path, registry: str | None = None, with_encoder: bool = True, resamples: int | None = None
) -> RunResults:
    """Score an existing samples.jsonl again without regenerating (the infer/score split). Rows
    are read as a resume reads them (``results.scan_samples``); fewer rows than the run's
    samples (a killed run) mark the results ``partial``, with the expected and found counts."""
    run_dir = Path(run_dir)
    config = _stamped_config(run_dir)
    rows = read_samples(run_dir / "samples.jsonl")
    encoder = _scoring_encoder(config, registry) if with_encoder else None
    old = _earlier_results(run_dir)
    if resamples is None:  # the run's own number, so its intervals come out exactly the same
        resamples = (
            int(((old.model_extra or {}).get("stats") or {}).get("resamples", DEFAULT_RESAMPLES))
            if old
            else DEFAULT_RESAMPLES
        )
    check_resamples(resamples)
    seed = config["run"]["seed"]
    results, notes, kinds, errors, found, expected, built = {}, {}, {}, 0, {}, {}, {}
    cis, stats = {}, describe(resamples, seed)
    limit = config["run"].get("limit")
    for name in config["tasks"]:
        task = built[name] = build(
            "task", name, registry, **params_for_task(config.get("task_params"), name, config["tasks"], registry)
        )
        # --limit N or a fraction, as the run took it
        ids = set(str(s.id) for s in limited(list(task.samples()), limit))
        task_rows = [r for r in rows if r["task"] == name and str(r["id"]) in ids]
        kinds[name], found[name], expected[name] = task.kind, len(task_rows), len(ids)
        if task_rows:  # a killed run may lack a task
            scored = score_task(task, name, task_rows, {"encoder": encoder}, resamples=resamples, seed=seed)
            results[name], cis[name], stats["no_ci"][name] = scored.metrics, scored.intervals, scored.no_ci
            if scored.notes is not None:
                notes[name] = scored.notes
        else:
            results[name], cis[name], stats["no_ci"][name] = {}, {}, {}
        errors += sum(1 for r in task_rows if r.get("error"))
    res = RunResults(
        config=config,
        versions=collect_versions(),
        seed=config["run"]["seed"],
        results=results,
        notes=notes,
        errors_count=errors,
        samples_count=found,
        expected_count=expected,
        partial=found != expected,
        fingerprints=old.fingerprints if old else {"config": fingerprint(config)},
        timings=old.timings if old else {},
        task_kinds=kinds,
        execution=old.execution if old else None,
        intervals=cis,
        stats=stats,
        **task_declarations(built),
    )
    write_results(run_dir / "results.json", res)
    return res


def _stamped_config(run_dir: Path) -> dict:
    """The config the run recorded in its ``run_config.json`` stamp."""
    import json

    stamp = run_dir / "run_config.json"
    if not stamp.exists() or not (run_dir / "samples.jsonl").exists():
        raise MatsError(f"{run_dir} is not a run directory (needs run_config.json and samples.jsonl)")
    return json.loads(stamp.read_text())["config"]


def _scoring_encoder(config: dict, registry: str | None) -> Any:
    """The run's encoder, for tasks that score by embedding (e.g. answers mapped to labels by cosine)."""
    enc = config["encoder"]
    return build("encoder", enc["name"], registry, **enc.get("params", {}))


def _earlier_results(run_dir: Path) -> RunResults | None:
    """The results.json being replaced, if it reads (its fingerprints, timings and execution are kept)."""
    try:
        return read_results(run_dir / "results.json") if (run_dir / "results.json").exists() else None
    except MatsError:  # a torn results.json is what this re-creates
        return None

"""comparison.json: rows of a table with their intervals, sample counts and paired differences.

A *row* is one run directory (a bridge, a control, MATS-Audio) or a reference value without
samples (CLAP zero-shot). Each row is compared with a reference row (default ``noise``, the
paper's baseline) on the same samples: both rows' per-sample statistics are resampled with
the same seeded draws, so the interval of the difference is paired. Rows whose tasks hold
other samples than the reference's get no difference (``report`` refuses to mix them unless
``--allow-mixed``). Several checkpoint sets (training seeds) aggregate to mean ± std with a
95% t-interval across seeds (``mats_core.stats.intervals.across_seeds``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mats_core.errors import MatsError

DEFAULT_REFERENCE = "noise"


@dataclass
class Row:
    name: str
    results: dict[str, dict[str, Any]]
    run_dir: Path | None = None  # None: a reference value without samples (CLAP zero-shot)
    intervals: dict[str, dict[str, dict]] = field(default_factory=dict)
    samples: dict[str, int] = field(default_factory=dict)
    limit: int | None = None
    source: str = ""
    ids: dict[str, str] = field(default_factory=dict)  # task -> fingerprint of its sample ids
    headline: dict[str, list[str] | None] = field(default_factory=dict)  # task -> its declared table metrics
    oracle_added: int = 0  # test captions the diagnosis-only coverage dial put into this row's bank


def load_row(name: str, run_dir: Path, source: str = "") -> Row:
    """A row from a run directory's results.json."""
    from mats_core.run.results import read_results

    res = read_results(run_dir / "results.json")
    extra = res.model_extra or {}
    prints = {k.removeprefix("task:"): v for k, v in res.fingerprints.items() if k.startswith("task:")}
    added = (res.config.get("oracle_bank") or {}).get("added", 0)  # the coverage dial (mats_core.run.oracle)
    label = f" · ORACLE BANK (+{added} test captions)" if added else ""
    source = source or str(run_dir)
    source += label if label not in source else ""  # a source read back from comparison.json has it already
    return Row(
        name,
        res.results,
        run_dir,
        extra.get("intervals") or {},
        dict(res.samples_count),
        (res.config.get("run") or {}).get("limit"),
        source,
        prints,
        extra.get("headline") or {},
        added,
    )


def _task_rows(run_dir: Path, task: str) -> list[dict]:
    from mats_core.run.results import read_samples

    return [r for r in read_samples(run_dir / "samples.jsonl") if r["task"] == task]


def differences(
    rows: list[Row],
    reference: str,
    registry: str | None = None,
    encoder: Any = None,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[dict, dict[str, str]]:
    """row -> task -> metric -> paired difference against ``reference``; and why rows were skipped."""
    from mats_core.stats.intervals import paired, resample_counts, sort_rows, task_stats

    ref = next((r for r in rows if r.name == reference), None)
    skipped: dict[str, str] = {}
    if ref is None or not _has_samples(ref) or resamples < 1:
        return {}, ({"*": f"no reference row '{reference}' with samples"} if resamples >= 1 else {})
    out: dict[str, dict] = {}
    cache: dict[tuple[str, str], Any] = {}

    def stats_of(row: Row, task: str):
        key = (str(row.run_dir), task)
        if key not in cache:
            cache[key] = task_stats(
                _build_task(row.run_dir, task, registry), _task_rows(row.run_dir, task), {"encoder": encoder}, resamples
            )
        return cache[key]

    for row in rows:
        if row.run_dir is None or row is ref:
            continue
        if not _has_samples(row):  # e.g. a copied CLAP zero-shot row: its values stand, unpaired
            skipped[row.name] = f"no samples.jsonl in {row.run_dir}: no paired difference"
            continue
        for task in row.results:
            if task not in ref.results:
                continue
            a, b = sort_rows(_task_rows(row.run_dir, task)), sort_rows(_task_rows(ref.run_dir, task))
            if [x["id"] for x in a] != [x["id"] for x in b]:
                skipped[f"{row.name}/{task}"] = f"other samples than '{reference}': no paired difference"
                continue
            counts = resample_counts(len(a), resamples, seed, task)
            diff = paired(stats_of(row, task), stats_of(ref, task), row.results[task], ref.results[task], counts)
            out.setdefault(row.name, {})[task] = diff
    return out, skipped


def _has_samples(row: Row) -> bool:
    return row.run_dir is not None and (row.run_dir / "samples.jsonl").is_file()


def _build_task(run_dir: Path, task: str, registry: str | None) -> Any:
    from mats_core.registry.presets import build
    from mats_core.run.harness import params_for_task

    stamp = run_dir / "run_config.json"
    config = json.loads(stamp.read_text())["config"] if stamp.exists() else {}
    # task_params as the run recorded them: per task (task -> params, e.g. esc50's data_root), or one flat set
    return build(
        "task",
        task,
        registry,
        **params_for_task(config.get("task_params"), task, config.get("tasks") or [task], registry),
    )


def comparison(
    rows: list[Row],
    kinds: dict[str, str],
    reference: str = DEFAULT_REFERENCE,
    registry: str | None = None,
    *,
    encoder: Any = None,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The comparison.json document of one table."""
    from mats_core.stats.intervals import describe

    diffs, skipped = differences(rows, reference, registry, encoder, resamples, seed)
    oracle = {r.name: r.oracle_added for r in rows if r.oracle_added}  # rows whose bank holds test captions
    return {
        "reference": reference,
        "stats": {**describe(resamples, seed), "paired": "row minus reference on the same resamples; p two-sided"},
        "kinds": kinds,
        "rows": {r.name: r.results for r in rows},
        "order": [r.name for r in rows],
        "intervals": {r.name: r.intervals for r in rows if r.intervals},
        "differences": diffs,
        "skipped": skipped,
        "samples": {r.name: r.samples for r in rows},
        "limit": {r.name: r.limit for r in rows},
        "sources": {r.name: r.source for r in rows},
        "dirs": {r.name: r.run_dir.name if r.run_dir else None for r in rows},  # next to comparison.json
        "ids": {r.name: r.ids for r in rows if r.ids},
        "headline": {t: m for r in rows for t, m in r.headline.items()},  # the tasks' declarations
        **({"oracle_bank": oracle} if oracle else {}),
    }


def check_same_samples(rows: list[Row], allow_mixed: bool) -> None:
    """``report``: one column holds one sample set per task, unless ``--allow-mixed``."""
    for task in sorted({t for r in rows for t in r.ids}):
        seen = {}
        for r in rows:
            if task in r.ids:
                seen.setdefault(r.ids[task], []).append(f"{r.name} (n={r.samples.get(task)}, limit {r.limit})")
        if len(seen) > 1 and not allow_mixed:
            groups = "; ".join(", ".join(v) for v in seen.values())
            raise MatsError(
                f"task {task}: the runs scored different samples ({groups}); pass --allow-mixed to put them in one table anyway"
            )


def aggregate_seeds(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Several comparisons (one per checkpoint set) -> per-seed values and mean ± std with a t-interval."""
    from mats_core.stats.intervals import across_seeds

    values: dict[str, dict[str, dict[str, list]]] = {}
    for comp in per_seed:
        for name, tasks in comp["rows"].items():
            for task, metrics in tasks.items():
                for m, v in metrics.items():
                    values.setdefault(name, {}).setdefault(task, {}).setdefault(m, []).append(v)
    agg = {n: {t: {m: across_seeds(vs) for m, vs in ms.items()} for t, ms in ts.items()} for n, ts in values.items()}
    return {
        "how": "over training seeds (checkpoint sets): mean ± std (sample std, ddof 1) and a 95% Student-t "
        "interval of the mean across seeds; per-seed values in 'values'",
        "per_seed": values,
        "aggregate": agg,
    }

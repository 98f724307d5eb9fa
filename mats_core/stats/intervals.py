"""Bootstrap confidence intervals and paired differences over samples, from samples.jsonl rows.

A resample draws n whole samples with replacement; it is held as a *counts* matrix ``[B, n]``
(how often each sample is drawn), so a mean metric on every resample is one matrix product
and a corpus metric (CIDEr-D, BLEU, WER, macro-F1) is recomputed from per-sample statistics
counted once. Tasks (or their metrics) give those statistics through the optional capability
``sample_stats(rows, **context) -> SampleStats`` (see :mod:`mats_core.interfaces`). A task
without it falls back to calling ``score`` on each resample when one call is cheap
(``FALLBACK_BUDGET_SECONDS`` for all resamples), else its metrics get no interval and the
reason is recorded. Rows are ordered by id first and the resamples are seeded by (seed,
task), so ``mats-bench score`` reproduces a run's intervals exactly, and two runs on the same
samples get the same resamples: that is what makes the paired difference paired.
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from mats_core.capabilities import capability

CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 1000
FALLBACK_BUDGET_SECONDS = 5.0
BOOKKEEPING = ("n", "errors")  # counts every task reports; not estimates, so no interval
CHUNK_CELLS = 20_000  # resamples x samples per call of a corpus metric: its [chunk, nnz] temporaries stay small


@dataclass
class SampleStats:
    """Per-sample statistics of a task's metrics, computed once and reused by every resample.

    ``means``: metric -> per-sample values whose mean is the metric (accuracy: 0/1 per sample).
    ``corpus``: counts ``[b, n]`` (float) -> metric -> ``[b]`` values, for metrics that are not
    a mean (CIDEr-D, BLEU, WER...); it must equal the metric computed on the resampled rows.
    ``notes``: metric -> why it has no interval (e.g. METEOR's corpus score is computed inside
    its Java jar, so segment scores do not reproduce it).
    """

    n: int
    means: dict[str, np.ndarray] = field(default_factory=dict)
    corpus: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None
    notes: dict[str, str] = field(default_factory=dict)


def sort_rows(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Rows in id order: intervals then depend on which samples were scored, not on file order."""
    return sorted(rows, key=lambda r: str(r.get("id")))


def resample_counts(n: int, resamples: int, seed: int, task: str) -> np.ndarray:
    """``[resamples, n]`` draw counts of a seeded bootstrap (each row sums to n)."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(task.encode())])
    idx = rng.integers(0, n, size=(resamples, n))
    flat = (idx + np.arange(resamples)[:, None] * n).ravel()
    return np.bincount(flat, minlength=resamples * n).reshape(resamples, n).astype(np.float64)


_RESAMPLED: dict[tuple, tuple[SampleStats, dict[str, np.ndarray]]] = {}  # (id(stats), counts) -> values


def resampled(stats: SampleStats, counts: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of ``stats`` on every resample: metric -> ``[B]``. Memoised: a row's interval and
    each of its paired differences (and the reference row's, once per row) read the same values, and
    a corpus metric on 1,000 resamples costs about a second (the memo holds ``stats``, so its id
    cannot be reused while the entry lives)."""
    import hashlib

    key = (id(stats), counts.shape, hashlib.sha1(np.ascontiguousarray(counts).tobytes()).hexdigest())
    held = _RESAMPLED.get(key)
    if held is not None and held[0] is stats:
        return held[1]
    out = _resampled(stats, counts)
    if len(_RESAMPLED) >= 64:
        _RESAMPLED.pop(next(iter(_RESAMPLED)))
    _RESAMPLED[key] = (stats, out)
    return out


def _resampled(stats: SampleStats, counts: np.ndarray) -> dict[str, np.ndarray]:
    out = {m: counts @ np.asarray(v, dtype=np.float64) / stats.n for m, v in stats.means.items()}
    if stats.corpus is not None:
        step = max(1, CHUNK_CELLS // max(stats.n, 1))
        parts = [stats.corpus(counts[b : b + step]) for b in range(0, len(counts), step)]
        for m in parts[0] if parts else ():
            out[m] = np.concatenate([np.asarray(p[m], dtype=np.float64) for p in parts])
    return out


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    alpha = (1 - CONFIDENCE) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def intervals(stats: SampleStats, counts: np.ndarray) -> dict[str, dict[str, float | None]]:
    """Percentile bootstrap interval of each metric, and its standard error where it is a mean."""
    out: dict[str, dict[str, float | None]] = {}
    for m, values in resampled(stats, counts).items():
        if not np.isfinite(values).all():
            continue
        low, high = _percentiles(values)
        se = None
        if m in stats.means and stats.n > 1:
            se = float(np.std(np.asarray(stats.means[m], dtype=np.float64), ddof=1) / math.sqrt(stats.n))
        out[m] = {"low": low, "high": high, "se": se}
    return out


_CACHE: dict[tuple, SampleStats] = {}  # a run's intervals, then its paired differences, count once


def task_stats(task: Any, rows: Sequence[Mapping[str, Any]], context: Mapping[str, Any], resamples: int) -> SampleStats:
    """The task's own ``sample_stats`` or, when absent, the rescoring fallback (if cheap)."""
    import json

    rows = sort_rows(rows)
    key = (
        type(task).__qualname__,
        getattr(task, "name", ""),
        capability(task, "fingerprint"),
        id(context.get("encoder")),
        hash(json.dumps(rows, sort_keys=True, default=str)),
    )
    if key in _CACHE:
        return _CACHE[key]
    own = capability(task, "sample_stats")
    stats = own(rows, **context) if callable(own) else None
    if stats is None:
        stats = _rescoring_stats(task, rows, context, resamples)
    if len(_CACHE) >= 64:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = stats
    return stats


def _rescoring_stats(task: Any, rows: list, context: Mapping[str, Any], resamples: int) -> SampleStats:
    """Call ``task.score`` on each resample, when all of them fit in the budget."""
    t0 = time.perf_counter()
    point = task.score(rows, **context)
    cost = (time.perf_counter() - t0) * resamples
    metrics = [m for m, v in point.items() if v is not None and m not in BOOKKEEPING]
    if cost > FALLBACK_BUDGET_SECONDS:
        why = (
            f"no interval: task '{getattr(task, 'name', '?')}' has no sample_stats() and rescoring it "
            f"{resamples} times would take ~{cost:.0f} s"
        )
        return SampleStats(n=len(rows), notes={m: why for m in metrics})

    def corpus(counts: np.ndarray) -> dict[str, np.ndarray]:
        values = {m: np.empty(len(counts)) for m in metrics}
        for b, c in enumerate(counts.astype(int)):
            scores = task.score([rows[i] for i in np.repeat(np.arange(len(rows)), c)], **context)
            for m in metrics:
                values[m][b] = np.nan if scores.get(m) is None else scores[m]
        return values

    return SampleStats(n=len(rows), corpus=corpus)


def describe(resamples: int, seed: int) -> dict[str, Any]:
    """What results.json records about how its intervals were computed."""
    return {
        "confidence": CONFIDENCE,
        "resamples": resamples,
        "seed": seed,
        "method": "percentile bootstrap over whole samples (rows in id order, resamples seeded by seed and task); "
        "se = standard error of a mean metric",
        "no_ci": {},
    }


def task_intervals(
    task: Any,
    name: str,
    rows: Sequence[Mapping[str, Any]],
    point: Mapping[str, Any],
    context: Mapping[str, Any],
    *,
    resamples: int,
    seed: int,
) -> tuple[dict, dict[str, str]]:
    """(metric -> interval, metric -> why it has none) for one task of one run."""
    reportable = [m for m, v in point.items() if v is not None and m not in BOOKKEEPING]
    if resamples < 1 or not rows:
        return {}, {}
    stats = task_stats(task, rows, context, resamples)
    counts = resample_counts(stats.n, resamples, seed, name)
    found = {m: ci for m, ci in intervals(stats, counts).items() if m in reportable}
    missing = {
        m: stats.notes.get(m, f"no interval: task '{name}' gives no per-sample statistics for {m}")
        for m in reportable
        if m not in found
    }
    return found, missing


@dataclass
class TaskScore:
    """One task of a run scored: what results.json records for it."""

    metrics: dict
    notes: dict | None  # the task's notes, when it has any
    intervals: dict
    no_ci: dict[str, str]  # metric -> why it has no interval
    interval_seconds: float


def score_task(
    task: Any, name: str, rows: Sequence[Mapping[str, Any]], context: Mapping[str, Any], *, resamples: int, seed: int
) -> TaskScore:
    """A run and a rescore of its samples.jsonl score a task through this, so they agree."""
    point = task.score(rows, **context)
    notes = dict(task.notes) if capability(task, "notes") else None
    t0 = time.perf_counter()
    cis, missing = task_intervals(task, name, rows, point, context, resamples=resamples, seed=seed)
    return TaskScore(point, notes, cis, missing, time.perf_counter() - t0)


def paired(
    stats: SampleStats, ref: SampleStats, point: Mapping[str, Any], ref_point: Mapping[str, Any], counts: np.ndarray
) -> dict[str, dict[str, float]]:
    """Row minus reference on the same resamples: difference, its interval and a two-sided p-value.

    p = 2 min(P*(d <= 0), P*(d >= 0)) with the (1 + count) / (1 + B) correction, capped at 1: the
    interval excludes 0 about when p < 1 - CONFIDENCE. Identical rows give d = 0 and p = 1.
    """
    a, b = resampled(stats, counts), resampled(ref, counts)
    out = {}
    for m in sorted(set(a) & set(b)):
        if point.get(m) is None or ref_point.get(m) is None or m in BOOKKEEPING:
            continue
        d = a[m] - b[m]
        if not np.isfinite(d).all():
            continue
        low, high = _percentiles(d)
        big = len(d) + 1
        p = min(1.0, 2 * min((1 + np.sum(d <= 0)) / big, (1 + np.sum(d >= 0)) / big))
        out[m] = {
            "difference": float(point[m]) - float(ref_point[m]),
            "low": low,
            "high": high,
            "p": float(p),
            "excludes_zero": bool(low > 0 or high < 0),
        }
    return out


def across_seeds(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample std and a 95% t-interval of the mean over replicates (training or evaluation seeds)."""
    vals = [float(v) for v in values if v is not None]
    k = len(vals)
    if not k:
        return {"mean": None, "std": None, "k": 0, "low": None, "high": None, "values": []}
    mean = sum(vals) / k
    std = float(np.std(vals, ddof=1)) if k > 1 else 0.0
    low = high = None
    if k > 1:
        from statistics import NormalDist

        t = _t_quantile(k - 1) if k < 31 else NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)
        low, high = mean - t * std / math.sqrt(k), mean + t * std / math.sqrt(k)
    return {"mean": mean, "std": std, "k": k, "low": low, "high": high, "values": vals}


def _t_quantile(df: int) -> float:
    """Two-sided 95% Student-t quantile (table: no scipy in the core)."""
    table = [
        12.706,
        4.303,
        3.182,
        2.776,
        2.571,
        2.447,
        2.365,
        2.306,
        2.262,
        2.228,
        2.201,
        2.179,
        2.160,
        2.145,
        2.131,
        2.120,
        2.110,
        2.101,
        2.093,
        2.086,
        2.080,
        2.074,
        2.069,
        2.064,
        2.060,
        2.056,
        2.052,
        2.048,
        2.045,
        2.042,
    ]
    return table[min(df, len(table)) - 1]

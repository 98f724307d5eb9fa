"""The CLAP zero-shot reference row, scored like every other row.

The encoder alone classifies each clip (audio vs label-text cosine, :func:`mats_core.harness.zero_shot_rows`);
the task scores those labels, the bootstrap gives every metric its 95% interval (the classifier's own
``accuracy`` too, a mean of 0/1 per sample), and a clip whose audio failed counts in ``errors_count``
exactly as the task's ``errors`` metric counts it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ZeroShot:
    """One task of the zero-shot row: what its results.json records."""

    metrics: dict[str, Any]
    intervals: dict[str, dict] = field(default_factory=dict)
    no_ci: dict[str, str] = field(default_factory=dict)
    errors: int = 0


def score_zero_shot(pipe: Any, task_name: str, cfg: Any, task_params: dict | None = None) -> ZeroShot | None:
    """The zero-shot row of a classification task (None for another kind of task)."""
    import numpy as np

    from mats_core.harness import zero_shot_rows
    from mats_core.stats import SampleStats, intervals, resample_counts, score_task, sort_rows

    from mats_core.capabilities import capability

    task, rows, sims = zero_shot_rows(pipe, task_name, cfg, task_params)
    if task is None:
        return None
    if not rows:
        return ZeroShot({"accuracy": None})
    errors = sum(1 for r in rows if r.get("error"))
    if callable(capability(task, "zero_shot_scores")):  # a multi-label task ranks every label (FSD50K's mAP)
        return ZeroShot(task.zero_shot_scores(rows, sims), errors=errors)
    scored = score_task(task, task_name, rows, {"encoder": pipe.encoder}, resamples=cfg.resamples, seed=cfg.seed)
    correct = [float(r["prediction"] == r["label"]) for r in sort_rows(rows)]
    metrics = {"accuracy": sum(correct) / len(rows), **scored.metrics}  # the task's own scores win
    cis = dict(scored.intervals)
    if "accuracy" not in scored.metrics and cfg.resamples >= 1:
        stats = SampleStats(n=len(rows), means={"accuracy": np.asarray(correct)})
        cis.update(intervals(stats, resample_counts(len(rows), cfg.resamples, cfg.seed, task_name)))
    return ZeroShot(metrics, cis, scored.no_ci, errors)

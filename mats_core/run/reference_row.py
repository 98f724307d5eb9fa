"""The CLAP zero-shot reference row, scored like every other row.

The encoder alone classifies each clip (audio vs label-text cosine, :func:`zero_shot_rows`);
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

    from mats_core.capabilities import capability
    from mats_core.stats.intervals import SampleStats, intervals, resample_counts, score_task, sort_rows

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


def zero_shot_rows(
    pipe: Any, task_name: str, cfg: Any, task_params: dict | None = None
) -> tuple[Any, list[dict], list]:
    """(the task, one samples.jsonl-like row per sample: the zero-shot label, or the audio's error,
    each sample's label cosines (NaN where the audio failed)); (None, [], []) for a task that is not
    a classification."""
    import torch
    import torch.nn.functional as F

    from mats_core.capabilities import capability
    from mats_core.registry.presets import build
    from mats_core.run.harness import limited
    from mats_core.run.results import sample_row

    task = build("task", task_name, pipe.registry, **(task_params or {}))
    if task.kind != "classification":
        return None, [], []
    samples = limited(list(task.samples()), cfg.limit)
    labels = list(samples[0].labels) if samples else []
    prompt = capability(task, "label_prompt", "{label}")
    with torch.no_grad():
        lab = F.normalize(pipe.encoder.embed_text([prompt.format(label=l) for l in labels]).float(), dim=-1)
    rows, sims = [], []
    for b0 in range(0, len(samples), cfg.bridge_block):  # audio read a block at a time, as in generation
        block = samples[b0 : b0 + cfg.bridge_block]
        z, ok, errs = pipe.embed_audio(block, cfg)
        cos = (z @ lab.to(z.device).T).float().cpu() if z is not None else None
        pred = dict(zip(ok, cos.argmax(-1).tolist())) if cos is not None else {}
        sims += [cos[ok.index(i)].tolist() if i in pred else [float("nan")] * len(labels) for i in range(len(block))]
        rows += [
            sample_row(
                task_name,
                s,
                prediction=labels[pred[i]] if i in pred else None,
                error=None if i in pred else errs.get(i, "no embedding"),
            )
            for i, s in enumerate(block)
        ]
    return task, rows, sims

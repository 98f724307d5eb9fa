"""Scoring the rows of samples.jsonl with a registered metric (public, stable): the glue every task needs.

A task's ``score`` receives the rows written to samples.jsonl (``id``, ``prediction``,
``references``, ``label``, ``error``). A row with an error counts as an empty answer (wrong),
never dropped: otherwise a run that loses half its audio would look as good as a complete one.
Metrics are built once per process (the caption metric starts a METEOR JVM, seconds).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from mats_core.capabilities import capability
from mats_core.errors import MatsError

__all__ = [
    "MetricTask",
    "declarations",
    "metric_inputs",
    "prediction_texts",
    "sample_stats_rows",
    "score_rows",
    "shared_metric",
    "task_declarations",
]

_METRICS: dict[tuple[str, str | None], Any] = {}


def shared_metric(name: str, registry: str | None = None) -> Any:
    """``build("metric", name)``, once per process and registry."""
    key = (name, registry)
    if key not in _METRICS:
        from mats_core.registry.presets import build

        _METRICS[key] = build("metric", name, registry)
    return _METRICS[key]


def prediction_texts(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The prediction of each row; ``""`` (a wrong answer) where the row has an error."""
    return ["" if r.get("error") else str(r.get("prediction") or "") for r in rows]


def metric_inputs(
    task: str, kind: str, rows: Sequence[Mapping[str, Any]], labels: Sequence[str] | None = None, encoder: Any = None
) -> tuple[list[str], list[Any], dict[str, Any]]:
    """(predictions, references, metric kwargs) of one task's rows: ``classification`` rows
    against their ``label`` (``labels=`` and ``encoder=`` go to the metric), the other kinds
    against their ``references``. No rows, or rows without them, raise MatsError."""
    rows = list(rows)
    if not rows:
        raise MatsError(f"{task}: no predictions to score")
    preds = prediction_texts(rows)
    if kind == "classification":
        missing = [r.get("id") for r in rows if not r.get("label")]
        if missing:
            raise MatsError(f"{task}: rows without 'label' (ids {missing[:5]}); re-run the task")
        return preds, [r["label"] for r in rows], {"labels": list(labels or []), "encoder": encoder}
    refs = [list(r.get("references") or []) for r in rows]
    empty = [r.get("id") for r, ref in zip(rows, refs) if not ref]
    if empty:
        raise MatsError(f"{task}: rows without 'references' (ids {empty[:5]}); re-run the task")
    return preds, refs, {}


def score_rows(
    task: str,
    kind: str,
    rows: Sequence[Mapping[str, Any]],
    metric: Any,
    labels: Sequence[str] | None = None,
    encoder: Any = None,
) -> dict[str, float | None]:
    """``metric.compute`` on the rows of one task, plus ``n`` (rows) and ``errors`` (rows with an error)."""
    rows = list(rows)
    preds, refs, extra = metric_inputs(task, kind, rows, labels, encoder)
    result = metric.compute(preds, refs, **extra)
    errors = sum(1 for r in rows if r.get("error"))
    return {**dict(result), "n": float(len(rows)), "errors": float(errors)}


def sample_stats_rows(
    task: str,
    kind: str,
    rows: Sequence[Mapping[str, Any]],
    metric: Any,
    labels: Sequence[str] | None = None,
    encoder: Any = None,
) -> Any:
    """The metric's optional ``sample_stats`` on one task's rows (per-sample statistics for
    bootstrap intervals, :class:`mats_core.SampleStats`); None when the metric has none."""
    if not rows or not callable(capability(metric, "sample_stats")):
        return None
    preds, refs, extra = metric_inputs(task, kind, rows, labels, encoder)
    return metric.sample_stats(preds, refs, **extra)


def declarations(obj: Any) -> dict[str, Any]:
    """The optional ``headline`` (keys a table shows) and ``higher_is_better`` (key -> bool)
    declarations of a metric or task, with their defaults (``None``: show every key; ``{}``)."""
    from mats_core.capabilities import capability

    headline = capability(obj, "headline", None)
    return {
        "headline": None if headline is None else list(headline),
        "higher_is_better": dict(capability(obj, "higher_is_better", {})),
    }


def task_declarations(tasks: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"headline": {task: [...] | None}, "higher_is_better": {task: {...}}}``, as results.json stores them."""
    decl = {name: declarations(task) for name, task in tasks.items()}
    return {key: {name: d[key] for name, d in decl.items()} for key in ("headline", "higher_is_better")}


class MetricTask:
    """A mixin for a task scored by one shared metric: ``score``, ``sample_stats`` and the
    metric's ``headline`` / ``higher_is_better`` declarations, from two members the task gives:
    ``metric_name`` (the registered metric) and ``score_labels`` (classification's label set)."""

    name: str
    kind: str
    metric_name: str
    score_labels: Sequence[str] | None = None

    def _metric_args(self, context: Mapping[str, Any]) -> dict[str, Any]:
        classify = self.kind == "classification"
        return {
            "labels": list(self.score_labels or []) if classify else None,
            "encoder": context.get("encoder") if classify else None,
        }

    def score(self, predictions: Sequence[Mapping[str, Any]], **context: Any) -> dict[str, float | None]:
        return score_rows(
            self.name, self.kind, list(predictions), shared_metric(self.metric_name), **self._metric_args(context)
        )

    def sample_stats(self, predictions: Sequence[Mapping[str, Any]], **context: Any) -> Any:
        """Per-sample statistics for bootstrap intervals (the optional Task capability): the metric's."""
        return sample_stats_rows(
            self.name, self.kind, list(predictions), shared_metric(self.metric_name), **self._metric_args(context)
        )

    @property
    def headline(self) -> list[str] | None:
        """The table metrics of this task's metric (its declaration)."""
        return declarations(shared_metric(self.metric_name))["headline"]

    @property
    def higher_is_better(self) -> dict[str, bool]:
        return declarations(shared_metric(self.metric_name))["higher_is_better"]

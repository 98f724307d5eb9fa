"""The base of every dataset task: split handling, ``limit``, the fingerprint and scoring.

``score`` receives the rows of samples.jsonl (``id``, ``prediction``, ``references``,
``label``, ``error``), so a finished run can be re-scored from disk. A row with an error
(its audio was missing or undecodable) counts as an empty answer, i.e. wrong, and is never
dropped: otherwise a run that loses half its audio would look as good as a complete one.
Scores come from the registered ``caption`` / ``classification`` / ``qa`` metrics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mats_core import MatsError, Sample, build

from mats_datasets._common import params_fingerprint

METRIC = {"caption": "caption", "classification": "classification", "qa": "qa"}
NEEDS_ENCODER = "needs an alignment encoder: score(..., encoder=...) maps answers to labels by text-embedding cosine (LTU)"


_METRICS: dict[str, Any] = {}


def shared_metric(name: str) -> Any:
    """One metric object per process: the caption metric's METEOR JVM takes 5-40 s to start,
    and a benchmark scores several caption tasks (the JVM ends with the process)."""
    if name not in _METRICS:
        _METRICS[name] = build("metric", name)
    return _METRICS[name]


class DatasetTask:
    """Subclasses set ``kind``, ``splits`` and implement ``metadata(split)`` and ``load(split)``.

    ``params`` are the resolved factory params; with the content of the default split's
    metadata file they make ``fingerprint``. The folder is left out on purpose: the same
    dataset mounted elsewhere is the same benchmark, a changed CSV or param is not.
    """

    kind: str = ""
    splits: tuple[str, ...] = ()

    def __init__(self, name: str, folder: Path, split: str, limit: int | None, **params: Any):
        self.name, self.folder, self.split, self.limit = name, folder, split, limit
        self.params = params
        self.notes: dict[str, str] = {}
        self._loaded: dict[str, list[Sample]] = {}
        self._check_split(split)
        files = self.metadata(split)
        resolved = {"task": name, "split": split, "limit": limit, **params}
        self.fingerprint = params_fingerprint(resolved, *files)

    # -- subclass API --------------------------------------------------------------------
    def metadata(self, split: str) -> list[Path]:
        """The metadata files ``split`` reads; raises MatsError naming a missing one."""
        raise NotImplementedError

    def load(self, split: str) -> list[Sample]:
        """Every sample of ``split``, in the dataset's order."""
        raise NotImplementedError

    # -- Task API ------------------------------------------------------------------------
    def samples(self, split: str | None = None) -> list[Sample]:
        split = split or self.split
        self._check_split(split)
        if split not in self._loaded:
            self.metadata(split)
            items = self.load(split)
            seen: set[str] = set()
            for s in items:  # the harness resumes and scores by id
                if s.id in seen:
                    raise MatsError(f"{self.name}: sample id {s.id!r} occurs twice in split {split!r}; ids must be unique")
                seen.add(s.id)
            self._loaded[split] = items
        items = self._loaded[split]
        return list(items[: self.limit] if self.limit else items)

    def score(self, predictions: Sequence[Mapping[str, Any]], **context: Any) -> dict[str, float | None]:
        rows = list(predictions)
        if not rows:
            raise MatsError(f"{self.name}: no predictions to score")
        preds = ["" if r.get("error") else str(r.get("prediction") or "") for r in rows]
        metric = shared_metric(METRIC[self.kind])
        if self.kind == "classification":
            result = self._score_labels(metric, rows, preds, context.get("encoder"))
        else:
            result = self._score_references(metric, rows, preds)
        self.notes = {k: v for k, v in (getattr(metric, "notes", None) or {}).items() if result.get(k) is None}
        if self.kind == "classification" and context.get("encoder") is None:
            self.notes.update({k: NEEDS_ENCODER for k in ("accuracy_embed", "f1_embed") if result.get(k) is None})
        result.update(self.extra_scores(metric, rows, preds))
        errors = sum(1 for r in rows if r.get("error"))
        return {**result, "n": float(len(rows)), "errors": float(errors)}

    def sample_stats(self, predictions: Sequence[Mapping[str, Any]], **context: Any) -> Any:
        """Per-sample statistics for bootstrap intervals (optional Task capability): the metric's.
        ``extra_scores`` breakdowns get none (the core records why)."""
        rows = list(predictions)
        metric = shared_metric(METRIC[self.kind])
        if not rows or not callable(getattr(metric, "sample_stats", None)):
            return None
        preds = ["" if r.get("error") else str(r.get("prediction") or "") for r in rows]
        if self.kind == "classification":
            return metric.sample_stats(preds, [r["label"] for r in rows], labels=list(self.labels), encoder=context.get("encoder"))
        return metric.sample_stats(preds, [list(r.get("references") or []) for r in rows])

    def extra_scores(self, metric: Any, rows: list[Mapping[str, Any]], preds: list[str]) -> dict[str, float | None]:
        """Dataset-specific breakdowns (e.g. Clotho-AQA yes/no accuracy); none by default."""
        return {}

    # -- helpers -------------------------------------------------------------------------
    def _check_split(self, split: str) -> None:
        if self.splits and split not in self.splits:
            raise MatsError(f"{self.name}: unknown split {split!r}; splits are {', '.join(self.splits)}")

    def _score_labels(self, metric: Any, rows: list, preds: list[str], encoder: Any) -> dict[str, float | None]:
        missing = [r.get("id") for r in rows if not r.get("label")]
        if missing:
            raise MatsError(f"{self.name}: rows without 'label' (ids {missing[:5]}); re-run the task")
        return dict(metric.compute(preds, [r["label"] for r in rows], labels=list(self.labels), encoder=encoder))

    def _score_references(self, metric: Any, rows: list, preds: list[str]) -> dict[str, float | None]:
        refs = [list(r.get("references") or []) for r in rows]
        empty = [r.get("id") for r, ref in zip(rows, refs) if not ref]
        if empty:
            raise MatsError(f"{self.name}: rows without 'references' (ids {empty[:5]}); re-run the task")
        return dict(metric.compute(preds, refs))

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

from mats_core import MatsError, Sample
from mats_core.scoring import MetricTask, prediction_texts, shared_metric
from mats_datasets._common import params_fingerprint

METRIC = {"caption": "caption", "classification": "classification", "qa": "qa"}
NEEDS_ENCODER = (
    "needs an alignment encoder: score(..., encoder=...) maps answers to labels by text-embedding cosine (LTU)"
)


class DatasetTask(MetricTask):
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
        self.data_notes: dict[
            str, str
        ] = {}  # what load() had to leave out (dropped_rows ...): kept in results.json notes
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
                    raise MatsError(
                        f"{self.name}: sample id {s.id!r} occurs twice in split {split!r}; ids must be unique"
                    )
                seen.add(s.id)
            self._loaded[split] = items
        items = self._loaded[split]
        return list(items[: self.limit] if self.limit else items)

    @property
    def metric_name(self) -> str:
        return METRIC[self.kind]

    @property
    def score_labels(self) -> list[str] | None:
        return list(self.labels) if self.kind == "classification" else None

    def score(self, predictions: Sequence[Mapping[str, Any]], **context: Any) -> dict[str, float | None]:
        rows = list(predictions)
        result = super().score(rows, **context)
        metric = shared_metric(self.metric_name)
        self.notes = dict(self.data_notes)
        self.notes.update({k: v for k, v in (getattr(metric, "notes", None) or {}).items() if result.get(k) is None})
        if self.kind == "classification" and context.get("encoder") is None:
            self.notes.update({k: NEEDS_ENCODER for k in ("accuracy_embed", "f1_embed") if result.get(k) is None})
        result.update(self.extra_scores(metric, rows, prediction_texts(rows)))
        return result

    def extra_scores(self, metric: Any, rows: list[Mapping[str, Any]], preds: list[str]) -> dict[str, float | None]:
        """Dataset-specific breakdowns (e.g. Clotho-AQA yes/no accuracy); none by default."""
        return {}

    # -- helpers -------------------------------------------------------------------------
    def _check_split(self, split: str) -> None:
        if self.splits and split not in self.splits:
            raise MatsError(f"{self.name}: unknown split {split!r}; splits are {', '.join(self.splits)}")

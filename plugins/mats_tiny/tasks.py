"""Benchmark tasks and the training corpus of the tiny world.

The tasks score the rows of samples.jsonl ({id, prediction, references, label, error}),
so a finished run can be re-scored from disk. A row with an error counts as a wrong
answer (an empty prediction), never silently dropped: otherwise a crashing model would
look better than one that answers badly.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from mats_tiny import data
from mats_tiny.world import CLASSES

METRIC = {"caption": "caption", "classification": "classification", "qa": "qa"}


class TinyTask:
    """One task over a split's rendered clips (``kind``: caption | classification | qa)."""

    def __init__(self, name: str, kind: str, split: str = "test", limit: int | None = None, seed: int = 0):
        if kind not in METRIC:
            raise ValueError(f"kind: unknown task kind {kind!r}; kinds are {', '.join(METRIC)}")
        self.name, self.kind, self.split, self.limit, self.seed = name, kind, split, limit, seed

    def samples(self, split: str | None = None) -> list:
        return data.test_samples(self.kind, split=split or self.split, n=self.limit, seed=self.seed)

    def score(self, predictions: Sequence[Mapping[str, Any]], **context: Any) -> dict[str, float | None]:
        from mats_core import build

        rows = list(predictions)
        if not rows:
            raise ValueError(f"{self.name}: no predictions to score")
        preds = ["" if r.get("error") else str(r.get("prediction") or "") for r in rows]
        metric = build("metric", METRIC[self.kind])
        if self.kind == "classification":
            missing = [r.get("id") for r in rows if not r.get("label")]
            if missing:
                raise ValueError(f"{self.name}: rows without 'label' (ids {missing[:5]}); re-run the task")
            refs = [r["label"] for r in rows]
            result = metric.compute(preds, refs, labels=list(CLASSES), encoder=context.get("encoder"))
        else:
            refs = [list(r.get("references") or []) for r in rows]
            empty = [r.get("id") for r, ref in zip(rows, refs) if not ref]
            if empty:
                raise ValueError(f"{self.name}: rows without 'references' (ids {empty[:5]}); re-run the task")
            result = metric.compute(preds, refs)
        errors = sum(1 for r in rows if r.get("error"))
        return {**result, "n": float(len(rows)), "errors": float(errors)}


class TinyCorpus:
    """Training text of the tiny world: {text, instruction, answer, task} records."""

    name = "tiny"

    def __init__(self, split: str = "text-train", n: int | None = None, seed: int = 0):
        self.split, self.n, self.seed = split, n, seed

    def records(self) -> Iterable[dict[str, str]]:
        return data.text_records(self.split, n=self.n, seed=self.seed)

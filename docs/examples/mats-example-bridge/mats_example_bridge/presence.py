"""The ``presence`` task: balanced yes/no sound-event detection from a classification task.

For every clip of the ``base`` task it asks about the clip's own label (answer "yes") and
about another label drawn with a per-clip seed (answer "no"). Half the answers are "no", so
a model that always says "yes" scores 0.5; ``yes_accuracy`` and ``no_accuracy`` show such a
bias, which plain accuracy on the usual presence questions hides.
"""

from __future__ import annotations

import random
import zlib
from typing import Any, Iterable, Mapping, Sequence

from mats_core import MatsError, Sample, build


class PresenceTask:
    kind = "qa"

    def __init__(
        self,
        base: str = "tiny-classify",
        question: str = "Do you hear {label}?",
        limit: int | None = None,
        seed: int = 0,
    ):
        self.base, self.question, self.limit, self.seed = base, question, limit, seed
        self.name = "presence"

    def _source(self) -> Any:
        if self.limit is None:
            return build("task", self.base)
        try:  # most tasks take a limit: then only the clips needed are loaded
            return build("task", self.base, limit=(self.limit + 1) // 2)
        except MatsError:
            return build("task", self.base)

    def samples(self, split: str | None = None) -> Iterable[Sample]:
        source = self._source()
        if source.kind != "classification":
            raise ValueError(
                f"presence: base task '{self.base}' is a {source.kind} task; it must be a classification task"
            )
        out: list[Sample] = []
        for s in source.samples(split):
            others = sorted(set(s.labels) - {s.label})
            if not others:
                raise ValueError(f"presence: sample {s.id} of '{self.base}' has no other label to ask about")
            absent = random.Random(zlib.crc32(f"{self.seed}:{s.id}".encode())).choice(others)
            for label, answer in ((s.label, "yes"), (absent, "no")):
                out.append(
                    Sample(
                        id=f"{s.id}-{answer}",
                        audio=s.audio,
                        sample_rate=s.sample_rate,
                        instruction=self.question.format(label=label.replace("_", " ")),
                        references=[answer],
                        meta={**s.meta, "asked": label},
                    )
                )
            if self.limit is not None and len(out) >= self.limit:
                return out[: self.limit]
        return out

    def score(self, predictions: Sequence[Mapping[str, Any]], **context: Any) -> dict[str, float | None]:
        rows = list(predictions)
        if not rows:
            raise ValueError("presence: no predictions to score")
        metric = build("metric", "qa")
        preds = ["" if r.get("error") else str(r.get("prediction") or "") for r in rows]
        refs = [list(r["references"]) for r in rows]
        scores = dict(metric.compute(preds, refs))
        for answer in ("yes", "no"):
            picked = [i for i, r in enumerate(refs) if r == [answer]]
            part = metric.compute([preds[i] for i in picked], [refs[i] for i in picked]) if picked else {}
            scores[f"{answer}_accuracy"] = part.get("accuracy")
        return scores

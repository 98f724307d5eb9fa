"""Classification scored from *generated text*: map each answer to a label, then accuracy / F1.

An audio LM answers in free text ("a dog is barking"), so a label must be recovered first.
Two mappings are reported side by side because papers use both:

* ``exact``: normalised string match (lowercase, punctuation -> space, drop a/an/the). The
  text maps to a label if it equals it, or else if exactly one label has all its words in
  the text (a label whose words are a subset of another matched label's words, e.g. "dog"
  inside "hot dog", yields to the longer one). Otherwise the sample gets no label (wrong).
* ``embed``: the LTU protocol. Embed the text and every label with ``encoder.embed_text``
  and take the label of highest cosine. Only when an encoder is given.

Empty answers get no label in both mappings. Macro-F1 averages the per-label F1 over the
labels that occur in the references or the mapped predictions (a label that occurs in
neither has an undefined 0/0 F1 and is skipped, so scoring a subset is not penalised).
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from mats_metrics._inputs import MetricInputError, check_pairing, str_list

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")
_ARTICLES = {"a", "an", "the"}


@lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """Lowercase, punctuation -> space, drop articles, collapse spaces."""
    words = _PUNCT.sub(" ", text.lower()).split()
    return " ".join(w for w in words if w not in _ARTICLES)


def map_exact(text: str, labels: Sequence[str]) -> str | None:
    """The label ``text`` names by normalised match, or None (see the module docstring)."""
    norm = normalize(text)
    if not norm:
        return None
    normalized = {label: normalize(label) for label in labels}
    for label, nl in normalized.items():
        if nl == norm:
            return label
    words = set(norm.split())
    hits = {label: set(nl.split()) for label, nl in normalized.items() if nl and set(nl.split()) <= words}
    hits = {label: w for label, w in hits.items() if not any(w < other for other in hits.values())}
    return next(iter(hits)) if len(hits) == 1 else None


def map_embed(texts: Sequence[str], labels: Sequence[str], encoder: Any, batch_size: int = 64) -> list[str | None]:
    """Nearest label by cosine of ``encoder.embed_text`` embeddings (LTU); None for empty text.

    Labels are embedded with underscores read as spaces ("dog_bark" -> "dog bark").
    """
    import torch
    import torch.nn.functional as F

    out: list[str | None] = [None] * len(texts)
    todo = [i for i, t in enumerate(texts) if t.strip()]
    if not todo:
        return out
    with torch.no_grad():
        lab = F.normalize(encoder.embed_text([label.replace("_", " ") for label in labels]).float(), dim=-1)
        if lab.shape[0] != len(labels):
            raise MetricInputError(f"encoder.embed_text returned {lab.shape[0]} rows for {len(labels)} labels")
        for start in range(0, len(todo), batch_size):
            idx = todo[start : start + batch_size]
            emb = F.normalize(encoder.embed_text([texts[i] for i in idx]).float(), dim=-1).to(lab.device)
            best = (emb @ lab.T).argmax(dim=-1).tolist()
            for i, b in zip(idx, best):
                out[i] = labels[b]
    return out


def accuracy_f1(mapped: Sequence[str | None], gold: Sequence[str], labels: Sequence[str]) -> tuple[float, float]:
    """(accuracy, macro-F1 over labels present in gold or mapped); None in ``mapped`` is a miss."""
    accuracy = sum(m == g for m, g in zip(mapped, gold)) / len(gold)
    f1s = []
    for label in labels:
        tp = sum(m == label and g == label for m, g in zip(mapped, gold))
        fp = sum(m == label and g != label for m, g in zip(mapped, gold))
        fn = sum(g == label and m != label for m, g in zip(mapped, gold))
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    return accuracy, sum(f1s) / len(f1s)


class ClassificationMetric:
    """``compute(predictions, references, labels, encoder=None)``.

    ``predictions``: generated texts; ``references``: gold labels (members of ``labels``);
    ``labels``: the label set. Returns accuracy_exact, f1_exact, unmapped_exact (share of
    answers that named no label), and accuracy_embed, f1_embed (None without an encoder).
    """

    name = "classification"
    headline = ["accuracy_exact", "accuracy_embed"]  # what tables show
    higher_is_better = {
        "accuracy_exact": True,
        "f1_exact": True,
        "unmapped_exact": False,
        "accuracy_embed": True,
        "f1_embed": True,
    }

    def compute(
        self,
        predictions: Sequence[str],
        references: Sequence[str],
        labels: Sequence[str] | None = None,
        encoder: Any = None,
        **context: Any,
    ) -> dict[str, float | None]:
        preds = str_list(predictions, "predictions", self.name)
        gold = str_list(references, "references", self.name, allow_empty_items=False)
        check_pairing(preds, gold, self.name)
        label_set = self._label_set(labels)
        unknown = sorted({g for g in gold if g not in label_set})
        if unknown:
            raise MetricInputError(
                f"classification metric: references {unknown[:5]} are not in labels {label_set[:10]}"
            )

        exact = [map_exact(p, label_set) for p in preds]
        acc_exact, f1_exact = accuracy_f1(exact, gold, label_set)
        scores: dict[str, float | None] = {
            "accuracy_exact": acc_exact,
            "f1_exact": f1_exact,
            "unmapped_exact": sum(m is None for m in exact) / len(exact),
            "accuracy_embed": None,
            "f1_embed": None,
        }
        if encoder is not None:
            if not callable(getattr(encoder, "embed_text", None)):
                raise MetricInputError(f"classification metric: encoder {type(encoder).__name__} has no embed_text()")
            scores["accuracy_embed"], scores["f1_embed"] = accuracy_f1(
                map_embed(preds, label_set, encoder), gold, label_set
            )
        return scores

    def sample_stats(
        self,
        predictions: Sequence[str],
        references: Sequence[str],
        labels: Sequence[str] | None = None,
        encoder: Any = None,
        **context: Any,
    ) -> Any:
        """Per-sample statistics for bootstrap intervals (optional capability, see mats_core.stats.intervals):
        accuracies and the unmapped share are means of 0/1 values; macro-F1 is recounted per resample."""
        import numpy as np

        from mats_core import SampleStats
        from mats_metrics._bootstrap import macro_f1_resampler

        preds = str_list(predictions, "predictions", self.name)
        gold = str_list(references, "references", self.name, allow_empty_items=False)
        check_pairing(preds, gold, self.name)
        label_set = self._label_set(labels)
        exact = [map_exact(p, label_set) for p in preds]
        means = {
            "accuracy_exact": np.array([m == g for m, g in zip(exact, gold)], dtype=float),
            "unmapped_exact": np.array([m is None for m in exact], dtype=float),
        }
        names, mapped = ["f1_exact"], [exact]
        if encoder is not None:
            embed = map_embed(preds, label_set, encoder)
            means["accuracy_embed"] = np.array([m == g for m, g in zip(embed, gold)], dtype=float)
            names.append("f1_embed")
            mapped.append(embed)
        return SampleStats(n=len(preds), means=means, corpus=macro_f1_resampler(names, mapped, gold, label_set))

    def _label_set(self, labels: Sequence[str] | None) -> list[str]:
        if labels is None:
            raise MetricInputError("classification metric: pass labels=[...], the task's label set")
        label_set = str_list(labels, "labels", self.name, allow_empty_items=False)
        if not label_set:
            raise MetricInputError("classification metric: labels is empty")
        seen: dict[str, str] = {}
        for label in label_set:
            key = normalize(label)
            if key in seen:
                raise MetricInputError(
                    f"classification metric: labels {seen[key]!r} and {label!r} are the same after normalisation"
                )
            seen[key] = label
        return label_set

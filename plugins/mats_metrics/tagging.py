"""Multi-label tagging (FSD50K) scored by mean average precision (mAP).

Each sample gets a score for every label; a label's average precision (AP) ranks the samples
by that score, ``AP = sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds taken in
decreasing order (tied scores form one threshold), which is scikit-learn's
``average_precision_score``. ``mAP`` is the macro mean over the labels with at least one
positive among the scored samples (a label with none has an undefined AP; FSD50K's eval set
has all 200). The scores come from one of two places:

* generated text, the LTU protocol: the cosine between ``encoder.embed_text`` of the answer
  and of every label name (an empty or failed answer scores below every cosine);
* ``scores=`` given directly ``[N, labels]`` (the CLAP zero-shot row: audio-label cosines).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

from mats_metrics._inputs import MetricInputError, check_pairing, reference_lists, str_list

NO_SCORE = -2.0  # below any cosine: where an answer is empty or its audio failed
NEEDS_ENCODER = "needs an alignment encoder (the LTU protocol: answer vs label-name text embeddings) or scores="


def weighted_ap(scores: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AP of one label on each of ``B`` weightings: scores, positive ``[n]``, weights ``[B, n]`` -> ``[B]``
    (NaN where a weighting holds no positive). Weights of 1 give scikit-learn's average_precision_score."""
    import numpy as np

    order = np.argsort(-scores, kind="stable")
    s, y, w = scores[order], positive[order].astype(np.float64), weights[:, order]
    ends = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # the last sample of each tied group
    tp = np.cumsum(w * y, axis=1)[:, ends]
    seen = np.cumsum(w, axis=1)[:, ends]
    total = tp[:, -1]
    precision = np.divide(tp, seen, out=np.zeros_like(tp), where=seen > 0)
    recall_step = np.diff(np.concatenate([np.zeros((len(tp), 1)), tp], axis=1), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (recall_step * precision).sum(axis=1) / total, np.nan)


def mean_average_precision(scores: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """mAP over labels with a positive: scores and 0/1 targets ``[n, C]``, weights ``[B, n]`` -> ``[B]``."""
    import numpy as np

    scores, targets = np.asarray(scores, dtype=np.float64), np.asarray(targets, dtype=bool)
    w = np.ones((1, len(scores))) if weights is None else np.asarray(weights, dtype=np.float64)
    aps = np.stack([weighted_ap(scores[:, c], targets[:, c], w) for c in range(targets.shape[1])], axis=1)
    with np.errstate(invalid="ignore"):
        counted = np.isfinite(aps).sum(axis=1)
        return np.where(counted > 0, np.nansum(aps, axis=1) / np.maximum(counted, 1), np.nan)


def text_scores(texts: Sequence[str], labels: Sequence[str], encoder: Any, batch_size: int = 64) -> np.ndarray:
    """``[N, C]`` cosines between each text's and each label's ``embed_text`` (LTU); NO_SCORE for empty text."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    out = np.full((len(texts), len(labels)), NO_SCORE)
    todo = [i for i, t in enumerate(texts) if t.strip()]
    with torch.no_grad():
        lab = F.normalize(encoder.embed_text(list(labels)).float(), dim=-1)
        for start in range(0, len(todo), batch_size):
            idx = todo[start : start + batch_size]
            emb = F.normalize(encoder.embed_text([texts[i] for i in idx]).float(), dim=-1).to(lab.device)
            out[idx] = (emb @ lab.T).cpu().numpy()
    return out


class TaggingMetric:
    """``compute(predictions, references, labels, encoder=None, scores=None)``: ``mAP`` and ``labels_scored``.

    ``references``: each sample's gold labels (members of ``labels``)."""

    name = "tagging"
    headline = ["mAP"]
    higher_is_better = {"mAP": True}
    notes: dict[str, str] = {}

    def _inputs(self, predictions, references, labels, encoder, scores) -> tuple[np.ndarray | None, np.ndarray]:
        import numpy as np

        preds = str_list(predictions, "predictions", self.name)
        gold = reference_lists(references, self.name)
        check_pairing(preds, gold, self.name)
        labels = list(labels or [])
        index = {label: i for i, label in enumerate(labels)}
        unknown = sorted({g for refs in gold for g in refs if g not in index})
        if unknown:
            raise MetricInputError(f"tagging metric: references {unknown[:5]} are not in labels {labels[:10]}")
        targets = np.zeros((len(gold), len(labels)), dtype=bool)
        for i, refs in enumerate(gold):
            targets[i, [index[g] for g in refs]] = True
        if scores is not None:
            scores = np.asarray(scores, dtype=np.float64)
            if scores.shape != targets.shape:
                raise MetricInputError(f"tagging metric: scores have shape {scores.shape}, expected {targets.shape}")
            return np.where(np.isfinite(scores), scores, NO_SCORE), targets
        if encoder is None:
            return None, targets
        return text_scores(preds, labels, encoder), targets

    def compute(
        self,
        predictions: Sequence[str],
        references: Sequence[Any],
        labels: Sequence[str] | None = None,
        encoder: Any = None,
        scores: Any = None,
        **context: Any,
    ) -> dict[str, float | None]:
        import numpy as np

        matrix, targets = self._inputs(predictions, references, labels, encoder, scores)
        self.notes = {} if matrix is not None else {"mAP": NEEDS_ENCODER}
        value = None if matrix is None else float(mean_average_precision(matrix, targets)[0])
        return {
            "mAP": None if value is None or np.isnan(value) else value,
            "labels_scored": float(targets.any(axis=0).sum()),
        }

    def sample_stats(
        self,
        predictions: Sequence[str],
        references: Sequence[Any],
        labels: Sequence[str] | None = None,
        encoder: Any = None,
        scores: Any = None,
        **context: Any,
    ) -> Any:
        """The scores are computed once; each resample reweights the samples (bootstrap counts)."""
        from mats_core import SampleStats

        matrix, targets = self._inputs(predictions, references, labels, encoder, scores)
        if matrix is None:
            return SampleStats(n=len(targets), notes={"mAP": NEEDS_ENCODER})
        return SampleStats(
            n=len(targets), corpus=lambda counts: {"mAP": mean_average_precision(matrix, targets, counts)}
        )

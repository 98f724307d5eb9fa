"""Short-answer QA (e.g. Clotho-AQA): exact-match accuracy plus WER / CER (jiwer).

Both sides are normalised the jiwer way first (lowercase, remove punctuation, collapse
spaces, strip), so "Yes." matches "yes". With several references per question a prediction
is correct if it matches any of them, and WER / CER use, per question, the reference closest
to the prediction (the usual multi-reference convention); the rates are corpus-level
(total edits / total reference words or characters), as ``jiwer.wer`` on lists computes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from mats_metrics._inputs import MetricInputError, check_pairing, reference_lists, str_list


@lru_cache(maxsize=1)
def _transform() -> Any:
    import jiwer

    return jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(), jiwer.Strip()])


def normalize(text: str) -> str:
    """Lowercase, remove punctuation, collapse spaces, strip (jiwer's transforms)."""
    return _transform()(text)


def _edits(out: Any) -> int:
    return out.substitutions + out.deletions + out.insertions


def _closest(refs: list[str], hyp: str, process: Any) -> str:
    """The reference with fewest edits to ``hyp`` (first one on ties)."""
    if len(refs) == 1:
        return refs[0]
    return min(refs, key=lambda r: _edits(process([r], [hyp])))


class QAMetric:
    """``compute(predictions, references: list[str] | list[list[str]])`` -> accuracy, wer, cer."""

    name = "qa"
    headline = ["accuracy", "wer"]  # what tables show
    higher_is_better = {"accuracy": True, "wer": False, "cer": False}

    def compute(self, predictions: Sequence[str], references: Sequence[Any], **context: Any) -> dict[str, float | None]:
        import jiwer

        preds, norm_refs = self._normalized(predictions, references)
        accuracy = sum(p in r for p, r in zip(preds, norm_refs)) / len(preds)
        word_refs = [_closest(r, p, jiwer.process_words) for p, r in zip(preds, norm_refs)]
        char_refs = [_closest(r, p, jiwer.process_characters) for p, r in zip(preds, norm_refs)]
        return {
            "accuracy": accuracy,
            "wer": float(jiwer.process_words(word_refs, preds).wer),
            "cer": float(jiwer.process_characters(char_refs, preds).cer),
        }

    def sample_stats(self, predictions: Sequence[str], references: Sequence[Any], **context: Any) -> Any:
        """Per-sample statistics for bootstrap intervals (optional capability, see mats_core.stats.intervals):
        accuracy is a mean of 0/1 values; WER / CER are re-totalled (edits / reference length) per resample."""
        import jiwer
        import numpy as np

        from mats_core import SampleStats
        from mats_metrics._bootstrap import ratio_resampler

        preds, norm_refs = self._normalized(predictions, references)
        correct = np.array([p in r for p, r in zip(preds, norm_refs)], dtype=float)
        edits, lengths = [], []
        for process in (jiwer.process_words, jiwer.process_characters):
            e, n = [], []
            for p, r in zip(preds, norm_refs):
                out = process([_closest(r, p, process)], [p])
                e.append(_edits(out))
                n.append(out.hits + out.substitutions + out.deletions)
            edits.append(e)
            lengths.append(n)
        return SampleStats(
            n=len(preds), means={"accuracy": correct}, corpus=ratio_resampler(["wer", "cer"], edits, lengths)
        )

    def _normalized(self, predictions: Sequence[str], references: Sequence[Any]) -> tuple[list[str], list[list[str]]]:
        preds = [normalize(p) for p in str_list(predictions, "predictions", self.name)]
        refs = reference_lists(references, self.name)
        check_pairing(preds, refs, self.name)
        norm_refs = []
        for i, items in enumerate(refs):
            normed = [normalize(r) for r in items]
            if not all(normed):
                raise MetricInputError(
                    f"qa metric: references[{i}] = {items!r} has an answer that is empty after removing punctuation"
                )
            norm_refs.append(normed)
        return preds, norm_refs

"""Captioning metrics exactly as the COCO / audio-captioning literature computes them.

The numbers come from pycocoevalcap's own scorers (PTB tokenisation, BLEU-1..4, METEOR 1.5,
ROUGE-L, CIDEr-D, SPICE) so results are comparable with published AudioCaps / Clotho tables.
This module only makes the calls robust: one tokeniser JVM for predictions and references,
one METEOR JVM per metric object, and inputs that cannot silently misalign lines.

SPICE needs Stanford CoreNLP 3.6.0 next to pycocoevalcap's SPICE jar; pycocoevalcap would
download it on first use. We never trigger that download: when the jars are missing,
``spice`` and ``spider`` are ``None`` and :attr:`CaptionMetric.notes` says why.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mats_core import MatsError
from mats_metrics._inputs import check_pairing, reference_lists, str_list

CORENLP_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")
SCORE_NAMES = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider", "spice", "spider", "distinct")


def spice_lib_dir() -> Path:
    """Where pycocoevalcap's SPICE looks for its jars (importing it downloads nothing)."""
    from pycocoevalcap.spice import spice

    return Path(spice.__file__).parent / "lib"


def spice_missing() -> str | None:
    """Why SPICE cannot run here, or None when it can (checks files only; downloads nothing)."""
    lib = spice_lib_dir()
    missing = [jar for jar in CORENLP_JARS if not (lib / jar).is_file()]
    if missing:
        return (
            f"SPICE needs Stanford CoreNLP 3.6.0 ({', '.join(missing)} missing in {lib}); pycocoevalcap would "
            "download it from nlp.stanford.edu on first use, which mats-bench never triggers. Copy "
            "stanford-corenlp-3.6.0.jar and stanford-corenlp-3.6.0-models.jar from stanford-corenlp-full-2015-12-09 "
            "there to enable SPICE and SPIDEr"
        )
    return None


def one_line(text: str) -> str:
    """Replace every line separator Java would split on (\\r, \\u2028, ...) with a space.

    PTBTokenizer maps outputs back to captions by line number, so a stray ``\\r`` would shift
    every following caption onto the wrong sample without any error.
    """
    return " ".join(text.splitlines())


class CaptionMetric:
    """``compute(predictions: list[str], references: list[list[str]]) -> {name: float | None}``.

    Returns bleu_1..bleu_4, meteor, rouge_l, cider (coco-caption's CIDEr-D), spice and spider
    (``(cider + spice) / 2``), and ``distinct``: the share of distinct predictions (after PTB
    tokenisation), 1/n when a model writes one caption for every clip. ``notes`` maps a metric reported as None to the reason. Empty
    predictions score 0; empty references are rejected. Call :meth:`close` (or use ``with``)
    to stop the METEOR JVM early; it is also stopped when the object is garbage-collected.
    """

    name = "caption"
    headline = ["bleu_4", "meteor", "rouge_l", "cider", "spider"]  # what tables show
    higher_is_better = {k: True for k in SCORE_NAMES}

    def __init__(self) -> None:
        self._meteor: Any = None
        self._spice_error: str | None = None
        self._tokenized: dict[int, tuple[dict, dict]] = {}  # a few recent inputs: sample_stats reuses score's JVM call

    @property
    def notes(self) -> dict[str, str]:
        reason = self._spice_error or spice_missing()
        return {"spice": reason, "spider": f"SPIDEr = (CIDEr + SPICE) / 2 needs SPICE: {reason}"} if reason else {}

    def compute(self, predictions: Sequence[str], references: Sequence[Any], **context: Any) -> dict[str, float | None]:
        preds = str_list(predictions, "predictions", self.name)
        refs = reference_lists(references, self.name)
        check_pairing(preds, refs, self.name)
        if shutil.which("java") is None:
            raise MatsError(
                "caption metrics run Java (PTB tokeniser, METEOR): install a JRE, "
                "e.g. apt-get install openjdk-17-jre-headless"
            )
        gts, res = self._tokenize(preds, refs)

        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.rouge.rouge import Rouge

        bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
        scores: dict[str, float | None] = {f"bleu_{i + 1}": float(b) for i, b in enumerate(bleu)}
        scores["meteor"] = self._meteor_score(gts, res)
        scores["rouge_l"] = float(Rouge().compute_score(gts, res)[0])
        scores["cider"] = float(Cider().compute_score(gts, res)[0])
        scores["spice"] = self._spice_score(gts, res)
        scores["spider"] = None if scores["spice"] is None else (scores["cider"] + scores["spice"]) / 2
        scores["distinct"] = len({" ".join(res[i]) for i in res}) / len(res) if res else None
        return scores

    def sample_stats(self, predictions: Sequence[str], references: Sequence[Any], **context: Any) -> Any:
        """Per-sample statistics for bootstrap intervals (optional capability, see mats_core.stats.intervals).

        ROUGE-L is a mean of per-sample scores; BLEU and CIDEr-D are recomputed per resample from
        n-gram counts (CIDEr-D's idf on the resample). METEOR's corpus score comes from the
        METEOR jar's aggregate statistics, not from its segment scores: no interval.
        """
        import numpy as np
        from pycocoevalcap.rouge.rouge import Rouge

        from mats_core import SampleStats
        from mats_metrics._bootstrap import bleu_resampler, cider_resampler, merge

        preds = str_list(predictions, "predictions", self.name)
        refs = reference_lists(references, self.name)
        check_pairing(preds, refs, self.name)
        gts, res = self._tokenize(preds, refs)
        rouge = Rouge()
        means = {"rouge_l": np.array([rouge.calc_score(res[i], gts[i]) for i in range(len(preds))])}
        notes = {
            "meteor": "no interval: METEOR's corpus score is aggregated inside the METEOR jar; its segment scores do not average to it"
        }
        return SampleStats(
            n=len(preds), means=means, corpus=merge(bleu_resampler(gts, res), cider_resampler(gts, res)), notes=notes
        )

    def _tokenize(self, preds: list[str], refs: list[list[str]]) -> tuple[dict, dict]:
        key = hash((tuple(preds), tuple(map(tuple, refs))))
        if key not in self._tokenized:
            if len(self._tokenized) >= 8:
                self._tokenized.pop(next(iter(self._tokenized)))
            self._tokenized[key] = tokenize(preds, refs)
        return self._tokenized[key]

    # -- JVM-backed scorers ------------------------------------------------------------
    def _meteor_score(self, gts: dict, res: dict) -> float:
        from pycocoevalcap.meteor.meteor import Meteor

        if self._meteor is None:
            self._meteor = Meteor()
        try:
            return float(self._meteor.compute_score(gts, res)[0])
        except (ValueError, OSError) as exc:  # the JVM died: readline() gave b"" or the pipe broke
            meteor, self._meteor = self._meteor, None
            meteor.meteor_p.kill()
            meteor.meteor_p.wait(timeout=30)
            err = meteor.meteor_p.stderr.read().decode(errors="replace").strip()[-2000:]
            if meteor.lock.locked():  # compute_score died holding it; Meteor.__del__ would deadlock
                meteor.lock.release()
            raise MatsError(
                f"METEOR (java -jar meteor-1.5.jar) failed: {exc}. Java said: {err or '(nothing)'}"
            ) from None

    def _spice_score(self, gts: dict, res: dict) -> float | None:
        if spice_missing() is not None:
            return None
        from pycocoevalcap.spice.spice import Spice

        try:
            self._spice_error = None
            return float(Spice().compute_score(gts, res)[0])
        except (subprocess.CalledProcessError, OSError, ValueError) as exc:
            self._spice_error = f"SPICE (java -jar spice-1.0.jar) failed: {exc}"
            return None

    def close(self) -> None:
        """Stop the METEOR JVM (pycocoevalcap's Meteor kills its process when deleted)."""
        self._meteor = None

    def __enter__(self) -> CaptionMetric:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tokenize(predictions: list[str], references: list[list[str]]) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """PTB-tokenise references and predictions in one JVM call: ``(gts, res)`` keyed by index.

    Identical to tokenising them separately (``-preserveLines`` tokenises line by line).
    """
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    n = len(predictions)
    captions = {i: [{"caption": one_line(r)} for r in refs] for i, refs in enumerate(references)}
    captions.update({n + i: [{"caption": one_line(p)}] for i, p in enumerate(predictions)})
    try:
        out = PTBTokenizer().tokenize(captions)
    except PermissionError as exc:
        raise MatsError(
            f"pycocoevalcap's PTBTokenizer writes a temporary file next to its jar and cannot: {exc}. "
            "Make that directory writable (e.g. install mats-bench in a virtual environment)"
        ) from None
    for key, items in captions.items():
        if len(out.get(key, ())) != len(items):
            raise MatsError(
                f"PTB tokeniser returned {len(out.get(key, ()))} lines for caption group {key}, expected {len(items)}"
            )
    return {i: out[i] for i in range(n)}, {i: out[n + i] for i in range(n)}

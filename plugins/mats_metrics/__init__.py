"""mats_metrics: the built-in metrics plugin (``caption``, ``classification``, ``qa``, ``tagging``).

Written as any third-party plugin is: one module-level hookimpl calling ``register``.
The metric classes import pycocoevalcap / jiwer / torch only when they compute.

    caption         BLEU-1..4, METEOR, ROUGE-L, CIDEr-D (+ SPICE, SPIDEr when CoreNLP 3.6.0 is present)
    classification  accuracy / macro-F1 of generated text mapped to labels (exact match, CLAP-embedding LTU)
    qa              exact-match accuracy, WER, CER
    tagging         multi-label mAP (FSD50K): answer-vs-label text-embedding cosines (LTU), or given scores
    hf-evaluate     any Hugging Face ``evaluate`` metric, from a local script directory or the Hub
                    (optional: pip install 'mats-bench[evaluate]'; imported only when built)
"""

from __future__ import annotations

from mats_core import hookimpl
from mats_metrics.caption import CaptionMetric
from mats_metrics.classification import ClassificationMetric
from mats_metrics.hf_evaluate import HFEvaluateMetric
from mats_metrics.qa import QAMetric
from mats_metrics.tagging import TaggingMetric

__all__ = ["CaptionMetric", "ClassificationMetric", "HFEvaluateMetric", "QAMetric", "TaggingMetric", "register_metrics"]


@hookimpl
def register_metrics(register):
    register("caption", CaptionMetric)
    register("classification", ClassificationMetric)
    register("qa", QAMetric)
    register("tagging", TaggingMetric)
    register("hf-evaluate", HFEvaluateMetric)

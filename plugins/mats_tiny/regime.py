"""The tiny world's regime: the numbers that say whether it can tell methods apart.

A world where the memory bank nearly always holds a test clip's caption verbatim rewards
retrieval over listening, and one whose questions are answered by the question text rewards
priors over audio. These measures (recorded by ``mats-bench tiny build`` in metadata.json
and shown by ``mats-bench tiny info``) make that property measured, not assumed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

import numpy as np

from mats_core.regime import memory_only_bound
from mats_tiny import data, text
from mats_tiny.world import CLASSES

MEMORY_SIZE = 5172  # mats-bench's default --memory-size (the paper's bank)


def memory_bank_texts(records: Sequence[dict], size: int = MEMORY_SIZE, seed: int = 0) -> list[str]:
    """The captions the default memory bank of a run holds (the core's own draw)."""
    from mats_core.corpus import memory_bank_draw

    texts, pick = memory_bank_draw(list(records), size, seed)
    return [texts[i] for i in pick]


def class_frequencies(scenes: Sequence) -> dict[str, Any]:
    """How long the tail is: the share of source mentions of the commonest class and of the
    rarest half, and the smallest per-class count."""
    counts = Counter(c for s in scenes for c in s.classes)
    values = sorted((counts.get(c, 0) for c in CLASSES), reverse=True)
    total = max(sum(values), 1)
    return {
        "head_class_share": values[0] / total,
        "tail_half_share": sum(values[len(values) // 2 :]) / total,
        "min_class_count": float(values[-1]),
        "max_class_count": float(values[0]),
    }


def world_regime(encoder, records: Sequence[dict], test_scenes: Sequence, quality: dict, metric=None) -> dict[str, Any]:
    """Regime numbers of a build: verbatim-in-bank share (target <= 0.05), the memory-only
    upper bound (CIDEr-D of the bank caption nearest, in CLAP text space, to each clip's
    references), zero-shot accuracy, the paired audio-caption cosine (CLAP-like: 0.3-0.5),
    the clean-text-probe transfer gap, the held-out share and the class-frequency tail."""
    bank = memory_bank_texts(records)
    refs = [text.captions(s, k=5) for s in test_scenes]
    bank_set = set(bank)
    out: dict[str, Any] = {
        "memory_size": float(len(bank)),
        "verbatim_in_bank_share": float(np.mean([any(r in bank_set for r in rs) for rs in refs])),
        "heldout_test_share": float(np.mean([data.is_heldout(s) for s in test_scenes])),
        "zero_shot_accuracy": quality.get("zero_shot_accuracy"),
        "paired_cosine": quality.get("paired_cosine"),
    }
    probe = quality.get("gap_probe") or {}
    if probe:
        out["probe_transfer_gap"] = probe["clean_text_accuracy"] - probe["clean_audio_accuracy"]
    if metric is not None:  # the same bound `mats-bench regime` reports (memory_only_bound_cider)
        out["oracle_bank_cider"] = memory_only_bound(encoder=encoder, bank=bank, references=refs, metric=metric)
    out.update({f"train_{k}": v for k, v in class_frequencies(data.make_scenes("text-train", len(records))).items()})
    return out

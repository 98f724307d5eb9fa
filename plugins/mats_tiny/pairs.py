"""The paired (audio + text) corpus of the tiny world, for the MATS-Audio reference.

MATS-Audio is the audio-supervised upper bound: the same mapper and LLM trained on CLAP
*audio* embeddings of clips paired with the same kind of {instruction, answer} records
(`mats-bench train --supervision audio --corpus tiny-pairs`). It uses the `clap-pairs`
split, the only one whose audio a model may see in training.
"""

from __future__ import annotations

from typing import Any, Iterable

from mats_tiny import data
from mats_tiny.world import SAMPLE_RATE, render


class TinyPairsCorpus:
    name = "tiny-pairs"

    def __init__(self, n: int | None = None, seed: int = 0):
        self.n, self.seed = n, seed

    def records(self) -> Iterable[dict[str, Any]]:
        for scene in data.make_scenes("clap-pairs", self.n, self.seed):
            yield {**data.text_record(scene), "audio": render(scene), "sample_rate": SAMPLE_RATE}

"""Factories of the field's caption corpora (``mats-bench train --corpus audiocaps --data-root DIR``),
registered by ``mats_datasets.register_corpora``; the readers (``mats_datasets.corpora``) load on build.

    audiocaps   AudioCaps captions     DIR/audiocaps   split train (val, test)
    clotho      Clotho v2.1 captions   DIR/clotho      split development (validation, evaluation)
    wavcaps     WavCaps captions       DIR/wavcaps     subsets: all found (AudioSet_SL, BBC_Sound_Effects, FreeSound, SoundBible)
    macs        MACS captions          DIR/macs        MACS.yaml

``path`` names the dataset folder itself; ``limit`` keeps the first N captions; ``task_token`` (e.g.
``[audio caption clotho]``) goes before the instruction, as the published MATS training does.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

Limit = Annotated[int, Field(ge=1)] | None
Subset = Literal["AudioSet_SL", "BBC_Sound_Effects", "FreeSound", "SoundBible"]


def audiocaps_corpus(
    data_root: str | None = None,
    path: str | None = None,
    split: Literal["train", "val", "test"] = "train",
    limit: Limit = None,
    task_token: str | None = None,
):
    """AudioCaps captions as text-only training records (official CSVs)."""
    from mats_datasets.corpora import AudioCapsCorpus

    return AudioCapsCorpus(split=split, data_root=data_root, path=path, limit=limit, task_token=task_token)


def clotho_corpus(
    data_root: str | None = None,
    path: str | None = None,
    split: Literal["development", "validation", "evaluation"] = "development",
    limit: Limit = None,
    task_token: str | None = None,
):
    """Clotho v2.1 captions (five per clip) as text-only training records."""
    from mats_datasets.corpora import ClothoCorpus

    return ClothoCorpus(split=split, data_root=data_root, path=path, limit=limit, task_token=task_token)


def wavcaps_corpus(
    data_root: str | None = None,
    path: str | None = None,
    subsets: list[Subset] | None = None,
    limit: Limit = None,
    task_token: str | None = None,
):
    """WavCaps captions (its json_files/*/*.json) as text-only training records."""
    from mats_datasets.corpora import WavCapsCorpus

    return WavCapsCorpus(subsets=subsets, data_root=data_root, path=path, limit=limit, task_token=task_token)


def macs_corpus(
    data_root: str | None = None, path: str | None = None, limit: Limit = None, task_token: str | None = None
):
    """MACS annotators' sentences (MACS.yaml) as text-only training records."""
    from mats_datasets.corpora import MACSCorpus

    return MACSCorpus(data_root=data_root, path=path, limit=limit, task_token=task_token)


CORPORA = {"audiocaps": audiocaps_corpus, "clotho": clotho_corpus, "wavcaps": wavcaps_corpus, "macs": macs_corpus}

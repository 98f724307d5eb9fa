"""mats_datasets: the benchmarks of the MATS paper, read from their official layouts.

Tasks (``mats-bench run --tasks clotho,esc50 --data-root DIR``; DIR holds one folder per
dataset under the default names below, or pass ``path`` for the dataset folder itself):

    clotho        captioning    Clotho v2.1               DIR/clotho        split evaluation
    audiocaps     captioning    AudioCaps                 DIR/audiocaps     split test
    musiccaps     captioning    MusicCaps (music prompt)  DIR/musiccaps     split eval
    esc50         classification ESC-50                   DIR/esc50         all folds (fold=, esc10=)
    urbansound8k  classification UrbanSound8K             DIR/urbansound8k  all folds (fold=)
    vggsound      classification VGGSound                 DIR/vggsound      split test
    clotho-aqa    qa            Clotho-AQA                DIR/clotho-aqa    split test
    mmau          qa (choices)  MMAU                      DIR/mmau          split test-mini (accuracy per task/category)
    fsd50k        classification FSD50K (multi-label, mAP) DIR/fsd50k       split eval
    jsonl         any kind      a JSONL manifest (path=FILE): a new dataset with no code

Corpora (text-only training captions, `mats-bench train --corpus audiocaps --data-root DIR`): audiocaps,
clotho, wavcaps, macs (mats_datasets.corpus_registry).

Written as any third-party plugin is; the task modules are imported by the factories only.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mats_core import hookimpl
from mats_datasets._common import DEFAULT_LABEL_PROMPT

MMAU_PROMPT = "{question} Choose the answer from the following options: {choices}."  # mats_datasets.multiple_choice.DEFAULT_PROMPT

Limit = Annotated[int, Field(ge=1)] | None
LabelPrompt = Annotated[str, Field(pattern=r"\{label\}")]


def _where(name: str, data_root: str | None, path: str | None, folders: tuple[str, ...], layout: str):
    from mats_datasets._common import dataset_folder

    return dataset_folder(name, data_root, path, folders, layout)


def clotho(
    data_root: str | None = None,
    path: str | None = None,
    split: Literal["development", "validation", "evaluation"] = "evaluation",
    limit: Limit = None,
):
    """Clotho v2.1 captioning (5 references per clip)."""
    from mats_datasets.captioning import CLOTHO_LAYOUT, Clotho

    folder = _where("clotho", data_root, path, ("clotho", "Clotho"), CLOTHO_LAYOUT)
    return Clotho("clotho", folder, split, limit)


def audiocaps(
    data_root: str | None = None,
    path: str | None = None,
    split: Literal["train", "val", "test"] = "test",
    limit: Limit = None,
):
    """AudioCaps captioning (val/test: 5 references per clip)."""
    from mats_datasets.captioning import AUDIOCAPS_LAYOUT, AudioCaps

    folder = _where("audiocaps", data_root, path, ("audiocaps", "AudioCaps"), AUDIOCAPS_LAYOUT)
    return AudioCaps("audiocaps", folder, split, limit)


def musiccaps(
    data_root: str | None = None,
    path: str | None = None,
    split: Literal["eval", "train", "all"] = "eval",
    limit: Limit = None,
):
    """MusicCaps music captioning; eval = the is_audioset_eval clips."""
    from mats_datasets.captioning import MUSICCAPS_LAYOUT, MusicCaps

    folder = _where("musiccaps", data_root, path, ("musiccaps", "MusicCaps"), MUSICCAPS_LAYOUT)
    return MusicCaps("musiccaps", folder, split, limit)


def esc50(
    data_root: str | None = None,
    path: str | None = None,
    split: Literal["all"] = "all",
    limit: Limit = None,
    fold: Annotated[int, Field(ge=1, le=5)] | None = None,
    esc10: bool = False,
    label_prompt: LabelPrompt = DEFAULT_LABEL_PROMPT,
):
    """ESC-50 (50 classes; esc10=True: the ESC-10 subset and its 10 classes)."""
    from mats_datasets.classification import ESC50, ESC50_LAYOUT

    folder = _where("esc50", data_root, path, ("esc50", "ESC-50", "ESC-50-master"), ESC50_LAYOUT)
    return ESC50("esc50", folder, split, limit, fold=fold, esc10=esc10, label_prompt=label_prompt)


def urbansound8k(
    data_root: str | None = None,
    path: str | None = None,
    split: Literal["all"] = "all",
    limit: Limit = None,
    fold: Annotated[int, Field(ge=1, le=10)] | None = None,
    label_prompt: LabelPrompt = DEFAULT_LABEL_PROMPT,
):
    """UrbanSound8K (10 classes, 10 folds)."""
    from mats_datasets.classification import URBANSOUND_LAYOUT, UrbanSound8K

    folder = _where("urbansound8k", data_root, path, ("urbansound8k", "UrbanSound8K"), URBANSOUND_LAYOUT)
    return UrbanSound8K("urbansound8k", folder, split, limit, fold=fold, label_prompt=label_prompt)


def vggsound(
    data_root: str | None = None,
    path: str | None = None,
    split: Literal["test", "train", "all"] = "test",
    limit: Limit = None,
    label_prompt: LabelPrompt = DEFAULT_LABEL_PROMPT,
):
    """VGGSound (about 310 classes)."""
    from mats_datasets.classification import VGGSOUND_LAYOUT, VGGSound

    folder = _where("vggsound", data_root, path, ("vggsound", "VGGSound"), VGGSOUND_LAYOUT)
    return VGGSound("vggsound", folder, split, limit, label_prompt=label_prompt)


def clotho_aqa(
    data_root: str | None = None,
    path: str | None = None,
    split: Literal["train", "val", "test"] = "test",
    limit: Limit = None,
):
    """Clotho-AQA question answering (annotators' answers as references)."""
    from mats_datasets.qa import CLOTHO_AQA_LAYOUT, ClothoAQA

    folder = _where("clotho-aqa", data_root, path, ("clotho-aqa", "clotho_aqa", "Clotho-AQA"), CLOTHO_AQA_LAYOUT)
    return ClothoAQA("clotho-aqa", folder, split, limit)


def mmau(
    data_root: str | None = None,
    path: str | None = None,
    split: Literal["test-mini", "test"] = "test-mini",
    limit: Limit = None,
    prompt: Annotated[str, Field(pattern=r"\{question\}[\s\S]*\{choices\}")] = MMAU_PROMPT,
):
    """MMAU multiple-choice audio reasoning: accuracy overall and per task (sound, music, speech),
    difficulty and category, answers matched to a choice by the benchmark's own rule. ``prompt``
    formats each question (``{question}``, ``{choices}``); it is recorded in results.json notes."""
    from mats_datasets.multiple_choice import MMAU, MMAU_LAYOUT

    folder = _where("mmau", data_root, path, ("mmau", "MMAU"), MMAU_LAYOUT)
    return MMAU("mmau", folder, split, limit, prompt=prompt)


def fsd50k(
    data_root: str | None = None,
    path: str | None = None,
    split: Literal["eval", "dev", "train", "val"] = "eval",
    limit: Limit = None,
    label_prompt: LabelPrompt = DEFAULT_LABEL_PROMPT,
):
    """FSD50K multi-label tagging (200 classes): mAP, by the LTU protocol for generated text and by
    audio-label cosines for the CLAP zero-shot row."""
    from mats_datasets.tagging import FSD50K, FSD50K_LAYOUT

    folder = _where("fsd50k", data_root, path, ("fsd50k", "FSD50K"), FSD50K_LAYOUT)
    return FSD50K("fsd50k", folder, split, limit, label_prompt=label_prompt)


def jsonl(
    path: str | None = None,
    data_root: str | None = None,
    split: str | None = None,
    limit: Limit = None,
    task_kind: Literal["caption", "classification", "qa"] | None = None,
    labels: list[str] | None = None,
    label_prompt: LabelPrompt = DEFAULT_LABEL_PROMPT,
):
    """Any dataset as a JSONL manifest (path=FILE). ``task_kind`` (caption | classification | qa) is read off
    the fields when not given; it is not called ``kind`` because ``build(kind, name, ...)`` takes that name."""
    from mats_datasets.manifest import ManifestTask, manifest_path

    return ManifestTask(manifest_path(path, data_root), task_kind, labels, split, limit, label_prompt)


@hookimpl
def register_tasks(register):
    register("clotho", clotho)
    register("audiocaps", audiocaps)
    register("musiccaps", musiccaps)
    register("esc50", esc50)
    register("urbansound8k", urbansound8k)
    register("vggsound", vggsound)
    register("clotho-aqa", clotho_aqa)
    register("mmau", mmau)
    register("fsd50k", fsd50k)
    register("jsonl", jsonl)


@hookimpl
def register_corpora(register):
    from mats_datasets.corpus_registry import CORPORA  # the field's caption corpora, text only

    for name, factory in CORPORA.items():
        register(name, factory)

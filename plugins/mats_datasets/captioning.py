"""Captioning tasks in their official layouts: Clotho v2.1, AudioCaps and MusicCaps.

Scored with the ``caption`` metric (BLEU, METEOR, ROUGE-L, CIDEr-D, SPICE/SPIDEr when
available) against every reference caption of a clip, as the papers do.
"""

from __future__ import annotations

from pathlib import Path

from mats_core import MatsError, Sample
from mats_datasets._audio import AudioIndex
from mats_datasets._common import (
    CAPTION_PROMPT,
    MUSIC_PROMPT,
    as_bool,
    as_float,
    inside,
    metadata_file,
    read_csv,
)
from mats_datasets._task import DatasetTask

CLOTHO_LAYOUT = """\
  clotho/
    clotho_captions_development.csv   file_name,caption_1,...,caption_5
    clotho_captions_validation.csv
    clotho_captions_evaluation.csv
    development/  validation/  evaluation/   the audio (*.wav), one folder per split"""

AUDIOCAPS_LAYOUT = """\
  audiocaps/
    train.csv  val.csv  test.csv   audiocap_id,youtube_id,start_time,caption (github.com/cdjkim/audiocaps)
    test/ (one folder per split) or audio/ or the folder itself: <youtube_id>[_<start>].wav|flac|mp3|ogg
                                   (a 'Y' prefix, as AudioSet downloads have, is fine)"""

MUSICCAPS_LAYOUT = """\
  musiccaps/
    musiccaps-public.csv   ytid,start_s,end_s,audioset_positive_labels,aspect_list,caption,author_id,
                           is_balanced_subset,is_audioset_eval
    audio/ or the folder itself: <ytid>[_<start>].wav|flac|mp3|ogg"""


class Clotho(DatasetTask):
    """Clotho v2.1: five captions per clip; the paper evaluates on the evaluation split."""

    kind = "caption"
    splits = ("development", "validation", "evaluation")
    layout = CLOTHO_LAYOUT

    def metadata(self, split: str) -> list[Path]:
        return [metadata_file(self.name, self.folder, f"clotho_captions_{split}.csv", self.layout)]

    def load(self, split: str) -> list[Sample]:
        (csv_path,) = self.metadata(split)
        columns = ["file_name"] + [f"caption_{i}" for i in range(1, 6)]
        out, seen = [], {}
        for line, row in read_csv(csv_path, columns):
            name = row["file_name"]
            if not name:
                raise MatsError(f"{csv_path}:{line}: empty file_name")
            if name in seen:
                raise MatsError(f"{csv_path}:{line}: file_name {name!r} already listed on line {seen[name]}")
            seen[name] = line
            refs = [row[c] for c in columns[1:] if row[c]]
            if not refs:
                raise MatsError(f"{csv_path}:{line}: {name!r} has no caption (caption_1..caption_5 are empty)")
            audio = inside(self.folder / split, name, f"{csv_path}:{line}", "file_name").absolute()
            out.append(
                Sample(
                    id=name,
                    audio=str(audio),
                    instruction=CAPTION_PROMPT,
                    references=refs,
                    meta={"file_name": name, "split": split},
                )
            )
        return out


class YouTubeCaptions(DatasetTask):
    """Shared by AudioCaps and MusicCaps: clips named by YouTube id, audio found by index."""

    kind = "caption"

    def audio_folders(self, split: str) -> list[Path]:
        raise NotImplementedError

    def _index(self, split: str) -> AudioIndex:
        return AudioIndex(self.audio_folders(split))

    def _audio(self, index: AudioIndex, ytid: str, start: float) -> tuple[str, bool]:
        found = index.clip(ytid, start)
        return (str(found), True) if found else (str(index.expected(f"{ytid}.wav")), False)


class AudioCaps(YouTubeCaptions):
    """AudioCaps: val/test list five captions per clip on five rows, grouped into one sample."""

    splits = ("train", "val", "test")
    layout = AUDIOCAPS_LAYOUT

    def metadata(self, split: str) -> list[Path]:
        return [metadata_file(self.name, self.folder, f"{split}.csv", self.layout)]

    def audio_folders(self, split: str) -> list[Path]:
        return [self.folder / split, self.folder / "audio" / split, self.folder / "audio", self.folder]

    def load(self, split: str) -> list[Sample]:
        (csv_path,) = self.metadata(split)
        clips: dict[tuple[str, float], dict] = {}
        for line, row in read_csv(csv_path, ["audiocap_id", "youtube_id", "start_time", "caption"]):
            where = f"{csv_path}:{line}"
            if not row["youtube_id"]:
                raise MatsError(f"{where}: empty youtube_id")
            start = as_float(row["start_time"], "start_time", where)
            clip = clips.setdefault((row["youtube_id"], start), {"refs": [], "ids": [], "start": row["start_time"]})
            if row["caption"]:
                clip["refs"].append(row["caption"])
            clip["ids"].append(row["audiocap_id"])
        starts: dict[str, int] = {}
        for ytid, _ in clips:
            starts[ytid] = starts.get(ytid, 0) + 1
        index = self._index(split)
        out = []
        for (ytid, start), clip in clips.items():
            if not clip["refs"]:
                raise MatsError(f"{csv_path}: clip {ytid} at {clip['start']} s has no caption")
            audio, found = self._audio(index, ytid, start)
            sample_id = ytid if starts[ytid] == 1 else f"{ytid}_{clip['start']}"
            meta = {"youtube_id": ytid, "start_time": start, "audiocap_ids": clip["ids"], "audio_found": found}
            out.append(
                Sample(id=sample_id, audio=audio, instruction=CAPTION_PROMPT, references=clip["refs"], meta=meta)
            )
        return out


class MusicCaps(YouTubeCaptions):
    """MusicCaps: one expert caption per 10 s clip; ``eval`` = the is_audioset_eval subset."""

    splits = ("eval", "train", "all")
    layout = MUSICCAPS_LAYOUT
    columns = [
        "ytid",
        "start_s",
        "end_s",
        "audioset_positive_labels",
        "aspect_list",
        "caption",
        "author_id",
        "is_balanced_subset",
        "is_audioset_eval",
    ]

    def metadata(self, split: str) -> list[Path]:
        return [metadata_file(self.name, self.folder, "musiccaps-public.csv", self.layout)]

    def audio_folders(self, split: str) -> list[Path]:
        return [self.folder / "audio", self.folder]

    def load(self, split: str) -> list[Sample]:
        (csv_path,) = self.metadata(split)
        index = self._index(split)
        out, seen = [], {}
        for line, row in read_csv(csv_path, self.columns):
            where = f"{csv_path}:{line}"
            is_eval = as_bool(row["is_audioset_eval"], "is_audioset_eval", where)
            if (split == "eval" and not is_eval) or (split == "train" and is_eval):
                continue
            ytid = row["ytid"]
            if ytid in seen:
                raise MatsError(f"{where}: ytid {ytid!r} already listed on line {seen[ytid]}")
            seen[ytid] = line
            if not row["caption"]:
                raise MatsError(f"{where}: empty caption for {ytid!r}")
            start = as_float(row["start_s"], "start_s", where)
            audio, found = self._audio(index, ytid, start)
            meta = {k: row[k] for k in ("start_s", "end_s", "audioset_positive_labels", "aspect_list", "author_id")}
            meta.update(is_audioset_eval=is_eval, audio_found=found)
            out.append(Sample(id=ytid, audio=audio, instruction=MUSIC_PROMPT, references=[row["caption"]], meta=meta))
        return out

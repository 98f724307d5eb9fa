"""The field's caption corpora as TEXT-ONLY training corpora, read from their official files.

Each caption becomes one ``{text, instruction, answer, task, id}`` record (``text`` = ``answer`` =
the caption, ``instruction`` the paper's caption prompt, ``id`` the clip it describes, which the
regime measures use to group a clip's captions), so ``mats-bench train --corpus audiocaps
--data-root DIR`` trains on the standard corpus text. No audio is read. A missing file, column or
field is a MatsError naming the file and what the official release has there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mats_core import MatsError
from mats_datasets._common import CAPTION_PROMPT, dataset_folder, metadata_file, read_csv

AUDIOCAPS_CORPUS_LAYOUT = """\
  audiocaps/
    train.csv  val.csv  test.csv   audiocap_id,youtube_id,start_time,caption (github.com/cdjkim/audiocaps;
                                   the v2 release's train_v2.csv etc. are read when <split>.csv is absent)"""
CLOTHO_CORPUS_LAYOUT = """\
  clotho/
    clotho_captions_development.csv  clotho_captions_validation.csv  clotho_captions_evaluation.csv
                                     file_name,caption_1,caption_2,caption_3,caption_4,caption_5"""
WAVCAPS_LAYOUT = """\
  wavcaps/
    json_files/AudioSet_SL/as_final.json  json_files/BBC_Sound_Effects/bbc_final.json
    json_files/FreeSound/fsd_final.json   json_files/SoundBible/sb_final.json
                                     each {"data": [{"id": ..., "caption": ..., ...}, ...]} (huggingface cvssp/WavCaps)"""
MACS_LAYOUT = """\
  macs/
    MACS.yaml   files: [{filename: ..., annotations: [{annotator_id: ..., sentence: ..., tags: [...]}, ...]}, ...]
                (zenodo.org/record/5114771)"""
WAVCAPS_SUBSETS = {
    "AudioSet_SL": "as_final.json",
    "BBC_Sound_Effects": "bbc_final.json",
    "FreeSound": "fsd_final.json",
    "SoundBible": "sb_final.json",
}


class CaptionCorpus:
    """Shared by the four: ``records()`` yields each caption once, in file order, up to ``limit``."""

    name = "captions"
    layout = ""
    folders: tuple[str, ...] = ()

    def __init__(
        self,
        data_root: str | None = None,
        path: str | None = None,
        limit: int | None = None,
        task_token: str | None = None,
    ):
        self.folder = dataset_folder(self.name, data_root, path, self.folders, self.layout)
        self.limit, self.task_token = limit, task_token

    def records(self) -> Iterator[dict[str, Any]]:
        count = 0
        for clip, caption in self.captions():
            if self.limit is not None and count >= self.limit:
                return
            rec = {"text": caption, "instruction": CAPTION_PROMPT, "answer": caption, "task": "caption", "id": clip}
            if self.task_token:
                rec["task_token"] = self.task_token
            yield rec
            count += 1

    def captions(self) -> Iterator[tuple[str, str]]:
        raise NotImplementedError

    def file(self, relative: str) -> Path:
        return metadata_file(self.name, self.folder, relative, self.layout)


class AudioCapsCorpus(CaptionCorpus):
    """AudioCaps captions of one split (train: one caption per clip; val/test: five)."""

    name, layout, folders = "audiocaps", AUDIOCAPS_CORPUS_LAYOUT, ("audiocaps", "AudioCaps")

    def __init__(self, split: str = "train", **kw: Any):
        super().__init__(**kw)
        self.split = split

    def captions(self) -> Iterator[tuple[str, str]]:
        relative = f"{self.split}.csv"
        if not (self.folder / relative).is_file() and (self.folder / f"{self.split}_v2.csv").is_file():
            relative = f"{self.split}_v2.csv"
        path = self.file(relative)
        for line, row in read_csv(path, ["audiocap_id", "youtube_id", "start_time", "caption"]):
            if not row["caption"]:
                raise MatsError(f"{path}:{line}: empty caption (audiocap_id {row['audiocap_id']!r})")
            yield f"{row['youtube_id']}_{row['start_time']}", row["caption"]


class ClothoCorpus(CaptionCorpus):
    """Clotho v2.1 captions of one split (five per clip; empty caption cells are skipped)."""

    name, layout, folders = "clotho", CLOTHO_CORPUS_LAYOUT, ("clotho", "Clotho")

    def __init__(self, split: str = "development", **kw: Any):
        super().__init__(**kw)
        self.split = split

    def captions(self) -> Iterator[tuple[str, str]]:
        path = self.file(f"clotho_captions_{self.split}.csv")
        columns = ["file_name"] + [f"caption_{i}" for i in range(1, 6)]
        for line, row in read_csv(path, columns):
            if not row["file_name"]:
                raise MatsError(f"{path}:{line}: empty file_name")
            refs = [row[c] for c in columns[1:] if row[c]]
            if not refs:
                raise MatsError(f"{path}:{line}: {row['file_name']!r} has no caption (caption_1..caption_5 are empty)")
            yield from ((row["file_name"], r) for r in refs)


class WavCapsCorpus(CaptionCorpus):
    """WavCaps (ChatGPT-rewritten captions of AudioSet-SL, BBC Sound Effects, FreeSound, SoundBible):
    the ``subsets`` asked (default: every one whose JSON file is there; at least one must be)."""

    name, layout, folders = "wavcaps", WAVCAPS_LAYOUT, ("wavcaps", "WavCaps")

    def __init__(self, subsets: list[str] | None = None, **kw: Any):
        super().__init__(**kw)
        unknown = [s for s in subsets or [] if s not in WAVCAPS_SUBSETS]
        if unknown:
            raise MatsError(
                f"wavcaps: unknown subset(s) {', '.join(unknown)}; the subsets are {', '.join(WAVCAPS_SUBSETS)}"
            )
        self.subsets = list(subsets) if subsets else None

    def paths(self) -> list[Path]:
        rel = {s: f"json_files/{s}/{f}" for s, f in WAVCAPS_SUBSETS.items()}
        if self.subsets:
            return [self.file(rel[s]) for s in self.subsets]
        found = [self.folder / r for r in rel.values() if (self.folder / r).is_file()]
        if not found:
            raise MatsError(
                f"wavcaps: no WavCaps JSON file under {self.folder}. Expected the official layout:\n{self.layout}"
            )
        return found

    def captions(self) -> Iterator[tuple[str, str]]:
        for path in self.paths():
            data = _json(path)
            entries = data.get("data") if isinstance(data, dict) else None
            if not isinstance(entries, list):
                raise MatsError(
                    f"{path}: expected an object with a 'data' list (the WavCaps JSON files), got {type(data).__name__}"
                    + (f" with keys {', '.join(map(str, data))}" if isinstance(data, dict) else "")
                )
            for i, entry in enumerate(entries):
                for key in ("id", "caption"):
                    if (
                        not isinstance(entry, dict)
                        or not isinstance(entry.get(key), (str, int))
                        or str(entry.get(key)).strip() == ""
                    ):
                        raise MatsError(f"{path}: data[{i}] has no '{key}' (each entry needs 'id' and 'caption')")
                yield f"{path.parent.name}/{entry['id']}", str(entry["caption"]).strip()


class MACSCorpus(CaptionCorpus):
    """MACS (Multi-Annotator Captioned Soundscapes): every annotator's sentence of every file."""

    name, layout, folders = "macs", MACS_LAYOUT, ("macs", "MACS")

    def captions(self) -> Iterator[tuple[str, str]]:
        import yaml

        path = self.file("MACS.yaml")
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise MatsError(f"{path}: not readable YAML ({exc})") from None
        files = doc.get("files") if isinstance(doc, dict) else None
        if not isinstance(files, list):
            raise MatsError(f"{path}: expected a top-level 'files' list (the MACS release), got {type(doc).__name__}")
        for i, entry in enumerate(files):
            if not isinstance(entry, dict) or not entry.get("filename"):
                raise MatsError(f"{path}: files[{i}] has no 'filename'")
            notes = entry.get("annotations")
            if not isinstance(notes, list) or not notes:
                raise MatsError(f"{path}: files[{i}] ({entry['filename']}) has no 'annotations' list")
            for j, note in enumerate(notes):
                sentence = note.get("sentence") if isinstance(note, dict) else None
                if not isinstance(sentence, str) or not sentence.strip():
                    raise MatsError(f"{path}: files[{i}].annotations[{j}] ({entry['filename']}) has no 'sentence'")
                yield str(entry["filename"]), sentence.strip()


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise MatsError(f"{path}: not valid JSON ({exc})") from None

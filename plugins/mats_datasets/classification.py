"""Classification tasks in their official layouts: ESC-50, UrbanSound8K and VGGSound.

The model answers in free text; the ``classification`` metric maps each answer to one of
the task's labels (exact match, and the LTU text-embedding protocol when the harness passes
the encoder). Class names are presented as words ("chirping birds", not "chirping_birds")
because that is what a language model can say. ``label_prompt`` turns a label into the text
the CLAP zero-shot reference row embeds.
"""

from __future__ import annotations

from pathlib import Path

from mats_core import MatsError, Sample
from mats_datasets._audio import AudioIndex
from mats_datasets._common import CLASSIFY_PROMPT, as_bool, as_int, inside, label_text, metadata_file, read_csv
from mats_datasets._task import DatasetTask

ESC50_LAYOUT = """\
  esc50/  (the ESC-50-master/ folder of github.com/karolpiczak/ESC-50)
    meta/esc50.csv   filename,fold,target,category,esc10,src_file,take
    audio/           1-100032-A-0.wav ..."""

URBANSOUND_LAYOUT = """\
  urbansound8k/  (the UrbanSound8K/ folder of the official archive)
    metadata/UrbanSound8K.csv   slice_file_name,fsID,start,end,salience,fold,classID,class
    audio/fold1/ ... audio/fold10/"""

VGGSOUND_LAYOUT = """\
  vggsound/
    vggsound.csv   no header: youtube_id,start_seconds,label,train|test
    video/ or audio/ or test/ or the folder itself: <youtube_id>_<start:06d>.<any extension>
                   (also <youtube_id>_<start> or <youtube_id>)"""


class ClassificationTask(DatasetTask):
    """The metadata is read once. ``labels`` is the full class list (in class-id order, or
    alphabetical where the dataset has no ids), even when a fold filter leaves some classes
    without samples: the model still chooses among all of them."""

    kind = "classification"

    def __init__(self, *args, label_prompt: str, **kwargs):
        self.label_prompt = label_prompt
        self._records: list[Sample] | None = None
        self._labels: list[str] = []
        super().__init__(*args, label_prompt=label_prompt, **kwargs)

    @property
    def labels(self) -> list[str]:
        self._read()
        return self._labels

    def _read(self) -> list[Sample]:
        if self._records is None:
            self._records, self._labels = self.read()
            for s in self._records:
                s.labels = self._labels
        return self._records

    def read(self) -> tuple[list[Sample], list[str]]:
        """Every sample of the file that the params (fold, esc10) keep, and the label list."""
        raise NotImplementedError

    def in_split(self, sample: Sample, split: str) -> bool:
        return True

    def load(self, split: str) -> list[Sample]:
        return [s for s in self._read() if self.in_split(s, split)]

    @staticmethod
    def ordered_labels(by_id: dict[int, str], csv_path: Path) -> list[str]:
        labels = [by_id[i] for i in sorted(by_id)]
        if len(set(labels)) != len(labels):
            raise MatsError(f"{csv_path}: two class ids share a class name: {labels}")
        return labels


def _class_names(rows: list[tuple[int, str]], csv_path: Path, id_column: str, name_column: str) -> dict[int, str]:
    by_id: dict[int, str] = {}
    for class_id, name in rows:
        if by_id.setdefault(class_id, name) != name:
            raise MatsError(
                f"{csv_path}: {id_column} {class_id} is both {by_id[class_id]!r} and {name!r} in column {name_column!r}"
            )
    return by_id


class ESC50(ClassificationTask):
    """ESC-50: 2,000 five-second clips, 50 classes, 5 folds (all folds by default)."""

    splits = ("all",)
    layout = ESC50_LAYOUT

    def metadata(self, split: str) -> list[Path]:
        return [metadata_file(self.name, self.folder, "meta/esc50.csv", self.layout)]

    def read(self) -> tuple[list[Sample], list[str]]:
        (csv_path,) = self.metadata(self.split)
        fold, esc10 = self.params["fold"], self.params["esc10"]
        classes, out = [], []
        for line, row in read_csv(csv_path, ["filename", "fold", "target", "category", "esc10", "src_file", "take"]):
            where = f"{csv_path}:{line}"
            row_fold, target = as_int(row["fold"], "fold", where), as_int(row["target"], "target", where)
            in_esc10 = as_bool(row["esc10"], "esc10", where)
            if not row["filename"] or not row["category"]:
                raise MatsError(f"{where}: empty filename or category")
            if esc10 and not in_esc10:
                continue
            classes.append((target, label_text(row["category"])))
            if fold is not None and row_fold != fold:
                continue
            meta = {
                "filename": row["filename"],
                "fold": row_fold,
                "target": target,
                "esc10": in_esc10,
                "src_file": row["src_file"],
                "take": row["take"],
            }
            audio = inside(self.folder / "audio", row["filename"], where, "filename")
            out.append(
                Sample(
                    id=Path(row["filename"]).stem,
                    audio=str(audio),
                    instruction=CLASSIFY_PROMPT,
                    label=label_text(row["category"]),
                    meta=meta,
                )
            )
        labels = self.ordered_labels(_class_names(classes, csv_path, "target", "category"), csv_path)
        return out, labels


class UrbanSound8K(ClassificationTask):
    """UrbanSound8K: 8,732 slices of at most 4 s, 10 classes, 10 predefined folds."""

    splits = ("all",)
    layout = URBANSOUND_LAYOUT
    columns = ["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"]

    def metadata(self, split: str) -> list[Path]:
        return [metadata_file(self.name, self.folder, "metadata/UrbanSound8K.csv", self.layout)]

    def read(self) -> tuple[list[Sample], list[str]]:
        (csv_path,) = self.metadata(self.split)
        fold = self.params["fold"]
        classes, out = [], []
        for line, row in read_csv(csv_path, self.columns):
            where = f"{csv_path}:{line}"
            row_fold, class_id = as_int(row["fold"], "fold", where), as_int(row["classID"], "classID", where)
            if not row["slice_file_name"] or not row["class"]:
                raise MatsError(f"{where}: empty slice_file_name or class")
            classes.append((class_id, label_text(row["class"])))
            if fold is not None and row_fold != fold:
                continue
            meta = {k: row[k] for k in ("slice_file_name", "fsID", "start", "end", "salience")}
            meta.update(fold=row_fold, classID=class_id)
            audio = inside(self.folder / "audio" / f"fold{row_fold}", row["slice_file_name"], where, "slice_file_name")
            out.append(
                Sample(
                    id=Path(row["slice_file_name"]).stem,
                    audio=str(audio),
                    instruction=CLASSIFY_PROMPT,
                    label=label_text(row["class"]),
                    meta=meta,
                )
            )
        labels = self.ordered_labels(_class_names(classes, csv_path, "classID", "class"), csv_path)
        return out, labels


class VGGSound(ClassificationTask):
    """VGGSound: ~200k 10 s YouTube clips, ~310 classes; the paper scores the test split.

    The label set is every label of the file (both splits), sorted, so it does not depend on
    which split or how many clips are read.
    """

    splits = ("test", "train", "all")
    layout = VGGSOUND_LAYOUT

    def metadata(self, split: str) -> list[Path]:
        return [metadata_file(self.name, self.folder, "vggsound.csv", self.layout)]

    def audio_folders(self) -> list[Path]:
        return [self.folder / n for n in ("video", "audio", "test", "train")] + [self.folder]

    def read(self) -> tuple[list[Sample], list[str]]:
        (csv_path,) = self.metadata(self.split)
        index = AudioIndex(self.audio_folders(), extensions=None)
        out, labels = [], set()
        for line, row in read_csv(csv_path, ["youtube_id", "start", "label", "split"], header=False):
            where = f"{csv_path}:{line}"
            if line == 1 and not row["start"].lstrip("-").isdigit() and row["split"] not in ("train", "test"):
                continue  # a header row added by a mirror
            if row["split"] not in ("train", "test"):
                raise MatsError(f"{where}: column 4 (split) must be train or test, got {row['split']!r}")
            if not row["youtube_id"] or not row["label"]:
                raise MatsError(f"{where}: empty youtube_id or label")
            ytid, start = row["youtube_id"], as_int(row["start"], "start (column 2)", where)
            labels.add(row["label"])
            found = index.clip(ytid, start)
            audio = found or index.expected(f"{ytid}_{start:06d}.mp4")
            meta = {"youtube_id": ytid, "start": start, "split": row["split"], "audio_found": found is not None}
            out.append(
                Sample(
                    id=f"{ytid}_{start:06d}",
                    audio=str(audio),
                    instruction=CLASSIFY_PROMPT,
                    label=row["label"],
                    meta=meta,
                )
            )
        return out, sorted(labels)

    def in_split(self, sample: Sample, split: str) -> bool:
        return split == "all" or sample.meta["split"] == split

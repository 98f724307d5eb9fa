"""FSD50K in its official layout (zenodo.org/record/4060432): multi-label tagging, scored by mAP.

``FSD50K.ground_truth/`` holds ``vocabulary.csv`` (no header: index, label, mid: the 200 classes
in index order), ``eval.csv`` (fname, labels, mids) and ``dev.csv`` (fname, labels, mids, split:
train | val); ``labels`` is a comma-separated list of the vocabulary's labels. Audio is
``FSD50K.eval_audio/<fname>.wav`` and ``FSD50K.dev_audio/<fname>.wav``. Labels are presented as
words ("Electric guitar", not "Electric_guitar").

A sample's ``references`` are all its labels and ``label`` is its first (so tools made for
single-label classification see one); scoring uses them all. ``mAP`` (the ``tagging`` metric)
ranks the clips for each class: generated answers by the cosine between the answer's and the
class name's text embeddings (the LTU protocol, with the run's alignment encoder), and the CLAP
zero-shot row by the audio-to-label-text cosine (``zero_shot_scores``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mats_core import MatsError, Sample
from mats_core.scoring import prediction_texts, shared_metric
from mats_datasets._common import CLASSIFY_PROMPT, as_int, label_text, metadata_file, read_csv
from mats_datasets._task import NEEDS_ENCODER, DatasetTask

FSD50K_LAYOUT = """\
  fsd50k/  (the unzipped FSD50K archives of zenodo.org/record/4060432)
    FSD50K.ground_truth/vocabulary.csv   no header: index,label,mid
    FSD50K.ground_truth/eval.csv         fname,labels,mids
    FSD50K.ground_truth/dev.csv          fname,labels,mids,split
    FSD50K.eval_audio/<fname>.wav   FSD50K.dev_audio/<fname>.wav"""
GT = "FSD50K.ground_truth"


class FSD50K(DatasetTask):
    kind = "classification"
    splits = ("eval", "dev", "train", "val")
    layout = FSD50K_LAYOUT

    def __init__(self, *args, label_prompt: str, **kwargs):
        self.label_prompt = label_prompt
        self._labels: list[str] | None = None
        super().__init__(*args, label_prompt=label_prompt, **kwargs)

    def metadata(self, split: str) -> list[Path]:
        csv_name = "eval.csv" if split == "eval" else "dev.csv"
        return [
            metadata_file(self.name, self.folder, f"{GT}/vocabulary.csv", self.layout),
            metadata_file(self.name, self.folder, f"{GT}/{csv_name}", self.layout),
        ]

    @property
    def labels(self) -> list[str]:
        if self._labels is None:
            self._labels = [label_text(raw) for raw in self._vocabulary()]
        return self._labels

    def _vocabulary(self) -> dict[str, int]:
        """Official label -> index, from vocabulary.csv (indices 0..C-1, each once)."""
        path = self.metadata(self.split)[0]
        vocab: dict[str, int] = {}
        for line, row in read_csv(path, ["index", "label", "mid"], header=False):
            index = as_int(row["index"], "index (column 1)", f"{path}:{line}")
            if not row["label"] or row["label"] in vocab or index in vocab.values():
                raise MatsError(f"{path}:{line}: empty or repeated label {row['label']!r} or index {index}")
            vocab[row["label"]] = index
        if sorted(vocab.values()) != list(range(len(vocab))):
            raise MatsError(f"{path}: indices must run 0..{len(vocab) - 1}, each once")
        return dict(sorted(vocab.items(), key=lambda kv: kv[1]))

    def load(self, split: str) -> list[Sample]:
        vocab_path, csv_path = self.metadata(split)
        vocab = self._vocabulary()
        columns = ["fname", "labels", "mids"] + ([] if split == "eval" else ["split"])
        audio_dir = self.folder / ("FSD50K.eval_audio" if split == "eval" else "FSD50K.dev_audio")
        out = []
        for line, row in read_csv(csv_path, columns):
            where = f"{csv_path}:{line}"
            if split in ("train", "val") and row["split"] != split:
                continue
            raw = [x.strip() for x in row["labels"].split(",") if x.strip()]
            unknown = [x for x in raw if x not in vocab]
            if not row["fname"] or not raw or unknown:
                raise MatsError(f"{where}: empty fname or labels, or labels {unknown} not in {vocab_path}")
            names = [label_text(x) for x in raw]
            out.append(
                Sample(
                    id=row["fname"],
                    audio=str(audio_dir / f"{row['fname']}.wav"),
                    instruction=CLASSIFY_PROMPT,
                    label=names[0],
                    references=names,
                    labels=self.labels,
                    meta={
                        "fname": row["fname"],
                        "mids": row["mids"].split(","),
                        **({"split": row["split"]} if "split" in row else {}),
                    },
                )
            )
        return out

    # -- scoring: the tagging metric on the rows ---------------------------------------------
    def _args(self, rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
        rows = list(rows)
        if not rows:
            raise MatsError(f"{self.name}: no predictions to score")
        empty = [r.get("id") for r in rows if not r.get("references")]
        if empty:
            raise MatsError(f"{self.name}: rows without 'references' (ids {empty[:5]}); re-run the task")
        return prediction_texts(rows), [list(r["references"]) for r in rows]

    def _scored(self, rows: Sequence[Mapping[str, Any]], result: dict, encoder: Any) -> dict[str, float | None]:
        self.notes = dict(self.data_notes)
        if result.get("mAP") is None:
            self.notes["mAP"] = NEEDS_ENCODER if encoder is None else "no class has a positive among the scored rows"
        return {**result, "n": float(len(rows)), "errors": float(sum(1 for r in rows if r.get("error")))}

    def score(self, predictions: Sequence[Mapping[str, Any]], **context: Any) -> dict[str, float | None]:
        preds, refs = self._args(predictions)
        encoder = context.get("encoder")
        result = shared_metric("tagging").compute(preds, refs, labels=self.labels, encoder=encoder)
        return self._scored(list(predictions), result, encoder)

    def sample_stats(self, predictions: Sequence[Mapping[str, Any]], **context: Any) -> Any:
        preds, refs = self._args(predictions)
        return shared_metric("tagging").sample_stats(
            preds, refs, labels=self.labels, encoder=context.get("encoder"), scores=context.get("scores")
        )

    def zero_shot_scores(self, rows: Sequence[Mapping[str, Any]], scores: Any) -> dict[str, float | None]:
        """The CLAP zero-shot row: every clip's audio-to-label cosines ``[N, C]`` (NaN rows: failed clips) ranked per class."""
        preds, refs = self._args(rows)
        result = shared_metric("tagging").compute(preds, refs, labels=self.labels, scores=scores)
        return self._scored(list(rows), result, encoder=True)

    headline = ["mAP"]
    higher_is_better = {"mAP": True}

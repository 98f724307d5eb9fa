"""Clotho-AQA in its official layout: questions about Clotho clips with one-word answers.

Each (clip, question) was answered by three annotators on three CSV rows; they become one
sample whose references are the distinct answers (case and punctuation ignored; a prediction is right if it matches any
of them, the ``qa`` metric's multi-reference rule). Besides overall accuracy the task
reports the two numbers the Clotho-AQA paper separates: accuracy on yes/no questions
(every answer is yes or no) and on the other, single-word-answer questions.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mats_core import MatsError, Sample
from mats_datasets._audio import AudioIndex
from mats_datasets._common import metadata_file, read_csv
from mats_datasets._task import DatasetTask

CLOTHO_AQA_LAYOUT = """\
  clotho-aqa/  (zenodo.org/record/6473207)
    clotho_aqa_train.csv  clotho_aqa_val.csv  clotho_aqa_test.csv   file_name,QuestionText,answer,confidence
    audio_files/ (as unzipped) or audio/ or a folder named after the split: the Clotho *.wav files"""

YES_NO = {"yes", "no"}
NO_SUBSET = "no question of this kind among the scored rows"


def _words(text: str) -> str:
    return " ".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def is_yes_no(references: list[str]) -> bool:
    return bool(references) and all(_words(r) in YES_NO for r in references)


class ClothoAQA(DatasetTask):
    kind = "qa"
    splits = ("train", "val", "test")
    layout = CLOTHO_AQA_LAYOUT
    skipped = 0  # questions dropped because no annotator gave a usable answer

    def metadata(self, split: str) -> list[Path]:
        return [metadata_file(self.name, self.folder, f"clotho_aqa_{split}.csv", self.layout)]

    def audio_folders(self, split: str) -> list[Path]:
        return [self.folder / "audio_files", self.folder / "audio", self.folder / split, self.folder]

    def load(self, split: str) -> list[Sample]:
        (csv_path,) = self.metadata(split)
        questions: dict[tuple[str, str], dict] = {}
        per_file: dict[str, int] = {}
        for line, row in read_csv(csv_path, ["file_name", "QuestionText", "answer", "confidence"]):
            where = f"{csv_path}:{line}"
            name, question = row["file_name"], row["QuestionText"]
            if not name or not question:
                raise MatsError(f"{where}: empty file_name or QuestionText")
            key = (name, question)
            if key not in questions:
                per_file[name] = per_file.get(name, 0) + 1
                questions[key] = {"n": per_file[name], "answers": [], "confidence": [], "lines": []}
            questions[key]["lines"].append(line)
            if any(c.isalnum() for c in row["answer"]):  # an empty or punctuation-only answer says nothing
                questions[key]["answers"].append(row["answer"])
                questions[key]["confidence"].append(row["confidence"])
        index = AudioIndex(self.audio_folders(split))
        out, dropped = [], []
        for (name, question), item in questions.items():
            if not item["answers"]:
                dropped += item["lines"]
                continue
            audio = index.by_name(name) or index.expected(name)
            refs = list({_words(a): a for a in reversed(item["answers"])}.values())[::-1]  # distinct, first spelling
            meta = {
                "file_name": name,
                "question": question,
                "answers": item["answers"],
                "confidence": item["confidence"],
                "yes_no": is_yes_no(refs),
            }
            out.append(
                Sample(id=f"{name}#q{item['n']}", audio=str(audio), instruction=question, references=refs, meta=meta)
            )
        self.skipped = sum(1 for q in questions.values() if not q["answers"])
        self._note_dropped(csv_path, dropped, len(questions))
        return out

    def _note_dropped(self, csv_path: Path, lines: list[int], total: int) -> None:
        """Questions whose every answer is empty are not evaluated: counted, with their lines."""
        if not self.skipped:
            return
        import warnings

        shown = ", ".join(map(str, lines[:10])) + (", ..." if len(lines) > 10 else "")
        why = (
            f"{self.skipped} of {total} questions in {csv_path} have no usable answer (every answer empty) and are "
            f"not evaluated: lines {shown}"
        )
        warnings.warn(why, stacklevel=2)
        self.data_notes.update({"dropped_rows": str(self.skipped), "dropped_rows_detail": why})

    def extra_scores(self, metric: Any, rows: list[Mapping[str, Any]], preds: list[str]) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        kinds = [is_yes_no(list(r.get("references") or [])) for r in rows]
        for key, want in (("accuracy_yes_no", True), ("accuracy_single_word", False)):
            idx = [i for i, k in enumerate(kinds) if k == want]
            if not idx:
                out[key] = None
                self.notes[key] = NO_SUBSET
                continue
            sub = metric.compute([preds[i] for i in idx], [list(rows[i]["references"]) for i in idx])
            out[key] = sub["accuracy"]
        return out

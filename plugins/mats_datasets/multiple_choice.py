"""MMAU (Massive Multi-task Audio Understanding) in its official release layout: multiple choice.

The release is one JSON list per split (``mmau-test-mini.json``; ``mmau-test.json`` holds no
answers, they are scored by the benchmark's server), each item with ``id``, ``audio_id`` (a path
relative to the JSON's folder, ``./test-mini-audios/<id>.wav``), ``question``, ``choices``,
``answer`` and the descriptors ``dataset``, ``task`` (sound | music | speech), ``category``,
``sub-category``, ``difficulty``. The model sees the question and the choices in one prompt
(``prompt``, recorded in results.json ``notes``) and answers in free text.

Answer matching follows the rule of the benchmark's own evaluation script (``string_match``),
re-implemented here: text is lower-cased and split into word tokens (runs of letters, digits or
``_``); an answer is correct when (1) every token of the right choice is in it and (2) it holds no
token of a wrong choice that is not also a token of the right one. An empty answer (or a failed
clip) is wrong. So "It is a man speaking" picks "Man" over "Woman", "A man and a woman" picks
neither, and a bare letter ("B") matches nothing: choices are given as text, not letters.

Scores: ``accuracy`` over every scored question, ``accuracy_<task>`` (sound, music, speech, as
the benchmark's table), ``accuracy_<difficulty>`` and ``accuracy_category_<category>``; a
group with no scored question is None with a note.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mats_core import MatsError, Sample
from mats_datasets._common import metadata_file
from mats_datasets._task import DatasetTask

MMAU_LAYOUT = """\
  mmau/  (github.com/Sakshi113/MMAU: the JSON and the unzipped audio archive)
    mmau-test-mini.json   [{"id", "audio_id": "./test-mini-audios/<id>.wav", "question", "choices": [...],
                            "answer", "dataset", "task", "category", "sub-category", "difficulty"}, ...]
    test-mini-audios/     <id>.wav"""
_TOKEN = re.compile(r"\b\w+\b")
TASKS = ("sound", "music", "speech")
NO_GROUP = "no question of this group among the scored rows"


def tokens(text: str) -> set[str]:
    return set(_TOKEN.findall(text.lower()))


def choice_matches(answer: str, prediction: str, choices: Sequence[str]) -> bool:
    """The benchmark's matching rule (see the module docstring)."""
    said, right = tokens(prediction), tokens(answer)
    if not said:
        return False
    wrong = set()
    for choice in choices:
        theirs = tokens(choice)
        if theirs != right:
            wrong |= theirs - right
    return right <= said and said.isdisjoint(wrong)


def _slug(text: str) -> str:
    return "_".join(re.findall(r"[a-z0-9]+", str(text).lower())) or "unknown"


class MMAU(DatasetTask):
    kind = "qa"
    splits = ("test-mini", "test")
    layout = MMAU_LAYOUT

    def __init__(self, *args, prompt: str, **kwargs):
        self.prompt = prompt
        super().__init__(*args, prompt=prompt, **kwargs)
        self.data_notes["prompt_format"] = prompt

    def metadata(self, split: str) -> list[Path]:
        return [metadata_file(self.name, self.folder, f"mmau-{split}.json", self.layout)]

    def load(self, split: str) -> list[Sample]:
        (path,) = self.metadata(split)
        try:
            items = json.loads(path.read_text(encoding="utf-8-sig"))
        except ValueError as exc:
            raise MatsError(
                f"{path}: not valid JSON ({exc}); expected the official release's list of questions"
            ) from None
        if not isinstance(items, list):
            raise MatsError(f"{path}: the top level must be a list of questions, got {type(items).__name__}")
        return [self._sample(path, i, item) for i, item in enumerate(items)]

    def _sample(self, path: Path, i: int, item: Any) -> Sample:
        where = f"{path}: item {i}"
        if not isinstance(item, dict):
            raise MatsError(f"{where}: must be an object, got {type(item).__name__}")
        for key in ("id", "audio_id", "question", "choices"):
            if key not in item or item[key] in (None, ""):
                raise MatsError(
                    f"{where}: missing field {key!r} (the release's fields: id, audio_id, question, choices, answer, ...)"
                )
        where = f"{path}: item {i} (id {item['id']})"
        choices = item["choices"]
        if (
            not isinstance(choices, list)
            or len(choices) < 2
            or not all(isinstance(c, str) and c.strip() for c in choices)
        ):
            raise MatsError(f"{where}: 'choices' must be a list of at least two non-empty strings, got {choices!r}")
        answer = item.get("answer")
        if not isinstance(answer, str) or not answer.strip():
            raise MatsError(
                f"{where}: no 'answer' (the public test split has none: score it on the benchmark's server, "
                "or use split test-mini)"
            )
        if answer not in choices:
            raise MatsError(f"{where}: answer {answer!r} is not one of its choices {choices}")
        audio = (path.parent / str(item["audio_id"])).resolve()
        meta = {k: item.get(k) for k in ("dataset", "task", "category", "sub-category", "difficulty", "split")}
        meta.update(choices=list(choices), audio_id=item["audio_id"])
        listed = ", ".join(f'"{c}"' for c in choices)
        return Sample(
            id=str(item["id"]),
            audio=str(audio),
            instruction=self.prompt.format(question=item["question"].strip(), choices=listed),
            references=[answer],
            meta=meta,
        )

    # -- scoring ---------------------------------------------------------------------------
    def _correct(self, rows: Sequence[Mapping[str, Any]]) -> tuple[list[float], list[dict]]:
        by_id = {s.id: s for s in self._all()}
        missing = [r.get("id") for r in rows if str(r.get("id")) not in by_id]
        if missing:
            raise MatsError(
                f"{self.name}: rows {missing[:5]} are not questions of split {self.split!r}; re-run the task"
            )
        metas = [by_id[str(r["id"])].meta for r in rows]
        answers = [by_id[str(r["id"])].references[0] for r in rows]
        said = ["" if r.get("error") else str(r.get("prediction") or "") for r in rows]
        return [float(choice_matches(a, p, m["choices"])) for a, p, m in zip(answers, said, metas)], metas

    def _all(self) -> list[Sample]:
        if self.split not in self._loaded:
            self.samples()
        return self._loaded[self.split]

    def _groups(self, metas: list[dict]) -> dict[str, list[bool]]:
        keys = {f"accuracy_{t}": [m.get("task") == t for m in metas] for t in TASKS}
        for field, prefix in (("difficulty", "accuracy_"), ("category", "accuracy_category_")):
            for value in sorted({str(m.get(field)) for m in metas if m.get(field)}):
                keys[prefix + _slug(value)] = [str(m.get(field)) == value for m in metas]
        return keys

    def score(self, predictions: Sequence[Mapping[str, Any]], **context: Any) -> dict[str, float | None]:
        rows = list(predictions)
        if not rows:
            raise MatsError(f"{self.name}: no predictions to score")
        correct, metas = self._correct(rows)
        self.notes = dict(self.data_notes)
        out: dict[str, float | None] = {"accuracy": sum(correct) / len(correct)}
        for key, member in self._groups(metas).items():
            picked = [c for c, m in zip(correct, member) if m]
            out[key] = sum(picked) / len(picked) if picked else None
            if not picked:
                self.notes[key] = NO_GROUP
        return {**out, "n": float(len(rows)), "errors": float(sum(1 for r in rows if r.get("error")))}

    def sample_stats(self, predictions: Sequence[Mapping[str, Any]], **context: Any) -> Any:
        """Accuracy is a mean of 0/1 values; a group's accuracy is its correct count over its size on each resample."""
        import numpy as np

        from mats_core import SampleStats

        correct, metas = self._correct(list(predictions))
        c = np.asarray(correct)
        groups = {k: np.asarray(v, dtype=np.float64) for k, v in self._groups(metas).items() if any(v)}

        def corpus(counts: np.ndarray) -> dict[str, np.ndarray]:
            with np.errstate(invalid="ignore", divide="ignore"):
                return {k: (counts @ (c * g)) / (counts @ g) for k, g in groups.items()}

        why = "no interval: some resamples draw no question of this group (too few questions in it)"
        return SampleStats(n=len(c), means={"accuracy": c}, corpus=corpus, notes={k: why for k in groups})

    @property
    def headline(self) -> list[str]:
        return ["accuracy", *(f"accuracy_{t}" for t in TASKS)]

    @property
    def higher_is_better(self) -> dict[str, bool]:
        return {"accuracy": True, **{f"accuracy_{t}": True for t in TASKS}}

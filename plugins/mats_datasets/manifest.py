"""``jsonl``: any dataset as a manifest file, so a new benchmark needs no code.

One JSON object per line::

    {"id": "clip-1", "audio": "wavs/a.wav", "references": ["a dog barks", "a dog is barking"]}
    {"audio": "wavs/b.flac", "label": "dog bark"}
    {"audio": "wavs/c.wav", "instruction": "Is a dog barking?", "answer": "yes"}

``audio`` is relative to the manifest's folder (or absolute). ``id`` defaults to the line
number. ``instruction`` defaults to the kind's paper prompt (a QA line must give its
question). ``references`` (a list) or ``answer`` (one string) for caption / qa, ``label`` for
classification. Without ``task_kind`` it is read off the fields: ``label`` means classification,
any ``answer`` qa, ``references`` alone caption. Optional ``split`` (selected by the ``split`` param) and ``meta`` (a dict
copied to the sample). Unknown fields are an error, so a typo such as ``refrences`` is
caught instead of silently scoring against nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mats_core import MatsError, Sample
from mats_core.io import json_object, read_jsonl, text_field
from mats_datasets._common import CAPTION_PROMPT, CLASSIFY_PROMPT, DEFAULT_LABEL_PROMPT
from mats_datasets._task import DatasetTask

FIELDS = ("id", "audio", "instruction", "references", "label", "answer", "split", "meta")
PROMPTS = {"caption": CAPTION_PROMPT, "classification": CLASSIFY_PROMPT}


def manifest_path(path: str | None, data_root: str | None) -> Path:
    """``path`` as given; a relative path that does not exist is also tried under ``data_root``."""
    if not path:
        raise MatsError(
            "jsonl: pass path=<manifest.jsonl> (e.g. --set task.path=data/my_set.jsonl); "
            f"each line is a JSON object with the fields {', '.join(FIELDS)}"
        )
    given = Path(path).expanduser()
    tried = [given.absolute()]
    if not given.is_absolute() and data_root and not given.exists():
        tried.append((Path(data_root).expanduser() / given).absolute())
    for candidate in tried:
        if candidate.is_file():
            return candidate
    raise MatsError(f"jsonl: manifest file {' or '.join(map(str, tried))} not found")


class _Line:
    """Validates one manifest line; errors name the file, the line and the field."""

    def __init__(self, manifest: Path, number: int, obj: Any):
        self.number, self.where = number, f"{manifest}:{number}"
        where = self.where
        self.obj = json_object(obj, where)
        unknown = sorted(set(obj) - set(FIELDS))
        if unknown:
            raise MatsError(f"{where}: unknown field(s) {', '.join(unknown)}; fields are {', '.join(FIELDS)}")

    def text(self, key: str, required: bool = False) -> str | None:
        return text_field(self.obj, key, self.where, required)

    def ident(self, default: str) -> str:
        value = self.obj.get("id", default)
        if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
            raise MatsError(f"{self.where}: field 'id' must be a non-empty string or an integer, got {value!r}")
        return str(value).strip()

    def references(self) -> list[str] | None:
        refs = self.obj.get("references")
        if refs is None:
            answer = self.text("answer")
            return None if answer is None else [answer]
        if "answer" in self.obj:
            raise MatsError(f"{self.where}: give 'references' or 'answer', not both")
        if not isinstance(refs, list) or not refs or not all(isinstance(r, str) and r.strip() for r in refs):
            raise MatsError(
                f"{self.where}: field 'references' must be a non-empty list of non-empty strings, got {refs!r}"
            )
        return [r.strip() for r in refs]

    def meta(self) -> dict:
        value = self.obj.get("meta", {})
        if not isinstance(value, dict):
            raise MatsError(f"{self.where}: field 'meta' must be a JSON object, got {value!r}")
        return dict(value)


def infer_kind(lines: list[_Line], manifest: Path) -> str:
    """label -> classification; else any answer -> qa (references may give more answers); else caption."""
    has = {key: any(key in line.obj for line in lines) for key in ("label", "answer", "references")}
    if has["label"] and not (has["answer"] or has["references"]):
        return "classification"
    if not has["label"] and has["answer"]:
        return "qa"
    if not has["label"] and has["references"]:
        return "caption"
    found = ", ".join(k for k, v in has.items() if v) or "none of label, answer, references"
    raise MatsError(
        f"{manifest}: cannot tell the task kind from the fields ({found}); pass --set task.task_kind=caption, "
        "classification or qa (or task_kind: in your registry preset)"
    )


class ManifestTask(DatasetTask):
    """A caption / classification / qa task over a JSONL manifest (parsed when built)."""

    def __init__(
        self,
        manifest: Path,
        kind: str | None,
        labels: list[str] | None,
        split: str | None,
        limit: int | None,
        label_prompt: str = DEFAULT_LABEL_PROMPT,
    ):
        self.manifest = manifest
        lines = self._parse()
        self.kind = kind or infer_kind(lines, manifest)
        self.label_prompt = label_prompt
        self._all = self._samples(lines, labels)
        super().__init__(
            "jsonl", manifest.parent, split, limit, kind=self.kind, labels=labels, label_prompt=label_prompt
        )

    def metadata(self, split: str | None) -> list[Path]:
        return [self.manifest]

    def load(self, split: str | None) -> list[Sample]:
        if split is None:
            return list(self._all)
        picked = [s for s in self._all if s.meta.get("split") == split]
        if not picked:
            present = sorted({str(s.meta["split"]) for s in self._all if "split" in s.meta})
            raise MatsError(
                f"{self.manifest}: no line has split {split!r}; splits in the file: "
                f"{', '.join(present) or '(none: lines have no split field)'}"
            )
        return picked

    def _parse(self) -> list[_Line]:
        lines = [_Line(self.manifest, number, obj) for number, obj in read_jsonl(self.manifest)]
        if not lines:
            raise MatsError(f"{self.manifest}: the manifest has no lines")
        return lines

    def _samples(self, lines: list[_Line], labels: list[str] | None) -> list[Sample]:
        kind = self.kind
        if kind != "classification" and labels:
            raise MatsError(f"jsonl: labels= applies to classification manifests, not {kind}")
        seen: dict[str, str] = {}
        out = []
        for line in lines:
            sample_id = line.ident(str(line.number))
            if sample_id in seen:
                raise MatsError(f"{line.where}: field 'id' {sample_id!r} is already used on {seen[sample_id]}")
            seen[sample_id] = line.where
            audio = Path(line.text("audio", required=True)).expanduser()
            audio = audio if audio.is_absolute() else self.manifest.parent / audio
            instruction = line.text("instruction", required=kind == "qa") or PROMPTS[kind]
            meta = line.meta()
            split = line.text("split")
            if split is not None:
                meta["split"] = split
            sample = Sample(id=sample_id, audio=str(audio.absolute()), instruction=instruction, meta=meta)
            if kind == "classification":
                for key in ("references", "answer"):
                    if key in line.obj:
                        raise MatsError(
                            f"{line.where}: field {key!r} does not belong in a classification manifest; give 'label'"
                        )
                sample.label = line.text("label", required=True)
                if labels is not None and sample.label not in labels:
                    raise MatsError(f"{line.where}: field 'label' {sample.label!r} is not in labels {labels[:10]}")
            else:
                if "label" in line.obj:
                    raise MatsError(
                        f"{line.where}: field 'label' belongs to classification manifests; this one is {kind}"
                    )
                refs = line.references()
                if refs is None:
                    raise MatsError(f"{line.where}: field 'references' (or 'answer') is missing")
                sample.references = refs
            out.append(sample)
        if kind == "classification":
            self.labels = list(labels) if labels is not None else sorted({s.label for s in out})
            for s in out:
                s.labels = self.labels
        return out

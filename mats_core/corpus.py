"""Training corpora: the JSONL format ``{text, instruction, answer, task}`` and its loader.

``text`` is what the encoder embeds (a caption or description), ``instruction`` the prompt,
``answer`` the target. The same shape is what corpus plugins yield.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from mats_core.registry import MatsError, build

REQUIRED = ("text", "instruction", "answer")


class JsonlCorpus:
    """A user's corpus file; every line is validated and errors name the file and line."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.name = self.path.stem

    def records(self) -> Iterable[dict[str, Any]]:
        if not self.path.exists():
            raise MatsError(f"corpus file {self.path} does not exist")
        with open(self.path) as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise MatsError(f"{self.path}:{n}: invalid JSON ({exc.msg})") from None
                yield validate_record(rec, f"{self.path}:{n}")


def validate_record(rec: Any, where: str) -> dict[str, Any]:
    if not isinstance(rec, dict):
        raise MatsError(f"{where}: a record must be a JSON object with keys {', '.join(REQUIRED)}")
    for key in REQUIRED:
        if not isinstance(rec.get(key), str) or not rec[key].strip():
            raise MatsError(f"{where}: field '{key}' is missing or empty (records need {', '.join(REQUIRED)}; 'task' optional)")
    rec.setdefault("task", "caption")
    return rec


def load_corpus(name_or_path: str, registry: str | None = None, **params: Any) -> tuple[Any, list[dict[str, Any]]]:
    """(corpus object, validated records) from a registered corpus name or a JSONL path."""
    looks_like_path = name_or_path.endswith((".jsonl", ".json")) or os.sep in name_or_path
    corpus = JsonlCorpus(name_or_path) if looks_like_path else build("corpus", name_or_path, registry, **params)
    where = getattr(corpus, "name", name_or_path)
    records = [validate_record(r, f"corpus '{where}' record {i}") for i, r in enumerate(corpus.records())]
    if not records:
        raise MatsError(f"corpus '{where}' has no records")
    return corpus, records

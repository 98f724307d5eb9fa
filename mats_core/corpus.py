"""Training corpora: the JSONL format ``{text, instruction, answer, task}`` and its loader.

``text`` is what the encoder embeds (a caption or description), ``instruction`` the prompt,
``answer`` the target; an optional ``task_token`` (e.g. ``[audio caption clotho]``) goes before
the instruction, as the published MATS training does. The same shape is what corpus plugins yield.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

from mats_core.registry import MatsError, build

REQUIRED = ("text", "instruction", "answer")
RECORD_HINT = "records need text, instruction, answer; 'task' optional"


class JsonlCorpus:
    """A user's corpus file; every line is validated and errors name the file and line."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.name = self.path.stem

    def records(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            raise MatsError(f"corpus file {self.path} does not exist")
        for number, rec in read_jsonl(self.path):
            yield validate_record(rec, f"{self.path}:{number}")


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed value)`` for every non-blank line of a JSONL file, streamed.

    Lines are split on ``\n`` only (JSON strings may hold U+2028 and friends), a UTF-8 BOM
    is tolerated, and bad UTF-8 or bad JSON is a :class:`MatsError` naming the file and line.
    The one JSONL reader of mats-bench: corpora here, dataset manifests in plugins."""
    path = Path(path)
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise MatsError(f"{path} does not exist") from None
    with fh:
        for number, raw in enumerate(fh, start=1):
            where = f"{path}:{number}"
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise MatsError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start} of the line); "
                                "save the file as UTF-8") from None
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise MatsError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            yield number, value


def json_object(value: Any, where: str, hint: str = "") -> dict[str, Any]:
    """``value`` if it is a JSON object (dict), else an error naming ``where``."""
    if not isinstance(value, dict):
        raise MatsError(f"{where}: expected a JSON object, got {type(value).__name__}{_hint(hint)}")
    return value


def text_field(record: dict[str, Any], key: str, where: str, required: bool = False, hint: str = "") -> str | None:
    """``record[key]`` stripped; None when absent and not ``required``; an error naming the
    place and the field when it is missing, not a string, or blank."""
    value = record.get(key)
    if value is None:
        if required:
            raise MatsError(f"{where}: field {key!r} is missing{_hint(hint)}")
        return None
    if not isinstance(value, str) or not value.strip():
        raise MatsError(f"{where}: field {key!r} must be a non-empty string, got {value!r}{_hint(hint)}")
    return value.strip()


def validate_record(rec: Any, where: str) -> dict[str, Any]:
    """A training record ``{text, instruction, answer[, task]}`` (values kept as given);
    ``task`` defaults to ``caption``."""
    json_object(rec, where, RECORD_HINT)
    for key in REQUIRED:
        text_field(rec, key, where, required=True, hint=RECORD_HINT)
    if text_field(rec, "task", where, hint=RECORD_HINT) is None:
        rec["task"] = "caption"
    text_field(rec, "task_token", where, hint=RECORD_HINT)  # optional, but a string when given
    return rec


def _hint(hint: str) -> str:
    return f" ({hint})" if hint else ""


def load_corpus(name_or_path: str, registry: str | None = None, **params: Any) -> tuple[Any, list[dict[str, Any]]]:
    """(corpus object, validated records) from a registered corpus name or a JSONL path."""
    looks_like_path = name_or_path.endswith((".jsonl", ".json")) or os.sep in name_or_path
    corpus = JsonlCorpus(name_or_path) if looks_like_path else build("corpus", name_or_path, registry, **params)
    where = getattr(corpus, "name", name_or_path)
    records = [validate_record(r, f"corpus '{where}' record {i}") for i, r in enumerate(corpus.records())]
    if not records:
        raise MatsError(f"corpus '{where}' has no records")
    return corpus, records

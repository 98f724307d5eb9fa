"""Training corpora: the JSONL format ``{text, instruction, answer, task}`` and its loader.

``text`` is what the encoder embeds (a caption or description), ``instruction`` the prompt,
``answer`` the target; an optional ``task_token`` (e.g. ``[audio caption clotho]``) goes before
the instruction, as the published MATS training does. The same shape is what corpus plugins yield.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

from mats_core.errors import MatsError
from mats_core.io import json_object, read_jsonl, text_field  # noqa: F401 - re-exported (moved to mats_core.io)
from mats_core.registry.presets import build, resolve_path

__all__ = ["memory_bank_draw"]  # public (mats_core.PUBLIC_MODULES); the loaders are the core's own

REQUIRED = ("text", "instruction", "answer")
RECORD_HINT = "records need text, instruction, answer; 'task' optional"


class JsonlCorpus:
    """A user's corpus file; every line is validated and errors name the file and line. A
    ``pkg:module/rel/path`` names a file inside an installed package (a shipped checkpoint set's
    training corpus, which its memory bank is drawn from)."""

    def __init__(self, path: str | os.PathLike):
        self.path = resolve_path(str(path))
        self.name = self.path.stem

    def records(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            raise MatsError(f"corpus file {self.path} does not exist")
        for number, rec in read_jsonl(self.path):
            yield validate_record(rec, f"{self.path}:{number}")


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


def load_corpus(name_or_path: str, registry: str | None = None, **params: Any) -> tuple[Any, list[dict[str, Any]]]:
    """(corpus object, validated records) from a registered corpus name or a JSONL path."""
    looks_like_path = (
        name_or_path.endswith((".jsonl", ".json")) or os.sep in name_or_path or name_or_path.startswith("pkg:")
    )
    corpus = JsonlCorpus(name_or_path) if looks_like_path else build("corpus", name_or_path, registry, **params)
    where = getattr(corpus, "name", name_or_path)
    records = [validate_record(r, f"corpus '{where}' record {i}") for i, r in enumerate(corpus.records())]
    if not records:
        raise MatsError(f"corpus '{where}' has no records")
    return corpus, records


def corpus_data_root(corpus: str, registry: str | None, data_root: str | os.PathLike) -> dict[str, Any]:
    """``{"data_root": DIR}`` (absolute) for a registered corpus that reads a dataset folder (``--data-root``);
    an error for one that takes none (a JSONL file, the tiny world)."""
    from mats_core.registry.presets import accepted_params

    looks_like_path = corpus.endswith((".jsonl", ".json")) or os.sep in corpus
    given = (
        {}
        if looks_like_path
        else accepted_params("corpus", corpus, {"data_root": str(Path(data_root).resolve())}, registry)
    )
    if not given:
        raise MatsError(
            f"--data-root: corpus '{corpus}' reads no dataset folder (it takes no data_root); leave --data-root out"
        )
    return given


def memory_bank_draw(records: list[dict[str, Any]], size: int, seed: int) -> tuple[list[str], list[int]]:
    """The memory bank a run holds: ``(texts, picked)``, the sorted unique training texts and the
    ascending indices of the ``size`` of them drawn with the run seed. The harness embeds these;
    a plugin that studies the bank (e.g. how often a test caption is in it) sees the same draw."""
    import torch

    texts = sorted({r["text"] for r in records})
    pick = torch.randperm(len(texts), generator=torch.Generator().manual_seed(seed))[:size]
    return texts, pick.sort().values.tolist()

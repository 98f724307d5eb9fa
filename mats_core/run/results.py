"""Results schema (versioned) and crash-safe writers.

``<output>/results.json`` is written atomically (temp file + rename); ``samples.jsonl`` gets
one line per sample, flushed per batch, so a killed run loses at most the batch in flight
and a rerun skips what is already there.
"""

from __future__ import annotations

import json
import os
import platform
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mats_core.capabilities import capability
from mats_core.io import atomic_write_text, fingerprint  # noqa: F401 - re-exported (moved to mats_core.io)

SCHEMA_VERSION = 1


class SampleRecord(BaseModel):
    model_config = ConfigDict(extra="allow")
    task: str
    id: str
    prediction: str | None = None
    references: list[str] = Field(default_factory=list)
    label: str | None = None
    error: str | None = None


def sample_row(task: str, sample: Any, *, prediction: str | None, error: str | None) -> dict:
    """One samples.jsonl row of ``sample`` (the :class:`SampleRecord` fields, in their order)."""
    return {
        "task": task,
        "id": str(sample.id),
        "prediction": prediction,
        "references": list(sample.references),
        "label": sample.label,
        "error": error,
    }


class RunResults(BaseModel):
    model_config = ConfigDict(extra="allow")
    schema_version: int = SCHEMA_VERSION
    created: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    config: dict[str, Any]
    versions: dict[str, str]
    seed: int
    results: dict[str, dict[str, float | None]]
    notes: dict[str, dict[str, str]] = Field(default_factory=dict)
    errors_count: int = 0
    samples_count: dict[str, int] = Field(default_factory=dict)
    fingerprints: dict[str, str] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    # how the run executed (processes, rows per process, batch size and decoding actually used):
    # outside ``config`` so it never changes a fingerprint
    execution: dict[str, Any] | None = None
    # `mats-bench score` on a killed run: fewer rows than samples (expected_count vs samples_count)
    partial: bool = False
    expected_count: dict[str, int] = Field(default_factory=dict)


def write_results(path: str | os.PathLike, results: RunResults) -> None:
    atomic_write_text(path, results.model_dump_json(indent=2) + "\n")


def read_results(path: str | os.PathLike) -> RunResults:
    from mats_core.errors import MatsError

    try:
        return RunResults.model_validate_json(Path(path).read_text())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise MatsError(
            f"{path}: not a valid results.json ({where + ': ' if where else ''}{first['msg']}); "
            "re-create it with `mats-bench score RUN_DIR` or re-run"
        ) from None


class SamplesWriter:
    """Append-only samples.jsonl. A torn last line (a kill mid-write) is dropped on reopen.

    Each batch is flushed to the OS (a killed run keeps it); fsync waits for the disk, which
    costs more than a tiny model's batch, so it runs every ``sync_seconds`` and at close."""

    def __init__(self, path: str | os.PathLike, sync_seconds: float = 5.0):
        self.path = Path(path)
        self.sync_seconds, self._synced = sync_seconds, time.monotonic()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records: dict[tuple[str, str], dict] = {}
        if self.path.exists():
            self.records, lines = scan_samples(self.path)  # torn or invalid rows are redone
            atomic_write_text(self.path, "".join(g + "\n" for g in lines.values()))
        self._fh = open(self.path, "a", encoding="utf-8")

    def done(self, task: str) -> set[str]:
        return {i for (t, i) in self.records if t == task}

    def write(self, records: Iterable[SampleRecord | dict]) -> None:
        for rec in records:
            row = rec.model_dump() if isinstance(rec, SampleRecord) else SampleRecord.model_validate(rec).model_dump()
            self.records[(row["task"], str(row["id"]))] = row
            self._fh.write(_json_line(row) + "\n")
        self._fh.flush()
        if time.monotonic() - self._synced >= self.sync_seconds:
            os.fsync(self._fh.fileno())
            self._synced = time.monotonic()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()


def _json_line(row: dict) -> str:
    """A row as one JSON line, UTF-8 as it is; a lone surrogate (an id from a file name that is not
    valid UTF-8) is written escaped (``\\udcff``), so the line is valid and reads back the same id."""
    line = json.dumps(row, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(row)
    return line


def read_samples(path: str | os.PathLike) -> list[dict]:
    """The valid rows of a samples.jsonl, one per (task, id): the policy of ``scan_samples``."""
    return list(scan_samples(path)[0].values())


def scan_samples(path: str | os.PathLike) -> tuple[dict[tuple[str, str], dict], dict[tuple[str, str], str]]:
    """(task, id) -> row and -> its line. A torn line (a kill mid-write) is dropped silently; a
    valid-JSON line that is not a sample row (no ``task`` or ``id``) is dropped with a warning
    naming file and line; a (task, id) written twice keeps the last row, with a warning. ``run``
    (resume) and ``score`` both read samples.jsonl through this, so they count the same rows."""
    rows: dict[tuple[str, str], dict] = {}
    lines: dict[tuple[str, str], str] = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        try:
            rec = SampleRecord.model_validate(json.loads(line))
        except json.JSONDecodeError:
            continue  # torn write from an interrupted run: that sample is redone
        except ValidationError as exc:
            where = ", ".join(".".join(map(str, e["loc"])) or "(row)" for e in exc.errors())
            warnings.warn(
                f"{path}:{n}: not a sample row (invalid {where}); it is ignored (a run redoes that sample)",
                stacklevel=2,
            )
            continue
        key = (rec.task, rec.id)
        if key in rows:
            warnings.warn(
                f"{path}:{n}: task {rec.task!r} id {rec.id!r} is written twice; the last row is kept", stacklevel=2
            )
        rows[key], lines[key] = json.loads(line), line
    return rows, lines


def data_fingerprint(task: Any, samples: Iterable[Any]) -> str:
    """What a run's results depend on in a task's data: the task's own ``fingerprint`` (optional)
    and each sample's id, instruction, label and references."""
    rows = [[str(s.id), s.instruction, s.label, list(s.references)] for s in samples]
    return fingerprint([capability(task, "fingerprint"), rows])


def collect_versions(packages: Iterable[str] = ()) -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("mats-bench", "torch", "transformers", "peft", "numpy", *packages):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out

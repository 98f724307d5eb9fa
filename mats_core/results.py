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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, Field

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


def write_results(path: str | os.PathLike, results: RunResults) -> None:
    atomic_write_text(path, results.model_dump_json(indent=2) + "\n")


def read_results(path: str | os.PathLike) -> RunResults:
    return RunResults.model_validate_json(Path(path).read_text())


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
            good = []
            for line in self.path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # torn write from an interrupted run: that sample is redone
                self.records[(rec["task"], str(rec["id"]))] = rec
                good.append(line)
            atomic_write_text(self.path, "".join(g + "\n" for g in good))
        self._fh = open(self.path, "a")

    def done(self, task: str) -> set[str]:
        return {i for (t, i) in self.records if t == task}

    def write(self, records: Iterable[SampleRecord | dict]) -> None:
        for rec in records:
            row = rec.model_dump() if isinstance(rec, SampleRecord) else SampleRecord.model_validate(rec).model_dump()
            self.records[(row["task"], str(row["id"]))] = row
            self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._fh.flush()
        if time.monotonic() - self._synced >= self.sync_seconds:
            os.fsync(self._fh.fileno())
            self._synced = time.monotonic()

    def rows(self, task: str) -> list[dict]:
        return [r for (t, _), r in self.records.items() if t == task]

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()


def read_samples(path: str | os.PathLike) -> list[dict]:
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def collect_versions(packages: Iterable[str] = ()) -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("mats-bench", "torch", "transformers", "peft", "numpy", *packages):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out

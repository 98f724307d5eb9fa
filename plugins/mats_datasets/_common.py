"""Shared plumbing of the dataset tasks: where a dataset lives, reading its metadata with
errors that name the file, line and column, and the fingerprint of what was read.

Researchers keep datasets in the layouts they ship in, so every task reads those layouts as
they are; nothing here converts or copies data. Metadata problems fail loudly (they make
the whole task meaningless); a missing or broken *audio* file never does: the harness
records an error for that one sample and scores it as wrong.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mats_core import MatsError
from mats_core.io import file_sha256

# The paper's fixed test prompts (MATS prompts/test_prompt.json); QA uses the question itself.
CAPTION_PROMPT = "Describe the following audio in a caption."
CLASSIFY_PROMPT = "Identify the sounds in the audio clip, only display audio tags."
MUSIC_PROMPT = "Listen to this music clip and describe the music."
DEFAULT_LABEL_PROMPT = "this is a sound of {label}"  # the CLAP zero-shot prompt (MS-CLAP, LAION-CLAP)


def dataset_folder(task: str, data_root: str | None, path: str | None, folders: Sequence[str], layout: str) -> Path:
    """The dataset folder: ``path`` itself, else ``<data_root>/<folder>`` for the first of
    ``folders`` (the default name first, then the names the official archives unpack to)."""
    if path:
        return Path(path).expanduser().absolute()
    if not data_root:
        raise MatsError(
            f"{task}: no dataset location. Pass data_root (mats-bench run --data-root DIR, where DIR holds "
            f"{folders[0]}/) or path (the dataset folder itself, e.g. --set task.path=DIR). "
            f"Expected layout:\n{layout}"
        )
    root = Path(data_root).expanduser().absolute()
    for name in folders:
        if (root / name).is_dir():
            return root / name
    return root / folders[0]


def metadata_file(task: str, folder: Path, relative: str, layout: str) -> Path:
    """``folder/relative`` if it is a file, else a MatsError naming it and the expected layout."""
    target = folder / relative
    if target.is_file():
        return target
    why = "" if folder.is_dir() else f"; the folder {folder} does not exist"
    raise MatsError(f"{task}: metadata file {target} not found{why}. Expected the official layout:\n{layout}")


def params_fingerprint(params: dict[str, Any], *files: Path) -> str:
    """Short stable hash of resolved params and the content of the metadata files read."""
    blob = json.dumps({"params": params, "files": [file_sha256(f) for f in files]}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _open_text(path: Path):
    """UTF-8 (BOM tolerated); UTF-16 (spreadsheet "Unicode text" exports) by its BOM or its zero
    bytes; files saved by old spreadsheet tools fall back to cp1252 / latin-1."""
    raw = path.read_bytes()
    utf16 = _utf16(raw)
    if utf16:
        try:
            return raw.decode(utf16)
        except UnicodeDecodeError as exc:
            raise MatsError(
                f"{path}: looks like {utf16.upper()} (byte-order mark or zero bytes) but does not decode: {exc}; "
                "save it as UTF-8"
            ) from None
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any byte string")  # pragma: no cover


def _utf16(raw: bytes) -> str | None:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    head = raw[:4096]
    if len(head) >= 4 and head.count(0) * 3 >= len(head):  # ASCII text in UTF-16: every other byte is zero
        return "utf-16-le" if head[1] == 0 else "utf-16-be"
    return None


def read_csv(path: Path, columns: Sequence[str], header: bool = True) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, row)`` for each non-blank row, values stripped.

    With ``header``, the first row names the columns and must contain ``columns`` (extra
    columns are kept); without, every row must have exactly ``len(columns)`` fields. A row that
    spans lines (an unclosed quote swallows the rows after it) or a field too long for the csv
    module is an error naming the file and line, never rows silently lost.
    """
    reader = csv.reader(io.StringIO(_open_text(path), newline=""))
    rows = _rows(reader, path)
    names = list(columns)
    if header:
        try:
            names = [h.strip() for h in next(rows)]
        except StopIteration:
            raise MatsError(f"{path} is empty; expected a CSV with header {','.join(columns)}") from None
        missing = [c for c in columns if c not in names]
        if missing:
            raise MatsError(
                f"{path}: missing column(s) {', '.join(missing)}; its header is {','.join(names)!r}, "
                f"expected (the official release) {','.join(columns)!r}"
            )
    for fields in rows:
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(names):  # more: an unquoted comma would shift the fields after it and drop the last
            more = '; a field holding a comma must be quoted ("a, b")' if len(fields) > len(names) else ""
            raise MatsError(
                f"{path}:{reader.line_num}: {len(fields)} fields, expected {len(names)} ({','.join(names)}){more}"
            )
        yield reader.line_num, {n: f.strip() for n, f in zip(names, fields)}


def _rows(reader: Any, path: Path) -> Iterator[list[str]]:
    """The reader's rows; a row over several lines or a csv error names the file and line."""
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise MatsError(
                f"{path}:{start}: {exc} (an unclosed quote runs to here?); fix the quoting on line {start} "
                "or the lines before it"
            ) from None
        if reader.line_num > start and any("\n" in f or "\r" in f for f in fields):
            raise MatsError(
                f"{path}:{start}: a quoted field runs over lines {start}-{reader.line_num}, so the rows in "
                "between would be lost: an unclosed quote? Close it, or remove the line breaks in the field"
            )
        yield fields


def inside(folder: Path, name: str, where: str, column: str) -> Path:
    """``folder / name`` for a file name read from an official layout's metadata; an absolute name or
    one that climbs out (``../``) is an error: these layouts name files inside their own folders."""
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise MatsError(
            f"{where}: {column} {name!r} points outside the dataset folder {folder}; the official layout names "
            "files inside it (a manifest, task jsonl, takes paths elsewhere)"
        )
    return folder / name


def as_int(value: str, column: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is not None and number.is_integer():
            return int(number)
        raise MatsError(f"{where}: column {column!r} must be an integer, got {value!r}") from None


def as_float(value: str, column: str, where: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise MatsError(f"{where}: column {column!r} must be a number, got {value!r}") from None


def as_bool(value: str, column: str, where: str) -> bool:
    text = value.strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise MatsError(f"{where}: column {column!r} must be True or False, got {value!r}")


def label_text(label: str) -> str:
    """Official class names as words: ``chirping_birds`` -> ``chirping birds``."""
    return " ".join(label.replace("_", " ").split())

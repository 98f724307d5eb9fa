"""File helpers for plugins and the core (public, stable): JSONL, atomic writes, the cache, hashes.

One implementation of each, so a plugin's cache files, manifests and fingerprints behave like
the core's: JSONL lines are split on ``\\n`` only and bad lines raise :class:`MatsError` naming
the file and line; writes go to a temp file first and are renamed into place (a killed process
never leaves a torn file); the cache root is ``$MATS_CACHE``, else ``$XDG_CACHE_HOME/mats-bench``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from mats_core.errors import MatsError

__all__ = [
    "atomic_write_text",
    "cache_root",
    "file_sha256",
    "fingerprint",
    "json_object",
    "read_jsonl",
    "text_field",
    "write_jsonl",
]


def cache_root(*parts: str) -> Path:
    """``$MATS_CACHE`` (else ``$XDG_CACHE_HOME/mats-bench``, else ``~/.cache/mats-bench``) joined
    with ``parts``; a plugin keeps its files under its own sub-folder, e.g. ``cache_root("tiny")``."""
    root = os.environ.get("MATS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"), "mats-bench"
    )
    return Path(root).joinpath(*parts)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to a temp file beside ``path``, fsync it and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding=encoding) as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> None:
    """One JSON value per line, written atomically."""
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed value)`` for every non-blank line of a JSONL file, streamed.

    Lines are split on ``\\n`` only (JSON strings may hold U+2028 and friends), a UTF-8 BOM
    is tolerated, and bad UTF-8 or bad JSON is a :class:`MatsError` naming the file and line.
    The one JSONL reader of mats-bench: corpora, dataset manifests, plugin caches."""
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
                raise MatsError(
                    f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start} of the line); save the file as UTF-8"
                ) from None
            if not line.strip():
                continue
            try:
                value = json.loads(line, object_pairs_hook=_unique_keys)
            except json.JSONDecodeError as exc:
                raise MatsError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            except _DuplicateKey as exc:
                raise MatsError(
                    f"{where}: key {exc.args[0]!r} is given twice in one object (JSON would keep the last "
                    "silently); keep one"
                ) from None
            yield number, value


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


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


def _hint(hint: str) -> str:
    return f" ({hint})" if hint else ""


def fingerprint(obj: Any) -> str:
    """Stable short hash of a JSON-able object (configs, task definitions)."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

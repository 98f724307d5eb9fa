"""Finding a clip's audio file by id in folders as researchers actually keep them.

YouTube-sourced sets (AudioCaps, MusicCaps, VGGSound) are downloaded by many different
scripts, so one clip may be ``<id>.wav``, ``Y<id>.flac`` (AudioSet style), ``<id>_30.mp3``,
``<id>_000030.mp4`` (the VGGSound release), ``Y<id>_30.000_40.000.wav`` or
``[<id>]-[30-40].wav``. Each folder is listed once (one ``os.scandir``) into an index keyed
by every possible id prefix of a file name; lookups are then dictionary hits, never a
glob per sample, which matters for 200k-clip folders on network storage.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

AUDIO_EXTS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac")
_NOT_MEDIA = {".csv", ".json", ".jsonl", ".txt", ".md", ".yaml", ".yml", ".part", ".tmp", ".zip", ".tar", ".gz", ".7z"}
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)(?:-\d+(?:\.\d+)?)?")
_BRACKETS = re.compile(r"\[(.+)\]-\[(\d+(?:\.\d+)?-\d+(?:\.\d+)?)\]")


class AudioIndex:
    """Audio files of ``folders`` (earlier folders win), listed on first use.

    ``extensions``: the accepted suffixes in order of preference (None: any media file, the
    known audio suffixes first, so an extracted ``.wav`` beats the ``.mp4`` it came from).
    """

    def __init__(self, folders: Sequence[Path], extensions: Sequence[str] | None = AUDIO_EXTS):
        self.folders = [Path(f) for f in folders]
        self.extensions = None if extensions is None else tuple(e.lower() for e in extensions)
        self._names: dict[str, tuple[tuple, Path]] | None = None
        self._prefixes: dict[str, list[tuple[str, tuple, Path]]] = {}

    # -- building ------------------------------------------------------------------------
    def _rank(self, folder_index: int, ext: str) -> tuple | None:
        if self.extensions is not None:
            return None if ext not in self.extensions else (folder_index, self.extensions.index(ext))
        if ext in _NOT_MEDIA or not ext:
            return None
        known = AUDIO_EXTS.index(ext) if ext in AUDIO_EXTS else len(AUDIO_EXTS)
        return (known == len(AUDIO_EXTS), folder_index, known)

    def _build(self) -> None:
        self._names = {}
        for i, folder in enumerate(self.folders):
            try:
                entries = os.scandir(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue
            with entries:
                for entry in entries:
                    stem, ext = os.path.splitext(entry.name)
                    rank = self._rank(i, ext.lower())
                    if rank is None or not entry.is_file():
                        continue
                    path = Path(entry.path).absolute()
                    if entry.name not in self._names or rank < self._names[entry.name][0]:
                        self._names[entry.name] = (rank, path)
                    self._add_stem(stem, rank, path)

    def _add_stem(self, stem: str, rank: tuple, path: Path) -> None:
        bracketed = _BRACKETS.fullmatch(stem)
        if bracketed:
            self._prefixes.setdefault(bracketed.group(1), []).append((bracketed.group(2), rank, path))
            return
        self._prefixes.setdefault(stem, []).append(("", rank, path))
        for pos, char in enumerate(stem):
            if char == "_" and pos:
                self._prefixes.setdefault(stem[:pos], []).append((stem[pos + 1 :], rank, path))

    def _ensure(self) -> None:
        if self._names is None:
            self._build()

    # -- lookups -------------------------------------------------------------------------
    def by_name(self, file_name: str) -> Path | None:
        """The file called exactly ``file_name`` in the first folder holding it."""
        self._ensure()
        hit = self._names.get(file_name)
        return hit[1] if hit else None

    def clip(self, clip_id: str, start: float | None = None) -> Path | None:
        """The file of a YouTube-style clip: ``[Y]<id>`` alone or followed by ``_<start>...``.

        A numeric suffix must equal ``start`` (seconds, or milliseconds): another number is
        another segment of the same video (VGGSound has several per video). A suffix that is
        not a number belongs to a different id that merely starts with this one.
        """
        self._ensure()
        best: tuple | None = None
        for key in (clip_id, "Y" + clip_id):
            for suffix, rank, path in self._prefixes.get(key, ()):
                score = _suffix_score(suffix, start)
                if score is None:
                    continue
                candidate = (-score, rank, str(path))
                if best is None or candidate < best:
                    best = candidate
        return Path(best[2]) if best else None

    def expected(self, file_name: str) -> Path:
        """Where a missing file was expected (the first existing folder), for the error message."""
        for folder in self.folders:
            if folder.is_dir():
                return (folder / file_name).absolute()
        return (self.folders[0] / file_name).absolute()


def _suffix_score(suffix: str, start: float | None) -> int | None:
    """2: suffix names this start; 1: no suffix; None: another segment or another id."""
    if not suffix:
        return 1
    token = suffix.split("_", 1)[0]
    match = _NUMBER.fullmatch(token)
    if match is None:
        return None
    if start is None:
        return 1
    value = float(match.group(1))
    return 2 if math.isclose(value, start) or math.isclose(value, start * 1000) else None

"""A clip's encoder output, computed once: in memory for the run, on disk for later runs.

Every row of a run (each bridge, the controls, MATS-Audio, the zero-shot row) and every sweep
point embeds the same clips with the same encoder; only what comes after the encoder differs. A
clip's raw embedding depends only on the encoder (its identity and weights fingerprint:
``mats_core.model.embeddings.encoder_identity``), the clip's content and the front end's settings
(the encoder's rate and window, ``run.crop`` and, for a random crop, the clip's crop seed), so
that is its key (:func:`clip_key`). The content is named without decoding anything:

* a sample's optional ``audio_fingerprint`` (what decides its waveform, e.g. a rendered clip's
  scene and the renderer's version), so a cached clip is never rendered;
* else a file's real path, size, modification and change times (an edited file gets a new key;
  ``ctime`` changes even when a copy keeps the old ``mtime``);
* else an array's bytes.

Only the embeddings of clips that loaded and came out finite are kept (``mats_core.run.audio_embeddings``):
a bad clip fails its sample again on every run, never turns into a cached embedding.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from typing import Any

from mats_core.capabilities import capability

FRONT_END = "load_audio/1"  # bump when mats_core.model.audio.load_audio gives another waveform for the same inputs


def clip_key(sample: Any, *, rate: int, window: float | None, crop: str, seed: int | None) -> str | None:
    """What decides a clip's embedding besides the encoder, as a string; None when the clip's
    content cannot be named (its file cannot be stat'ed, its audio cannot be made): the clip is
    then embedded afresh, and fails as its sample's error if it is broken."""
    try:
        content = _content(sample)
    except Exception:  # noqa: BLE001 - the embedding path reports what is wrong with this clip
        return None
    if content is None:
        return None
    return json.dumps([FRONT_END, content, int(rate), window, crop, seed])


def _content(sample: Any) -> list | None:
    declared = capability(sample, "audio_fingerprint")  # optional sample capability
    if declared is not None:
        return ["fingerprint", str(declared)]
    audio = sample.audio
    if isinstance(audio, (str, bytes, os.PathLike)):
        path = os.path.realpath(audio)
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return None
        return ["file", os.fsdecode(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    import numpy as np

    if isinstance(audio, np.ndarray):
        wav = np.ascontiguousarray(audio)
        digest = hashlib.sha256(wav.tobytes()).hexdigest()
        return ["array", str(wav.dtype), list(wav.shape), sample.sample_rate, digest]
    return None


class ClipCache:
    """Raw clip embeddings by :func:`clip_key`: a dict for this process and, when the encoder's
    identity is known (``identity``), the content-keyed embeddings cache on disk."""

    def __init__(self, identity: str | None):
        self.identity = identity
        self._rows: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        """The clip's raw embedding [dim] (float32, cpu), or None."""
        row = self._rows.get(key)
        if row is None and self.identity is not None:
            from mats_core.model.embeddings import load_embeddings

            row = load_embeddings(self._parts(key), self._dir())
            if row is not None:
                self._rows[key] = row
        return row

    def put(self, key: str, row: Any) -> None:
        row = row.detach().float().cpu().clone()  # its own storage, not a view of its batch
        self._rows[key] = row
        if self.identity is not None:
            from mats_core.model.embeddings import store_embeddings

            store_embeddings(self._parts(key), row, self._dir())

    def _parts(self, key: str) -> list[str]:
        return [self.identity or "", "audio-clip", key]

    @staticmethod
    def _dir():
        from mats_core.model.embeddings import cache_dir

        return cache_dir() / "clips"

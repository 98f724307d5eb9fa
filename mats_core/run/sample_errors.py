"""One bad sample fails only itself: whatever goes wrong while reading, decoding or embedding
one sample's audio becomes that sample's recorded error (its row's ``error`` in samples.jsonl),
and the run goes on with the others.

``mats_core.model.audio`` already turns what it knows of (missing, truncated, undecodable files) into
an ``AudioError``; here are the rest: an ``OSError`` such as ``PermissionError``, a bug in a
decoder, an encoder that fails on one clip, and an embedding that is not finite (a float WAV
holding 1e30 passes the audio's finiteness check and overflows inside the encoder). A
non-finite embedding is an error, never a prediction. With ``run.crop=chunks`` a clip is all its
encoder windows ([n, T] from ``load_audio``), each embedded alone and averaged (mean of the raw
embeddings), for every encoder: each encoder call still sees one window per clip.
"""

from __future__ import annotations

import itertools
import os
from typing import Any, Sequence

from mats_core.errors import MatsError


def sample_error(sample: Any, exc: BaseException) -> str:
    """The error recorded for ``sample``: a ``MatsError``'s own message (it names the file),
    else the file, the exception's type and its message."""
    if isinstance(exc, MatsError):
        return str(exc)
    return f"{_where(sample)}: cannot read or embed the audio ({type(exc).__name__}: {exc})"


def _where(sample: Any) -> str:
    audio = getattr(sample, "audio", None)
    return os.fsdecode(audio) if isinstance(audio, (str, bytes, os.PathLike)) else "in-memory audio"


def embed_each(
    encoder: Any, waves: Sequence[Any], ok: list[int], errors: dict[int, str], samples: Sequence[Any], *, chunk: int
) -> tuple[Any, list[int], dict[int, str]]:
    """Raw embeddings of ``waves`` (the audio of ``samples[i]`` for ``i`` in ``ok``): those that
    fail or are not finite move from ``ok`` to ``errors``. Returns (embeddings or None, ok, errors)."""
    import torch

    from mats_core.model.clips import embed_clips

    groups = [list(w) if w.ndim == 2 else [w] for w in waves]  # run.crop=chunks: a clip's windows [n, T], averaged
    try:
        z = embed_clips(encoder, [c for g in groups for c in g], chunk)
        ends = [0, *itertools.accumulate(len(g) for g in groups)]
        rows = [z[a:b].mean(dim=0) for a, b in zip(ends, ends[1:])]
    except Exception:  # noqa: BLE001 - find the clip(s) that fail: each alone (embeddings are batch-independent)
        rows = []
        for i, g in zip(ok, groups):
            try:
                rows.append(embed_clips(encoder, g, chunk).mean(dim=0))
            except Exception as exc:  # noqa: BLE001 - this sample's error
                errors[i] = sample_error(samples[i], exc)
                rows.append(None)
    kept, out = [], []
    for i, row in zip(ok, rows):
        if row is None:
            continue
        if not bool(torch.isfinite(row).all()):
            errors[i] = (
                f"{_where(samples[i])}: the encoder's embedding is not finite (NaN or infinite); the audio's values are "
                "probably out of range (a float file should hold samples within [-1, 1])"
            )
            continue
        kept.append(i)
        out.append(row)
    return (torch.stack(out) if out else None), kept, errors

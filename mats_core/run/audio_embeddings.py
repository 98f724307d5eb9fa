"""The raw encoder embeddings of a block of samples, each distinct clip encoded once.

Every row of a run asks for the same clips (``Pipeline.embed_audio``): a clip already embedded,
by this run or an earlier one, is read from the :class:`~mats_core.model.audio_cache.ClipCache`
(no file read, no render), and the clips of one call that share a key (the silence control's
one silent clip) are encoded once. The rest are loaded and embedded as before: a clip that fails
to load or embed, or whose embedding is not finite, is its sample's error
(``mats_core.run.sample_errors``) and is never cached.
"""

from __future__ import annotations

import zlib
from typing import Any, Sequence

from mats_core.capabilities import capability
from mats_core.model.audio import load_audio
from mats_core.model.audio_cache import ClipCache, clip_key
from mats_core.run.sample_errors import embed_each, sample_error


def embed_samples(
    encoder: Any, samples: Sequence[Any], cfg: Any, *, cache: ClipCache | None, chunk: int
) -> tuple[Any, list[int], dict[int, str]]:
    """(raw embeddings [len(ok), dim] on cpu, or None; the positions that have one; errors by position).
    ``cache`` None: every clip is loaded and embedded afresh (what a batch-independence check needs)."""
    import torch

    keys = [_key(encoder, s, cfg) if cache is not None else None for s in samples]
    rows = {i: cache.get(k) for i, k in enumerate(keys) if k is not None}
    rows = {i: row for i, row in rows.items() if row is not None}
    first: dict[str, int] = {}  # key -> the position that computes it
    todo = []
    for i, k in enumerate(keys):
        if i in rows or (k is not None and k in first):
            continue
        if k is not None:
            first[k] = i
        todo.append(i)
    z, ok, errs = _embed_fresh(encoder, [samples[i] for i in todo], cfg, chunk=chunk)
    errors = {todo[j]: e for j, e in errs.items()}
    for j, row in zip(ok, [] if z is None else z.detach().float().cpu()):
        rows[todo[j]] = row
        if keys[todo[j]] is not None:
            cache.put(keys[todo[j]], row)
    for i, k in enumerate(keys):  # a repeat of a clip computed in this call shares its outcome
        if i not in rows and i not in errors and k in first:
            if first[k] in rows:
                rows[i] = rows[first[k]]
            else:
                errors[i] = errors[first[k]]
    kept = sorted(rows)
    return (torch.stack([rows[i] for i in kept]) if kept else None), kept, errors


def _key(encoder: Any, sample: Any, cfg: Any) -> str | None:
    return clip_key(
        sample,
        rate=encoder.sample_rate,
        window=capability(encoder, "clip_seconds"),
        crop=cfg.crop,
        seed=_crop_seed(sample, cfg) if cfg.crop == "random" else None,  # other crops draw nothing
    )


def _crop_seed(sample: Any, cfg: Any) -> int:
    """A clip's own crop seed: its random crop does not depend on its batch or its row."""
    return cfg.seed + zlib.crc32(str(sample.id).encode())


def _embed_fresh(
    encoder: Any, samples: Sequence[Any], cfg: Any, *, chunk: int
) -> tuple[Any, list[int], dict[int, str]]:
    """Load each sample's clip (cropped as ``cfg.crop`` says) and embed the ones that load."""
    import numpy as np

    waves, ok, errors = [], [], {}
    clip = capability(encoder, "clip_seconds")
    for i, s in enumerate(samples):
        try:
            rng = np.random.default_rng(_crop_seed(s, cfg))
            waves.append(load_audio(s.audio, encoder.sample_rate, s.sample_rate, clip, cfg.crop, rng))
            ok.append(i)
        except Exception as exc:  # noqa: BLE001 - any failure of one file is that sample's error (mats_core.run.sample_errors)
            errors[i] = sample_error(s, exc)
    if not waves:
        return None, ok, errors
    # rows that come out non-finite are errors too
    return embed_each(encoder, waves, ok, errors, samples, chunk=chunk)

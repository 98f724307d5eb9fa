"""Batching clips for an encoder so that a clip's embedding never depends on its batch.

An encoder with a fixed window (``clip_seconds``) gets every clip cropped or repeated to that
window by ``mats_core.model.audio.load_audio``, on its own, before it gets here: all clips have one
length and batch as they come. A variable-length encoder (``clip_seconds`` None) must never
see a clip zero-padded to another clip's length (it would crop, pool or draw fusion chunks
out of that padding), so clips are grouped by length and each encoder call holds clips of
one length only.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def embed_clips(encoder: Any, waves: Sequence[np.ndarray], chunk: int = 32) -> "torch.Tensor":  # noqa: F821
    """Raw embeddings [N, dim] of 1-D clips at the encoder's rate, in the order given."""
    import torch

    order = sorted(range(len(waves)), key=lambda i: (waves[i].shape[-1], i))  # stable: fixed windows keep their order
    out: list[Any] = [None] * len(waves)
    batch: list[int] = []
    for k, i in enumerate(order):
        batch.append(i)
        last = k + 1 == len(order)
        if last or len(batch) == chunk or waves[order[k + 1]].shape[-1] != waves[i].shape[-1]:
            with torch.no_grad():
                z = encoder.embed_audio(torch.from_numpy(np.stack([waves[j] for j in batch]))).float()
            for j, row in zip(batch, z):
                out[j] = row
            batch = []
    return torch.stack(out) if out else torch.zeros(0, int(encoder.dim))

"""Embed a corpus once and cache it (safetensors), keyed by encoder identity + content hash.

Training never re-embeds text per step, and the memory bank for Santa comes from the same
cache, so a sweep over bridges embeds its corpus exactly once.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from mats_core.capabilities import capability


def cache_dir() -> Path:
    from mats_core.io import cache_root

    return cache_root("embeddings")


def encoder_identity(encoder: Any, spec: dict) -> str:
    """What makes two encoders' embeddings interchangeable: the resolved spec + weights fingerprint."""
    return json.dumps({"spec": spec, "weights": capability(encoder, "fingerprint")}, sort_keys=True, default=str)


def cached_embeddings(
    key_parts: Sequence[str],
    compute: Callable[[], torch.Tensor],
    cache: Path | None = None,
) -> tuple[torch.Tensor, bool]:
    """(embeddings, hit). ``compute`` runs only on a miss; the file is written atomically."""
    from safetensors.torch import load_file, save_file

    digest = hashlib.sha256("\x00".join(key_parts).encode()).hexdigest()[:24]
    path = (cache or cache_dir()) / f"{digest}.safetensors"
    if path.exists():
        try:
            return load_file(path)["embeddings"], True
        except Exception:  # noqa: BLE001 - a torn cache file is recomputed, never trusted
            path.unlink(missing_ok=True)
    emb = compute().detach().float().cpu().contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file({"embeddings": emb}, tmp)
    os.replace(tmp, path)
    return emb, False


def embed_texts(
    encoder: Any,
    texts: Sequence[str],
    identity: str,
    batch_size: int = 256,
    progress: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, bool]:
    """L2-normalised text embeddings [N, dim] of ``texts`` (order kept), cached."""

    def compute() -> torch.Tensor:
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), batch_size):
                out.append(encoder.embed_text(list(texts[i : i + batch_size])).float().cpu())
                if progress:
                    progress(min(i + batch_size, len(texts)))
        return F.normalize(torch.cat(out), dim=-1)

    key = [identity, "text", hashlib.sha256("\n".join(texts).encode()).hexdigest()]
    return cached_embeddings(key, compute)

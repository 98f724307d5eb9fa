"""Conformance check of an :class:`~mats_core.AlignmentEncoder`, public as
``mats_core.testing.check_encoder`` (with ``tones``, its deterministic test signals)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from mats_core.interfaces import AlignmentEncoder
from mats_core.testing.asserts import _call, _conforms, _positive_int, _require, _tensor
from mats_core.testing.optional import check_optional

TEXTS = ["a dog barks", "rain falls on a tin roof", "a man speaks", "birds chirp", "a car passes by", "music plays"]


def tones(n: int, sample_rate: int, seconds: float = 1.0) -> Any:
    """[n, T] float32 deterministic test signals: a different tone plus its third harmonic per row."""
    import torch

    t = torch.arange(int(seconds * sample_rate), dtype=torch.float64) / sample_rate
    freqs = [110.0 * (2 + i % 16) for i in range(n)]
    rows = [0.4 * torch.sin(2 * math.pi * f * t) + 0.1 * torch.sin(2 * math.pi * 3 * f * t) for f in freqs]
    return torch.stack(rows).float()


def check_encoder(encoder: Any, n: int = 2, seconds: float = 1.0, atol: float = 1e-4) -> None:
    """Shapes, finiteness, determinism and batch consistency of an :class:`AlignmentEncoder`.

    Embeddings are compared after L2 normalisation (what the core uses) with ``atol``; the
    encoder is put in eval mode first when it has ``eval()``.
    """
    import torch

    _conforms(encoder, AlignmentEncoder)
    dim = _positive_int("encoder.dim", encoder.dim)
    sr = _positive_int("encoder.sample_rate", encoder.sample_rate)
    if callable(getattr(encoder, "eval", None)):
        encoder.eval()
    waves = tones(n, sr, seconds)
    texts = [TEXTS[i % len(TEXTS)] + (f" {i}" if i >= len(TEXTS) else "") for i in range(n)]
    with torch.no_grad():
        _check_embedder("embed_audio", encoder.embed_audio, lambda rows: waves[rows], n, dim, atol)
        _check_embedder("embed_text", encoder.embed_text, lambda rows: [texts[i] for i in rows], n, dim, atol)
    check_optional("encoder", encoder)


def _check_embedder(
    name: str, fn: Callable[[Any], Any], make: Callable[[list[int]], Any], n: int, dim: int, atol: float
) -> None:
    import torch

    def embed(rows: list[int]) -> Any:
        given = make(rows)
        kept = given.clone() if isinstance(given, torch.Tensor) else list(given)
        out = _tensor(f"{name} on a batch of {len(rows)}", _call(name, fn, given), (len(rows), dim))
        same = torch.equal(given, kept) if isinstance(given, torch.Tensor) else given == kept
        _require(same, f"{name} modified its input in place")
        return out

    every = list(range(n))
    first = embed(every)
    diff = _max_diff_normalized(first, embed(every))
    _require(
        diff <= atol,
        f"{name} is not deterministic: the same input twice differs by {diff:.3g} after L2 "
        f"normalisation (atol={atol}); is dropout active outside eval mode?",
    )
    if n >= 2:
        _require(
            not torch.equal(first[0], first[1]),
            f"{name} returned identical embeddings for two different inputs: the output ignores its input",
        )
    for i in every:
        diff = _max_diff_normalized(embed([i]), first[i : i + 1])
        _require(
            diff <= atol,
            f"{name} is not batch-consistent: row {i} of a batch of {n} differs from the same "
            f"input embedded alone by {diff:.3g} after L2 normalisation (atol={atol}); look for "
            "batch statistics or padding leaking into the result",
        )


def _max_diff_normalized(a: Any, b: Any) -> float:
    import torch.nn.functional as F

    a, b = (F.normalize(t.detach().float().cpu(), dim=-1) for t in (a, b))
    return float((a - b).abs().max())

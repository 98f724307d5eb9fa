"""Tensor helpers shared by the bridges: L2 normalisation, generator-driven Gaussian noise,
and input validation with messages that say which argument is wrong and what to do.

Imported only by the bridge factories, so importing torch at top level is fine here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from mats_core import MatsError


def normalize(x: Tensor) -> Tensor:
    """Row-wise L2 normalisation (a zero row stays zero instead of becoming NaN)."""
    return F.normalize(x, p=2.0, dim=-1)


def gaussian(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    """N(0, I) of ``shape`` on ``like``'s device and dtype, drawn from ``generator`` only.

    When the generator lives on another device than the data (a CPU generator with CUDA
    embeddings) the draw happens on the generator's device and is moved, so results depend
    on the seed, not on where the embeddings sit. ``None`` falls back to torch's global RNG.
    """
    if generator is None or generator.device == like.device:
        return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)
    return torch.randn(shape, generator=generator, device=generator.device, dtype=like.dtype).to(like.device)


def noise_injection(x: Tensor, variance: float, generator: torch.Generator | None, uniform: bool = False) -> Tensor:
    """normalize(normalize(x) + sqrt(variance) * N(0, I)): the MATS training-time augmentation.

    ``variance`` is per dimension (0.015 in the paper); 0 returns the normalised input.
    ``uniform`` draws the offset uniformly from the ball of radius sqrt(variance) instead
    (the published code's ``uniform_noise`` option; see :func:`uniform_ball`).
    """
    x = normalize(x)
    if variance == 0:
        return x
    draw = uniform_ball if uniform else _scaled_gaussian
    return normalize(x + draw(tuple(x.shape), x, generator, math.sqrt(variance)))


def _scaled_gaussian(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None, std: float) -> Tensor:
    return std * gaussian(shape, like, generator)


def uniform_ball(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None, radius: float) -> Tensor:
    """Points uniform in the d-ball of ``radius``, one per row: a uniform direction (a
    normalised Gaussian) times radius * U^(1/d), U ~ U(0, 1) (the volume of a ball grows as r^d).

    Unlike N(0, var I), whose norm is about sqrt(var * d), this offset's norm is at most
    sqrt(var): the same ``noise_variance`` is a much smaller perturbation in high dimension.
    """
    direction = normalize(gaussian(shape, like, generator))
    u = torch.rand(
        shape[:-1] + (1,),
        generator=generator,
        device=generator.device if generator is not None else like.device,
        dtype=like.dtype,
    ).to(like.device)
    return direction * (radius * u.pow(1.0 / shape[-1]))


def check_embeddings(x: object, what: str, dim: int | None = None) -> Tensor:
    """Validate a [B, dim] floating tensor of queries (text or audio embeddings)."""
    if not isinstance(x, torch.Tensor):
        raise MatsError(f"{what}: expected a torch.Tensor of shape [batch, dim], got {type(x).__name__}")
    if x.dim() != 2:
        raise MatsError(f"{what}: expected shape [batch, dim], got {tuple(x.shape)}; stack single vectors with x[None]")
    if not x.is_floating_point():
        raise MatsError(f"{what}: expected a floating-point tensor, got {x.dtype}")
    if dim is not None and x.shape[1] != dim:
        raise MatsError(
            f"{what}: embeddings have dim {x.shape[1]} but the memory bank has dim {dim}; "
            "fit the bridge on a bank made by the same encoder"
        )
    return x


def check_bank(bank: object, bridge: str) -> Tensor:
    """Validate a memory bank [N, dim]: 2-D, non-empty, floating, finite, no all-zero rows."""
    where = f"bridge '{bridge}': memory bank"
    if not isinstance(bank, torch.Tensor):
        raise MatsError(f"{where} must be a torch.Tensor of shape [N, dim], got {type(bank).__name__}")
    if bank.dim() != 2:
        raise MatsError(f"{where} must be 2-D [N, dim] (one caption embedding per row), got shape {tuple(bank.shape)}")
    if bank.shape[0] == 0 or bank.shape[1] == 0:
        raise MatsError(
            f"{where} is empty (shape {tuple(bank.shape)}); embed at least k captions of the training corpus"
        )
    if not bank.is_floating_point():
        raise MatsError(f"{where} must be floating point, got {bank.dtype}")
    # row by row statistics in chunks: a 5M x 1024 bank must not get a full-size temporary
    step = max(1, (1 << 24) // bank.shape[1])
    finite = torch.cat([torch.isfinite(bank[a : a + step]).all(dim=1) for a in range(0, bank.shape[0], step)])
    if not bool(finite.all()):
        rows = torch.nonzero(~finite).flatten()
        raise MatsError(
            f"{where} holds NaN/inf values in {rows.numel()} of {bank.shape[0]} rows "
            f"(first: row {int(rows[0])}); re-embed those captions"
        )
    zero = torch.cat([bank[a : a + step].abs().amax(dim=1) == 0 for a in range(0, bank.shape[0], step)])
    if bool(zero.any()):
        rows = torch.nonzero(zero).flatten()
        raise MatsError(
            f"{where} has {rows.numel()} all-zero rows (first: row {int(rows[0])}), "
            "which cannot be L2-normalised; drop them"
        )
    return bank

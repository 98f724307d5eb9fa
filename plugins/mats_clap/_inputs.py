"""Input checks and the fixed-length crops the CLAP encoders were trained on."""

from __future__ import annotations

from typing import Any

import torch


def waveform_batch(waveforms: Any, sample_rate: int, plugin: str) -> torch.Tensor:
    """``waveforms`` as a float32 [B, T] tensor, or a ValueError saying what was wrong."""
    x = waveforms if isinstance(waveforms, torch.Tensor) else torch.as_tensor(waveforms)
    if x.dim() != 2 or x.shape[-1] == 0:
        raise ValueError(
            f"encoder '{plugin}': embed_audio takes [batch, samples] mono audio at {sample_rate} Hz, "
            f"got shape {list(x.shape)}"
        )
    return x.detach().to(torch.float32)


def center_crop(x: torch.Tensor, n: int) -> torch.Tensor:
    """The middle ``n`` samples of rows longer than ``n`` (the packages crop at random;
    a benchmark needs the same embedding for the same clip every time)."""
    if x.shape[-1] <= n:
        return x
    start = (x.shape[-1] - n) // 2
    return x[:, start : start + n]


def repeat_to(x: torch.Tensor, n: int) -> torch.Tensor:
    """Rows shorter than ``n`` tiled to exactly ``n`` samples (the packages' repeat-pad)."""
    if x.shape[-1] >= n:
        return x
    reps = -(-n // x.shape[-1])
    return x.repeat(1, reps)[:, :n]

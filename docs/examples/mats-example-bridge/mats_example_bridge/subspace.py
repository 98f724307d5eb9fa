"""The ``subspace`` gap bridge: project audio embeddings onto the captions' principal subspace.

CLAP audio and text embeddings sit in different regions ("cones") of the shared space.
Texts (the memory bank of training captions) occupy a low-dimensional subspace; removing
the audio embedding's components outside it moves it towards where the mapper was trained,
without retrieving any particular caption (unlike Santa, nothing is copied from the memory).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class SubspaceBridge:
    """``fit`` learns the memory's mean and top-``rank`` directions; ``infer`` mixes each audio
    embedding with its projection; ``train`` injects Gaussian noise like the ``noise`` bridge."""

    def __init__(self, rank: int = 16, lam: float = 0.5, noise_variance: float = 0.015):
        self.rank, self.lam, self.noise_variance = rank, lam, noise_variance
        self.mean: torch.Tensor | None = None
        self.basis: torch.Tensor | None = None  # [dim, rank], orthonormal columns

    def fit(self, memory: torch.Tensor) -> None:
        memory = memory.float()
        self.mean = memory.mean(0)
        # Right singular vectors of the centred memory = its principal directions (no in-place edits).
        _, _, vh = torch.linalg.svd(memory - self.mean, full_matrices=False)
        self.basis = vh[: min(self.rank, vh.shape[0])].T.contiguous()

    def train(self, text: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.noise_variance == 0:
            return F.normalize(text, dim=-1)
        noise = torch.randn(text.shape, generator=generator, device=text.device, dtype=text.dtype)
        return F.normalize(text + noise * self.noise_variance**0.5, dim=-1)

    def infer(self, audio: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.basis is None:
            raise RuntimeError(
                "subspace bridge: call fit(memory) before infer (the caption memory defines the subspace)"
            )
        mean, basis = self.mean.to(audio), self.basis.to(audio)
        centred = audio - mean
        projected = F.normalize(mean + (centred @ basis) @ basis.T, dim=-1)
        return F.normalize((1 - self.lam) * audio + self.lam * projected, dim=-1)

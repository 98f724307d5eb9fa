"""The two bridges that need no memory bank: ``none`` (the naive swap) and ``noise``
(Gaussian noise at training, audio used as is at test: the released MATS default)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from mats_bridges._ops import check_embeddings, noise_injection
from mats_core import MatsError


class NoneBridge:
    """Identity at training and inference: train on clean text, test on raw audio embeddings."""

    name = "none"
    uses_memory = False  # the harness skips building the caption bank for it
    pairs_with = "clean"  # runs with the checkpoint trained on clean text (the paper's "no bridge" row)

    def fit(self, memory: Tensor) -> None:
        """The bank is not used."""

    def train(self, text: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return check_embeddings(text, "none.train(text)")

    def infer(self, audio: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return check_embeddings(audio, "none.infer(audio)")

    def config(self) -> dict[str, Any]:
        return {"name": self.name}

    def gap_points(self, text: Tensor, audio: Tensor, generator: torch.Generator) -> tuple[str, Tensor]:
        """What ``mats-bench gap`` shows for this bridge: the audio itself."""
        return "audio", self.infer(audio, generator)

    def __repr__(self) -> str:
        return "NoneBridge()"


class NoiseBridge:
    """Training: normalize(x + sqrt(var) * N(0, I)). Inference: identity.

    ``uniform_noise`` replaces the Gaussian by a uniform draw from the ball of radius
    sqrt(var), the option of the published MATS code (``uniform_noise`` in its config).

    The noise widens the text distribution the mapper sees, so that audio embeddings,
    which sit elsewhere on the sphere (the modality gap), still fall inside it.
    """

    name = "noise"
    uses_memory = False

    def __init__(self, noise_variance: float = 0.015, uniform_noise: bool = False):
        if not (math.isfinite(noise_variance) and noise_variance >= 0):
            raise MatsError(f"noise: noise_variance must be a finite number >= 0, got {noise_variance!r}")
        self.noise_variance = float(noise_variance)
        self.uniform_noise = bool(uniform_noise)

    def fit(self, memory: Tensor) -> None:
        """The bank is not used."""

    def train(self, text: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_embeddings(text, "noise.train(text)")
        return noise_injection(text, self.noise_variance, generator, self.uniform_noise)

    def infer(self, audio: Tensor, generator: torch.Generator | None = None) -> Tensor:
        # The core already L2-normalises encoder outputs; nothing else happens at test time.
        return check_embeddings(audio, "noise.infer(audio)")

    def config(self) -> dict[str, Any]:
        cfg = {"name": self.name, "noise_variance": self.noise_variance}
        return cfg | {"uniform_noise": True} if self.uniform_noise else cfg

    def gap_points(self, text: Tensor, audio: Tensor, generator: torch.Generator) -> tuple[str, Tensor]:
        """What ``mats-bench gap`` shows for this bridge: its inference is the identity, so its
        training input (noisy text) is what it moves toward the audio."""
        return "text + training noise", self.train(text, generator)

    def __repr__(self) -> str:
        return f"NoiseBridge(noise_variance={self.noise_variance}, uniform_noise={self.uniform_noise})"

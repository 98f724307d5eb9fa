"""The field's gap bridges beside MATS's: ``shift``, ``nearest`` and ``project``.

- **shift**: C3, Zhang et al., "Connect, Collapse, Corrupt: Learning Cross-Modal Tasks with
  Uni-Modal Data", ICLR 2024 (arXiv 2401.08567), and the embedding shift of WSAC, Kouzelis &
  Katsouros, "Weakly-supervised Automated Audio Captioning via text only training", DCASE 2023
  (arXiv 2309.12242). The gap is mostly a constant offset between the modality means, so
  remove it. ``mode="shift"`` (WSAC): test on normalize(a - mu_a + mu_t), train on (noisy)
  text as is, so any noise-trained checkpoint can use it. ``mode="center"`` (C3): train on
  normalize(t - mu_t + noise), test on normalize(a - mu_a); the checkpoint must be trained
  with this bridge. mu_t comes from the text memory bank (text only); mu_a needs UNPAIRED
  audio (the evaluation audio itself, or a named task's audio): this is the one bridge here
  that uses audio statistics, and it says so in ``config()["statistics"]``.
- **nearest**: WSAC's nearest-neighbour decoding: the audio embedding is replaced by its top-1
  (cosine) caption embedding of the bank. The mapper then only ever sees clean text
  embeddings, so it pairs with the clean-trained checkpoint.
- **project**: DeCap's projection (Li et al., "DeCap: Decoding CLIP Latents for Zero-Shot
  Captioning via Text-Only Training", ICLR 2023; also WSAC's and DRCap's (Li et al., ICASSP 2025,
  arXiv 2410.09472) projection decoding):
  normalize(sum_i softmax(<a, m_i> / temperature) m_i) over the WHOLE bank, clean captions,
  temperature 0.01 (a divisor, as DeCap). Unlike ``memory`` (Santa with lam 1): no top-k,
  no k-means, no noise on the retrieved captions, a much sharper softmax (x100 vs Santa's
  x10), and clean training (pairs with the clean checkpoint).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mats_bridges._ops import check_bank, check_embeddings, gaussian, noise_injection, normalize
from mats_core import MatsError

# rows of the bank scored at once by ``project`` / ``nearest`` (bounds the [B, block] scores)
BANK_BLOCK = 1 << 16


def _not_fitted(name: str) -> MatsError:
    return MatsError(
        f"bridge '{name}': infer() was called before fit(); "
        "call bridge.fit(memory) with the caption embeddings of the training corpus first"
    )


class _BankBridge:
    """Shared by nearest and project: keeps the normalised bank; optional training noise."""

    name = "bank"
    pairs_with = "clean"  # optional bridge attribute: which checkpoint of a set this bridge pairs with

    def __init__(self, noise_variance: float = 0.0, pairs_with: str = "clean"):
        self.noise_variance, self.pairs_with = float(noise_variance), pairs_with
        self.bank: Tensor | None = None

    def fit(self, memory: Tensor) -> None:
        bank = check_bank(memory, self.name)
        self.bank = normalize(bank.detach().to(torch.promote_types(bank.dtype, torch.float32)))

    def train(self, text: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_embeddings(text, f"{self.name}.train(text)")
        return noise_injection(text, self.noise_variance, generator)

    def _bank_for(self, audio: Tensor) -> Tensor:
        if self.bank is None:
            raise _not_fitted(self.name)
        check_embeddings(audio, f"{self.name}.infer(audio)", self.bank.shape[1])
        work = torch.promote_types(self.bank.dtype, audio.dtype)
        if self.bank.device != audio.device or self.bank.dtype != work:
            self.bank = self.bank.to(audio.device, work)
        return self.bank

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "noise_variance": self.noise_variance,
            "pairs_with": self.pairs_with,
            "bank_size": None if self.bank is None else int(self.bank.shape[0]),
        }


class NearestBridge(_BankBridge):
    """Inference: the top-1 bank caption (by cosine) replaces the audio embedding."""

    name = "nearest"

    def infer(self, audio: Tensor, generator: torch.Generator | None = None) -> Tensor:
        bank = self._bank_for(audio)
        s = normalize(audio.detach().to(bank.dtype))
        best = torch.full((s.shape[0],), -torch.inf, dtype=bank.dtype, device=bank.device)
        arg = torch.zeros(s.shape[0], dtype=torch.long, device=bank.device)
        for a in range(0, bank.shape[0], BANK_BLOCK):  # ties go to the first row, as argmax
            score, idx = (s @ bank[a : a + BANK_BLOCK].T).max(dim=1)
            better = score > best
            best, arg = torch.where(better, score, best), torch.where(better, idx + a, arg)
        return bank[arg].to(audio.dtype)


class ProjectBridge(_BankBridge):
    """Inference: normalize(sum_i softmax(<s, m_i> / temperature) m_i) over the whole bank."""

    name = "project"
    key_params = ("temperature",)  # shown next to the row under a run's table

    def __init__(self, temperature: float = 0.01, noise_variance: float = 0.0, pairs_with: str = "clean"):
        super().__init__(noise_variance, pairs_with)
        self.temperature = float(temperature)

    def infer(self, audio: Tensor, generator: torch.Generator | None = None) -> Tensor:
        bank = self._bank_for(audio)
        s = normalize(audio.detach().to(bank.dtype))
        # log-sum-exp over bank blocks: exact softmax without a [B, N] matrix for huge banks
        acc = torch.zeros_like(s)
        top = torch.full((s.shape[0], 1), -torch.inf, dtype=bank.dtype, device=bank.device)
        for a in range(0, bank.shape[0], BANK_BLOCK):
            rows = bank[a : a + BANK_BLOCK]
            logits = (s @ rows.T) / self.temperature
            new_top = torch.maximum(top, logits.max(dim=1, keepdim=True).values)
            acc = acc * torch.exp(top - new_top) + torch.exp(logits - new_top) @ rows
            top = new_top
        return normalize(acc).to(audio.dtype)

    def config(self) -> dict[str, Any]:
        return super().config() | {"temperature": self.temperature}


class ShiftBridge:
    """Remove the modality means (C3 ``center``) or move audio onto the text mean (WSAC ``shift``).

    ``fit`` takes mu_t from the text bank; ``fit_audio`` (the optional audio-statistics
    capability, called by the harness before ``infer``) takes mu_a from unpaired audio.
    """

    name = "shift"
    pairs_with = "noise"

    def __init__(
        self,
        mode: str = "shift",
        noise_variance: float = 0.015,
        audio_stats: str = "eval",
        audio_stats_split: str | None = None,
        audio_stats_limit: int | None = None,
    ):
        if mode not in ("shift", "center"):
            raise MatsError(f"bridge 'shift': param 'mode' must be 'shift' or 'center', got {mode!r}")
        self.mode, self.noise_variance = mode, float(noise_variance)
        self.audio_source, self.audio_split, self.audio_limit = audio_stats, audio_stats_split, audio_stats_limit
        self.fit_before_train = mode == "center"  # optional attribute: the trainer calls fit(corpus text) first
        self.text_mean: Tensor | None = None
        self.audio_mean: Tensor | None = None
        self.text_rows = self.audio_rows = 0

    def fit(self, memory: Tensor) -> None:
        bank = check_bank(memory, self.name)
        self.text_mean = normalize(bank.detach().double()).mean(dim=0)
        self.text_rows = int(bank.shape[0])

    def fit_audio(self, unpaired: Tensor) -> None:
        """mu_a from unpaired audio embeddings [N, dim] (no captions needed)."""
        z = check_embeddings(
            unpaired, "shift.fit_audio(unpaired)", None if self.text_mean is None else self.text_mean.numel()
        )
        if z.shape[0] == 0:
            raise MatsError(
                "bridge 'shift': fit_audio got no audio embeddings; the audio statistics need at least one clip"
            )
        self.audio_mean = normalize(z.detach().double()).mean(dim=0)
        self.audio_rows = int(z.shape[0])

    def train(self, text: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_embeddings(text, "shift.train(text)")
        if self.mode == "shift":
            return noise_injection(text, self.noise_variance, generator)
        if self.text_mean is None:
            raise MatsError(
                "bridge 'shift' (mode center): train() needs the text mean; call fit(text embeddings) first"
            )
        x = normalize(text) - self.text_mean.to(text)
        if self.noise_variance > 0:
            x = x + self.noise_variance**0.5 * gaussian(tuple(x.shape), x, generator)
        return normalize(x)

    def infer(self, audio: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.text_mean is None:
            raise _not_fitted(self.name)
        if self.audio_mean is None:
            raise MatsError(
                "bridge 'shift': infer() needs the audio mean; call bridge.fit_audio(unpaired audio embeddings) "
                "first (the harness does, with the evaluation audio or the task named by audio_stats)"
            )
        check_embeddings(audio, "shift.infer(audio)", self.text_mean.numel())
        x = normalize(audio.detach().double()) - self.audio_mean.to(audio.device)
        if self.mode == "shift":
            x = x + self.text_mean.to(audio.device)
        return normalize(x).to(audio.dtype)

    def config(self) -> dict[str, Any]:
        source = (
            "evaluation audio of each task" if self.audio_source == "eval" else f"audio of task {self.audio_source}"
        )
        if self.audio_split:
            source += f" (split {self.audio_split})"
        return {
            "name": self.name,
            "mode": self.mode,
            "noise_variance": self.noise_variance,
            "audio_stats": self.audio_source,
            "audio_stats_split": self.audio_split,
            "audio_stats_limit": self.audio_limit,
            "statistics": {
                "text_mean": f"text-only: memory bank ({self.text_rows} captions)",
                "audio_mean": f"unpaired audio: {source}",
            },
        }

    def __repr__(self) -> str:
        return (
            f"ShiftBridge(mode={self.mode!r}, noise_variance={self.noise_variance}, audio_stats={self.audio_source!r})"
        )

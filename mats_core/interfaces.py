"""The plugin interfaces of API v1 (six) and v1.2 (``AudioLanguageModel``) (runtime-checkable protocols) and the Sample record.

Third-party packages code against these; keep them stable. Tensors are torch tensors, but
torch is only imported for type checking so that importing this module stays instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Protocol, Sequence, runtime_checkable

__all__ = ["AlignmentEncoder", "AudioLanguageModel", "Corpus", "GapBridge", "LanguageModel", "Metric", "Sample", "Task"]

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch
    from torch import Tensor


@runtime_checkable
class AlignmentEncoder(Protocol):
    """A frozen audio-text alignment model (a CLAP). Outputs are raw; the core L2-normalises.

    A clip's embedding must not depend on the other clips of its batch. Optional members
    (``clip_seconds``, ``fingerprint``): ``mats_core.capabilities.OPTIONAL["encoder"]``, the
    table of docs/reference/api.md.
    """

    dim: int
    sample_rate: int

    def embed_audio(self, waveforms: "Tensor") -> "Tensor":
        """[B, T] float32 mono at ``sample_rate`` -> [B, dim]."""

    def embed_text(self, texts: list[str]) -> "Tensor":
        """B strings -> [B, dim]."""


@runtime_checkable
class GapBridge(Protocol):
    """Moves embeddings across the modality gap. Tensors are [B, dim], L2-normalised unless said.

    Whatever a bridge returns, the core L2-normalises it before the mapper, at training and at
    inference. Optional members (``pairs_with``, ``raw_input``, ``fit_audio``, ...):
    ``mats_core.capabilities.OPTIONAL["bridge"]``, the table of docs/reference/api.md.
    """

    def fit(self, memory: "Tensor") -> None:
        """Receive the caption-embedding memory bank [N, dim] (may be ignored)."""

    def train(self, text: "Tensor", generator: "torch.Generator") -> "Tensor":
        """Training-time transform of clean text embeddings (e.g. noise injection)."""

    def infer(self, audio: "Tensor", generator: "torch.Generator") -> "Tensor":
        """Inference-time transform of audio embeddings (e.g. Santa)."""


@runtime_checkable
class LanguageModel(Protocol):
    """A causal LM that accepts input embeddings. ``template`` holds ``{audio}`` (where the
    mapped prefix goes) and ``{instruction}``, e.g. ``"USER: <Speech>{audio}</Speech> {instruction}\\nASSISTANT:"``.

    Optional members (``device``, ``max_length``, ``generation``, ...):
    ``mats_core.capabilities.OPTIONAL["llm"]``, the table of docs/reference/api.md."""

    hidden_size: int
    template: str

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens."""

    def embed(self, ids: "Tensor") -> "Tensor":
        """[B, L] ids -> [B, L, hidden_size] input embeddings."""

    def loss(self, inputs_embeds: "Tensor", attention_mask: "Tensor", labels: "Tensor") -> "Tensor":
        """Mean next-token cross-entropy over positions whose label is not -100."""

    def generate(self, inputs_embeds: "Tensor", attention_mask: "Tensor", **decoding: Any) -> list[str]:
        """Decode continuations of left-padded embedded prompts."""

    def trainable_parameters(self) -> list["torch.nn.Parameter"]:
        """Parameters the trainer should optimise (e.g. LoRA), possibly empty."""


@runtime_checkable
class AudioLanguageModel(Protocol):
    """API v1.2: an audio-supervised audio LM (Qwen2-Audio, SALMONN, LTU, ...), a whole model that
    hears audio and answers a prompt in text. No encoder, bridge or mapper of ours takes part: the
    core reads each clip at ``sample_rate`` (mono float32; a clip that fails to load is that
    sample's error), batches, resumes and scores its rows like any other row of a run.

    Optional members: ``mats_core.capabilities.OPTIONAL["audio_lm"]``, the table of
    docs/reference/api.md.
    """

    sample_rate: int

    def generate(self, waveforms: "list[np.ndarray]", prompts: list[str], **decoding: Any) -> list[str]:
        """One answer per (waveform, prompt) pair; waveforms are 1-D float32 arrays of any lengths."""


@dataclass
class Sample:
    """One evaluation item. ``audio`` is a file path or a float32 mono array at ``sample_rate``."""

    id: str
    audio: "str | np.ndarray"
    instruction: str
    sample_rate: int | None = None
    references: list[str] = field(default_factory=list)
    label: str | None = None
    labels: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Task(Protocol):
    """A benchmark task. ``kind`` is ``caption``, ``classification`` or ``qa``.

    ``score`` receives the rows written to samples.jsonl (``id``, ``prediction``,
    ``references``, ``label``, ``error``) so that a finished run can be re-scored from disk.

    Optional members (``headline``, ``sample_stats``, ...): ``mats_core.capabilities.OPTIONAL["task"]``,
    the table of docs/reference/api.md.
    """

    name: str
    kind: str

    def samples(self, split: str | None = None) -> Iterable[Sample]: ...

    def score(self, predictions: Sequence[Mapping[str, Any]], **context: Any) -> dict[str, float | None]: ...


@runtime_checkable
class Metric(Protocol):
    """A metric over predictions and references. Optional members (``headline``, ``sample_stats``,
    ...): ``mats_core.capabilities.OPTIONAL["metric"]``, the table of docs/reference/api.md."""

    name: str

    def compute(
        self, predictions: Sequence[str], references: Sequence[Any], **context: Any
    ) -> dict[str, float | None]: ...


@runtime_checkable
class Corpus(Protocol):
    """Training text. Records are ``{text, instruction, answer, task}`` (the user JSONL format)."""

    name: str

    def records(self) -> Iterable[dict[str, str]]: ...

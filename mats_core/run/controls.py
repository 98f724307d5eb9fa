"""No-audio controls: how much of a score the LLM gets from the prompt alone.

A control replaces each sample's audio before it is embedded, so it works for every task
plugin without the task doing anything (ids, prompts and references stay; scoring is the
task's own):

* ``silence``: silence of the encoder's window (``clip_seconds``) or, without one, of the
  clip's own length;
* ``shuffled``: another sample's audio of the same task, by a seeded derangement (a random
  single cycle, Sattolo's algorithm), so no sample keeps its own clip.
"""

from __future__ import annotations

import os
import zlib
from typing import Any, Sequence

import numpy as np

from mats_core.capabilities import capability
from mats_core.config.run_spec import CONTROLS  # the control names live with the run spec
from mats_core.interfaces import Sample
from mats_core.model.audio import AudioError

LABELS = {"silence": "no-audio (silence)", "shuffled": "shuffled"}  # table row names
# each row's folder in the run directory: its table name as a path (letters, digits, '-')
DIRS = {"silence": "no-audio-silence", "shuffled": "shuffled"}


def control_dir(output, control: str):
    """A control row's folder: ``<output>/no-audio-silence`` or ``<output>/shuffled``; a run made by an
    older mats-bench (``control-silence/``, ``control-shuffled/``) keeps its folder, so it still resumes."""
    old = output / f"control-{control}"
    return old if old.is_dir() and not (output / DIRS[control]).exists() else output / DIRS[control]


class _Replaced(Sample):
    """A copy of a sample whose ``audio`` is computed on first access (errors become AudioError)."""

    def __init__(self, source: Sample, make: Any, sample_rate: Any):
        self._make, self._audio = make, None
        super().__init__(
            id=source.id,
            audio=None,
            instruction=source.instruction,
            sample_rate=sample_rate,
            references=list(source.references),
            label=source.label,
            labels=list(source.labels),
            meta=dict(source.meta),
        )

    @property
    def audio(self) -> Any:
        if self._audio is None:
            self._audio = self._make()
        return self._audio

    @audio.setter
    def audio(self, value: Any) -> None:
        self._audio = value


def _seconds(s: Sample) -> float:
    """The clip's duration, read from the header of a file (no decoding)."""
    if isinstance(s.audio, np.ndarray):
        return s.audio.shape[-1] / float(s.sample_rate or 1)
    try:
        import soundfile

        return soundfile.info(os.fspath(s.audio)).duration
    except Exception as exc:  # noqa: BLE001 - any unreadable file fails this sample only
        raise AudioError(f"{s.audio}: cannot read its duration for the silence control: {exc}") from None


def derangement(n: int, seed: int, task: str) -> list[int]:
    """A seeded permutation with no fixed point (one random cycle); identity for n < 2."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(task.encode())])
    perm = list(range(n))
    for i in range(n - 1, 0, -1):
        j = int(rng.integers(0, i))
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def apply_control(samples: Sequence[Sample], control: str | None, encoder: Any, seed: int, task: str) -> list[Sample]:
    """The samples with their audio replaced by ``control`` (unchanged when None)."""
    if control is None:
        return list(samples)
    if control == "silence":
        sr = int(encoder.sample_rate)
        window = capability(encoder, "clip_seconds")
        return [
            _Replaced(s, (lambda s=s: np.zeros(max(1, int(round((window or _seconds(s)) * sr))), dtype=np.float32)), sr)
            for s in samples
        ]
    if control == "shuffled":
        perm = derangement(len(samples), seed, task)
        return [_Replaced(s, (lambda o=samples[j]: o.audio), samples[j].sample_rate) for s, j in zip(samples, perm)]
    raise ValueError(f"unknown control {control!r}; controls are {', '.join(CONTROLS)}")

"""Conformance check of an ``audio_lm`` plugin (API v1.2), public as ``mats_core.testing.check_audio_lm``."""

from __future__ import annotations

from typing import Any

from mats_core.capabilities import capability
from mats_core.interfaces import AudioLanguageModel


def _require(ok: Any, message: str) -> None:
    if not ok:
        raise AssertionError(message)


def check_audio_lm(lm: Any, seconds: float = 1.0, **decoding: Any) -> None:
    """``sample_rate``, ``generate`` on clips of two lengths (one str per clip, batch-independent:
    the second clip alone gets the answer it got in the batch, as the harness resumes batches of any
    size) and the optional members' types. ``decoding`` goes to every ``generate`` call (e.g.
    ``max_new_tokens=4`` for a random-weight model)."""
    import numpy as np

    _require(
        isinstance(lm, AudioLanguageModel),
        f"{type(lm).__name__} lacks sample_rate or generate (mats_core.AudioLanguageModel)",
    )
    rate = lm.sample_rate
    _require(
        isinstance(rate, int) and not isinstance(rate, bool) and rate > 0,
        f"sample_rate must be a positive int, got {rate!r}",
    )
    t = np.arange(int(seconds * rate)) / rate
    waves = [
        (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
        (0.3 * np.sin(2 * np.pi * 220 * t[: len(t) // 2])).astype(np.float32),
    ]
    prompts = ["What is the sound?", "Describe the audio."]
    both = lm.generate(waves, prompts, **decoding)
    _require(
        isinstance(both, list) and len(both) == 2 and all(isinstance(x, str) for x in both),
        f"generate must return one str per clip, got {both!r}",
    )
    alone = lm.generate(waves[1:], prompts[1:], **decoding)
    _require(
        alone == both[1:],
        f"a clip's answer depends on its batch: {alone!r} alone vs {both[1:]!r} in a batch of 2 "
        "(left-pad prompts; pad audio features per clip)",
    )
    clip = capability(lm, "clip_seconds")
    _require(
        clip is None or (isinstance(clip, (int, float)) and clip > 0),
        f"clip_seconds must be a positive number, got {clip!r}",
    )
    _require(isinstance(capability(lm, "generation", {}), dict), "generation must be a dict of decoding settings")
    config = capability(lm, "config")
    _require(
        config is None or (callable(config) and isinstance(config(), dict)),
        "config must be a callable returning a dict",
    )
    _require(capability(lm, "supervision", "audio") in ("audio", "text"), "supervision must be 'audio' or 'text'")

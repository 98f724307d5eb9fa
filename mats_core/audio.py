"""Audio front end: soundfile + soxr (torchaudio's PyPI build does not load beside the CPU torch).

Reads only the frames the crop needs, mixes down to mono, resamples to the encoder's rate.
Every failure is an ``AudioError`` naming the file and the reason, so the harness can fail
that one sample and go on.
"""
from __future__ import annotations

import os
from typing import Literal

import numpy as np

from mats_core.registry import MatsError

Crop = Literal["center", "random", "chunks"]
MAX_SECONDS_UNCROPPED = 30.0  # an encoder without a clip length still never reads an hour into memory


class AudioError(MatsError):
    pass


def load_audio(
    source: str | os.PathLike | np.ndarray,
    target_sr: int,
    source_sr: int | None = None,
    clip_seconds: float | None = None,
    crop: Crop = "center",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """A float32 mono waveform at ``target_sr`` ([T]; [n_chunks, T] when ``crop='chunks'``)."""
    if isinstance(source, np.ndarray):
        if source_sr is None:
            raise AudioError("in-memory audio needs its sample rate")
        wav, sr = _mono(np.asarray(source, dtype=np.float32)), int(source_sr)
        want = None if clip_seconds is None or crop == "chunks" else int(round(clip_seconds * sr))
        if want is not None and wav.shape[0] > want:
            start = _start(wav.shape[0], want, crop, rng)
            wav = wav[start : start + want]
    else:
        wav, sr = _read_file(os.fspath(source), clip_seconds, crop, rng)
    if wav.size == 0:
        raise AudioError(f"{_name(source)}: empty audio (0 samples)")
    if not np.isfinite(wav).all():
        raise AudioError(f"{_name(source)}: audio contains NaN or infinite samples")
    if sr != target_sr:
        import soxr

        wav = soxr.resample(wav, sr, target_sr, quality="HQ").astype(np.float32)
    if clip_seconds is None:
        return wav
    n = int(round(clip_seconds * target_sr))
    if crop == "chunks":
        wav = _tile(wav, n) if wav.shape[0] < n else wav
        count = wav.shape[0] // n
        return np.stack([wav[i * n : (i + 1) * n] for i in range(count)])
    return _tile(wav, n)[:n]


def _read_file(path: str, clip_seconds: float | None, crop: Crop, rng) -> tuple[np.ndarray, int]:
    import soundfile as sf

    if not os.path.exists(path):
        raise AudioError(f"{path}: file not found")
    try:
        with sf.SoundFile(path) as fh:
            sr, total = fh.samplerate, fh.frames
            if crop == "chunks" or clip_seconds is None:
                want = min(total, int(MAX_SECONDS_UNCROPPED * sr)) if clip_seconds is None else total
            else:
                want = min(total, int(round(clip_seconds * sr)))
            start = _start(total, want, crop, rng)
            if start:
                fh.seek(start)
            data = fh.read(want, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several types for corrupt input
        raise AudioError(f"{path}: cannot decode audio ({type(exc).__name__}: {exc})") from None
    return _mono(data), sr


def _mono(data: np.ndarray) -> np.ndarray:
    if data.ndim == 1:
        return data.astype(np.float32, copy=False)
    if data.ndim == 2:  # soundfile gives [frames, channels]
        return data.mean(axis=1).astype(np.float32)
    raise AudioError(f"audio array must be 1-D or [frames, channels], got shape {data.shape}")


def _start(total: int, want: int, crop: Crop, rng) -> int:
    if total <= want:
        return 0
    if crop == "random":
        rng = rng or np.random.default_rng()
        return int(rng.integers(0, total - want + 1))
    return (total - want) // 2


def _tile(wav: np.ndarray, n: int) -> np.ndarray:
    """Short clips are tile-repeated to the clip length, as the paper's front end does."""
    if wav.shape[0] >= n:
        return wav
    reps = -(-n // wav.shape[0])
    return np.tile(wav, reps)[:n]


def _name(source) -> str:
    return "in-memory audio" if isinstance(source, np.ndarray) else os.fspath(source)

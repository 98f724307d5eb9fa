"""Audio front end: soundfile + soxr (torchaudio's PyPI build does not load beside the CPU torch).

Reads only the frames the crop needs, mixes down to mono, resamples to the encoder's rate.
Every failure is an ``AudioError`` naming the file and the reason, so the harness can fail
that one sample and go on.
"""

from __future__ import annotations

import errno
import os
import stat
import struct

import numpy as np

from mats_core.config.validation import Crop
from mats_core.errors import MatsError

MAX_SECONDS_UNCROPPED = 30.0  # an encoder without a clip length still never reads an hour into memory
RATES = (1000, 768_000)  # plausible sample rates (Hz): a header outside them is corrupt, never resampled
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


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
        wav, sr = _mono(np.asarray(source, dtype=np.float32)), _rate("in-memory audio", int(source_sr))
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

    _check_file(path)
    try:
        with sf.SoundFile(path) as fh:
            sr, total = _rate(path, fh.samplerate), fh.frames
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


def _check_file(path: str) -> None:
    """Refuse what libsndfile would block on (a FIFO) or misreport (a loop, a truncated WAV)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        kind = "dangling symlink (its target is missing)" if os.path.islink(path) else "file not found"
        raise AudioError(f"{path}: {kind}") from None
    except OSError as exc:
        why = "symlink loop" if exc.errno == errno.ELOOP else exc.strerror
        raise AudioError(f"{path}: cannot open ({why})") from None
    for test, kind in _KINDS:
        if test(mode):
            raise AudioError(f"{path}: not a regular file ({kind}); give the path of an audio file")
    problem = _wav_problem(path)
    if problem:
        raise AudioError(f"{path}: {problem}")


def _wav_problem(path: str) -> str | None:
    """What a RIFF/WAVE header says that the data contradicts (libsndfile trusts the data it
    finds: a file cut short decodes as a shorter clip, without a word)."""
    size, rate, align = os.path.getsize(path), None, 0
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
            return None
        while len(chunk := fh.read(8)) == 8:
            cid, n = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"fmt ":
                fmt = fh.read(min(n, 16))
                if len(fmt) >= 14:
                    rate, align = struct.unpack("<I", fmt[4:8])[0], struct.unpack("<H", fmt[12:14])[0]
                fh.seek(n - len(fmt) + (n & 1), os.SEEK_CUR)
            elif cid == b"data":
                if rate is not None and not RATES[0] <= rate <= RATES[1]:
                    return f"header sample rate {rate} Hz is implausible ({RATES[0]}-{RATES[1]} Hz): a corrupt file"
                present = size - fh.tell()
                if align and n not in (0, 0xFFFFFFFF) and present < n:  # 0 / 2^32-1: streamed, size unknown
                    return f"truncated WAV: the header declares {n // align} frames, {present // align} are present"
                return None
            else:
                fh.seek(n + (n & 1), os.SEEK_CUR)
    return "WAV header without a data chunk (header-only or cut short)"


def _rate(where: str, sr: int) -> int:
    if not RATES[0] <= sr <= RATES[1]:
        raise AudioError(f"{where}: sample rate {sr} Hz is implausible ({RATES[0]}-{RATES[1]} Hz); a corrupt header?")
    return sr


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

"""The bad-input regression suite (issue 12): each bad input is built here and the recorded
per-sample error, or the refusal, is asserted.

Audio: every broken file fails its own sample (``AudioError`` -> ``errors`` of
``Pipeline.embed_audio``, i.e. the sample's row in samples.jsonl) and the others embed.
Already covered elsewhere, so not repeated here: a missing file, undecodable bytes, empty
audio, NaN, WAV/FLAC/OGG decoding (tests/test_results_audio.py); missing audio in the
dataset layouts and bad CSV/JSONL metadata (tests/test_datasets.py).
"""
from __future__ import annotations

import json
import os
import signal
import struct

import numpy as np
import pytest
import soundfile as sf

from mats_core import MatsError
from mats_core.audio import AudioError, load_audio

SR = 16_000


def _tone(seconds: float = 2.0, sr: int = SR, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return np.stack([x * (1 + c / 10) for c in range(channels)], axis=1) if channels > 1 else x


def _wav_bytes(tmp_path, seconds: float = 2.0) -> bytes:
    sf.write(tmp_path / "src.wav", _tone(seconds), SR, subtype="PCM_16")
    return (tmp_path / "src.wav").read_bytes()


def _with_rate(data: bytes, rate: int) -> bytes:
    out = bytearray(data)
    out[24:28] = struct.pack("<I", rate)  # the canonical 44-byte header: fmt chunk at 12
    out[28:32] = struct.pack("<I", (rate * 2) & 0xFFFFFFFF)
    return bytes(out)


# -- each broken file -> its error ---------------------------------------------------------
def _truncated_half(p, tmp_path):  # header 32,000 frames, 16,000 present
    p.write_bytes(_wav_bytes(tmp_path)[: 44 + 16_000 * 2])


def _first_60_bytes(p, tmp_path):
    p.write_bytes(_wav_bytes(tmp_path)[:60])


def _cut_in_header(p, tmp_path):
    p.write_bytes(_wav_bytes(tmp_path)[:36])


def _rate(rate):
    def make(p, tmp_path):
        p.write_bytes(_with_rate(_wav_bytes(tmp_path), rate))
    return make


def _fifo(p, tmp_path):
    os.mkfifo(p)


def _symlink_loop(p, tmp_path):
    os.symlink(tmp_path / "b.wav", p)
    os.symlink(p, tmp_path / "b.wav")


def _dangling(p, tmp_path):
    os.symlink(tmp_path / "gone.wav", p)


def _directory(p, tmp_path):
    p.mkdir()


def _text(p, tmp_path):
    p.write_text("this is a caption, not audio\n" * 20)


def _header_only(p, tmp_path):
    sf.write(p, np.zeros(0, dtype=np.float32), SR, subtype="PCM_16")


def _inf(p, tmp_path):
    x = _tone()
    x[100] = np.inf
    sf.write(p, x, SR, subtype="FLOAT")


BROKEN = {
    "truncated_half": (_truncated_half, "truncated WAV: the header declares 32000 frames, 16000 are present"),
    "first_60_bytes": (_first_60_bytes, "truncated WAV: the header declares 32000 frames, 8 are present"),
    "cut_in_header": (_cut_in_header, "WAV header without a data chunk"),
    "rate_1hz": (_rate(1), "header sample rate 1 Hz is implausible"),
    "rate_0": (_rate(0), "header sample rate 0 Hz is implausible"),
    "rate_2^32-1": (_rate(2**32 - 1), "header sample rate 4294967295 Hz is implausible"),
    "fifo": (_fifo, r"not a regular file \(a FIFO"),
    "symlink_loop": (_symlink_loop, "symlink loop"),
    "dangling_symlink": (_dangling, "dangling symlink"),
    "directory": (_directory, r"not a regular file \(a directory\)"),
    "text_as_audio": (_text, "cannot decode audio"),
    "header_only": (_header_only, r"empty audio \(0 samples\)"),
    "inf_samples": (_inf, "NaN or infinite"),
}


@pytest.fixture
def no_blocking():
    """A FIFO opened for reading blocks until a writer comes: fail, never hang the suite."""
    def boom(*_):
        raise TimeoutError("load_audio blocked")
    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_audio_is_an_error_naming_the_file(tmp_path, name, no_blocking):
    make, message = BROKEN[name]
    path = tmp_path / f"{name}.wav"
    make(path, tmp_path)
    with pytest.raises(AudioError, match=message) as err:
        load_audio(path, SR, clip_seconds=3.0)
    assert str(path) in str(err.value)


def test_in_memory_rate_must_be_plausible():
    for rate in (0, 1, 2**32 - 1):
        with pytest.raises(AudioError, match=f"sample rate {rate} Hz is implausible"):
            load_audio(_tone(), SR, source_sr=rate)


def test_valid_wav_with_trailing_chunk_and_odd_sizes_loads(tmp_path):
    data = _wav_bytes(tmp_path, seconds=1.0) + b"LIST" + struct.pack("<I", 3) + b"abc\x00"  # odd chunk + pad byte
    (tmp_path / "ok.wav").write_bytes(data)
    assert load_audio(tmp_path / "ok.wav", SR).shape == (SR,)


@pytest.mark.parametrize("sr, channels, fmt", [(7_350, 1, "wav"), (22_050, 8, "wav"), (44_100, 2, "mp3"), (48_000, 1, "ogg")])
def test_odd_rates_many_channels_and_compressed_formats_decode(tmp_path, sr, channels, fmt):
    path = tmp_path / f"a.{fmt}"
    sf.write(path, _tone(1.5, sr, channels), sr)
    wav = load_audio(path, SR)
    assert wav.ndim == 1 and abs(wav.shape[0] - int(1.5 * SR)) <= SR // 20  # mp3 adds encoder delay
    assert 0.1 < float(np.abs(wav).max()) < 1.0


def test_each_bad_file_fails_only_its_sample(tmp_path, no_blocking):
    """Through the core's audio path of a run: one error per broken file, the rest embedded."""
    from mats_core import build
    from mats_core.harness import Pipeline, RunConfig
    from mats_core.interfaces import Sample

    samples = []
    for name, (make, _) in BROKEN.items():
        make(tmp_path / f"{name}.wav", tmp_path)
        samples.append(Sample(id=name, audio=str(tmp_path / f"{name}.wav"), instruction=""))
    sf.write(tmp_path / "good.wav", _tone(3.0), SR)
    samples.insert(3, Sample(id="good", audio=str(tmp_path / "good.wav"), instruction=""))
    pipe = Pipeline(build("encoder", "tiny-clap"), None, {})
    z, ok, errors = pipe.embed_audio(samples, RunConfig())
    assert ok == [3] and z.shape[0] == 1
    assert sorted(errors) == [i for i in range(len(samples)) if i != 3]
    for i, message in zip([i for i in range(len(samples)) if i != 3], [m for _, m in BROKEN.values()]):
        assert errors[i].startswith(str(tmp_path)) and __import__("re").search(message, errors[i]), errors[i]


def test_path_traversal_in_a_manifest_leaks_nothing(tmp_path):
    """A manifest row pointing outside its folder at a non-audio file: an error, no content."""
    from mats_core import build

    secret = tmp_path / "secret.txt"
    secret.write_text("password=hunter2\n" * 50)
    (tmp_path / "set").mkdir()
    manifest = tmp_path / "set" / "m.jsonl"
    manifest.write_text(json.dumps({"id": "x", "audio": "../secret.txt", "label": "dog"}) + "\n")
    task = build("task", "jsonl", path=str(manifest), task_kind="classification")
    (sample,) = list(task.samples())
    with pytest.raises(AudioError) as err:
        load_audio(sample.audio, SR)
    assert "cannot decode audio" in str(err.value) and "hunter2" not in str(err.value)


def test_audio_errors_are_user_errors():
    assert issubclass(AudioError, MatsError)

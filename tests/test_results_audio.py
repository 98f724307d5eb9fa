"""Results files (atomic, torn-line tolerant) and the audio front end (errors per file)."""

import json

import numpy as np
import pytest
import soundfile as sf

from mats_core.model.audio import AudioError, load_audio
from mats_core.run.results import RunResults, SamplesWriter, read_results, write_results


def test_results_roundtrip(tmp_path):
    res = RunResults(config={"a": 1}, versions={"python": "3"}, seed=0, results={"t": {"m": 0.5, "n": None}})
    write_results(tmp_path / "results.json", res)
    back = read_results(tmp_path / "results.json")
    assert back.results == {"t": {"m": 0.5, "n": None}} and back.schema_version == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_samples_writer_resumes_and_drops_torn_line(tmp_path):
    path = tmp_path / "samples.jsonl"
    w = SamplesWriter(path)
    w.write([{"task": "t", "id": "1", "prediction": "a"}, {"task": "t", "id": "2", "prediction": "b"}])
    w.close()
    with open(path, "a") as fh:
        fh.write('{"task": "t", "id": "3", "predic')  # killed mid-write
    w = SamplesWriter(path)
    assert w.done("t") == {"1", "2"}
    w.write([{"task": "t", "id": "3", "prediction": "c"}])
    w.close()
    rows = [json.loads(l) for l in path.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["1", "2", "3"]


def _tone(sr, seconds, channels=1):
    t = np.arange(int(sr * seconds)) / sr
    x = 0.3 * np.sin(2 * np.pi * 440 * t).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg"])
def test_load_resamples_mixes_down_and_crops(tmp_path, fmt):
    path = tmp_path / f"a.{fmt}"
    sf.write(path, _tone(44100, 3.0, channels=2), 44100)
    wav = load_audio(path, 16000, clip_seconds=1.0)
    assert wav.dtype == np.float32 and wav.shape == (16000,)
    full = load_audio(path, 16000)
    assert abs(full.shape[0] - 48000) <= 2
    chunks = load_audio(path, 16000, clip_seconds=1.0, crop="chunks")
    assert chunks.shape == (3, 16000)


def test_short_clip_is_tiled(tmp_path):
    wav = load_audio(_tone(16000, 0.25), 16000, source_sr=16000, clip_seconds=1.0)
    assert wav.shape == (16000,)
    assert np.allclose(wav[:4000], wav[4000:8000])


def test_center_crop_reads_only_the_window(tmp_path):
    sr = 8000
    x = np.arange(sr * 10, dtype=np.float32) / (sr * 10)
    sf.write(tmp_path / "ramp.wav", x, sr, subtype="FLOAT")
    wav = load_audio(tmp_path / "ramp.wav", sr, clip_seconds=2.0)
    assert wav.shape == (2 * sr,)
    assert abs(wav[0] - x[4 * sr]) < 1e-6


def test_bad_audio_errors_name_the_file(tmp_path):
    with pytest.raises(AudioError, match="file not found"):
        load_audio(tmp_path / "missing.wav", 16000)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00garbage" * 10)
    with pytest.raises(AudioError, match="corrupt.wav: cannot decode"):
        load_audio(corrupt, 16000)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="empty"):
        load_audio(empty, 16000)
    with pytest.raises(AudioError, match="NaN"):
        load_audio(np.array([0.0, np.nan], dtype=np.float32), 16000, source_sr=16000)

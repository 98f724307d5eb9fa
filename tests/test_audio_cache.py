"""A clip's encoder output is computed once (issue 31.1): for every row of a run, every sweep point
and later runs, keyed by the encoder, the clip's content and the crop. The encoder is counted by
wrapping the tiny CLAP's ``embed_audio``: each waveform it sees is hashed."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from mats_core import build
from mats_core.cli.main import app
from mats_core.config.validation import RunConfig
from mats_core.run.pipeline import Pipeline

SR = 16_000
TASKS = "tiny-classify,tiny-qa"
LIMIT = 4


@pytest.fixture
def encoded(monkeypatch, tmp_path):
    """A private cache (nothing from other tests) and the waveforms the tiny CLAP embeds: hash -> count."""
    from mats_tiny.clap import TinyCLAP

    monkeypatch.setenv("MATS_CACHE", str(tmp_path / "cache"))
    seen: Counter = Counter()
    real = TinyCLAP.embed_audio

    def counting(self, waveforms):
        seen.update(hashlib.sha256(w.numpy().tobytes()).hexdigest() for w in waveforms)
        return real(self, waveforms)

    monkeypatch.setattr(TinyCLAP, "embed_audio", counting)
    return seen


def cli(*args):
    out = CliRunner().invoke(app, [str(a) for a in args])
    assert out.exit_code == 0, out.output + repr(out.exception)
    return out


def _distinct_clips() -> int:
    """The clips a run of TASKS with --limit LIMIT hears: its samples' (tasks may share a scene) and one silence."""
    prints = {s.audio_fingerprint for t in TASKS.split(",") for s in list(build("task", t).samples())[:LIMIT]}
    return len(prints) + 1


def _predictions(run: Path) -> dict:
    """Every row's samples.jsonl: (row folder, task, id) -> (prediction, error)."""
    out = {}
    for path in sorted(run.glob("*/samples.jsonl")):
        for r in map(json.loads, path.read_text().splitlines()):
            out[(path.parent.name, r["task"], r["id"])] = (r["prediction"], r["error"])
    return out


def _run(out: Path):
    return cli("run", "--tasks", TASKS, "--limit", LIMIT, "--device", "cpu", "--resamples", 0, "--output", out)


@pytest.mark.slow  # three main-job runs end to end, > 30 s on a 2-core machine
def test_a_run_encodes_each_clip_once_and_predicts_as_without_the_cache(encoded, tmp_path, monkeypatch):
    real = Pipeline.from_checkpoint.__func__

    def uncached(cls, *args, **kwargs):
        pipe = real(cls, *args, **kwargs)
        pipe.audio_cache = False
        return pipe

    with monkeypatch.context() as m:
        m.setattr(Pipeline, "from_checkpoint", classmethod(uncached))
        _run(tmp_path / "uncached")
    rows = [d.name for d in (tmp_path / "uncached").iterdir() if (d / "samples.jsonl").exists()]
    assert len(rows) >= 7, rows  # none, noise, memory, santa, silence, shuffled, MATS-Audio
    assert min(encoded.values()) >= 5  # without the cache every row encodes the clips again
    encoded.clear()
    _run(tmp_path / "cold")
    assert set(encoded.values()) == {1} and len(encoded) == _distinct_clips(), encoded
    assert _predictions(tmp_path / "cold") == _predictions(tmp_path / "uncached")
    encoded.clear()
    _run(tmp_path / "warm")  # a later run reads every clip from the cache
    assert not encoded
    assert _predictions(tmp_path / "warm") == _predictions(tmp_path / "uncached")


@pytest.mark.slow  # a sweep end to end
def test_a_sweep_encodes_each_clip_once_in_total(encoded, tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        f"tasks: [tiny-classify]\nrun: {{limit: {LIMIT}}}\nseeds: [0]\ngrid:\n"
        "  - bridge: santa\n    params: {lam: [0.0, 0.3, 1.0], k: [4, 8]}\n  - bridge: noise\n"
    )
    cli("sweep", grid, "--output", tmp_path / "sweep")
    assert set(encoded.values()) == {1} and len(encoded) == LIMIT  # 7 points, each clip once
    encoded.clear()
    cli("sweep", grid, "--output", tmp_path / "again")
    assert not encoded  # another sweep (or run) over the same clips reads them all


def _tone(freq: float, seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def manifest(tmp_path):
    for i, name in enumerate("abcd"):
        sf.write(tmp_path / f"{name}.wav", _tone(300 + 200 * i, seconds=4.0), SR)
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps({"id": n, "audio": f"{n}.wav", "label": "dog"}) + "\n" for n in "abcd"))
    return path


def _embed(encoder, samples, cfg=None):
    """A fresh pipeline (nothing in memory), as a later run has: only the disk cache is shared."""
    pipe = Pipeline(encoder, None, {"encoder": {"name": "tiny", "params": {}}})
    return pipe.embed_audio(samples, cfg or RunConfig())


def test_a_changed_file_crop_or_encoder_is_encoded_again_and_only_that(encoded, manifest, tmp_path):
    encoder = build("encoder", "tiny")
    samples = list(build("task", "jsonl", path=str(manifest)).samples())
    first, ok, _ = _embed(encoder, samples)
    assert ok == [0, 1, 2, 3] and sum(encoded.values()) == 4
    encoded.clear()
    again, _, _ = _embed(encoder, samples)
    assert not encoded and torch.equal(again, first)  # bit for bit what was computed
    sf.write(tmp_path / "c.wav", _tone(1234.0, seconds=4.0), SR)  # the user edits one file
    edited, _, _ = _embed(encoder, samples)
    assert sum(encoded.values()) == 1
    assert torch.equal(edited[[0, 1, 3]], first[[0, 1, 3]]) and not torch.allclose(edited[2], first[2])
    encoded.clear()
    _embed(encoder, samples, RunConfig(crop="random"))  # another window of each clip
    assert sum(encoded.values()) == 4
    encoded.clear()
    _embed(encoder, samples, RunConfig(crop="random", seed=1))  # a random crop is keyed by its seed
    assert sum(encoded.values()) == 4
    encoded.clear()
    other = build("encoder", "tiny")
    other._fingerprint = "other weights"  # the identity the embeddings cache keys by
    _embed(other, samples)
    assert sum(encoded.values()) == 4


def test_a_bad_clip_stays_an_error_and_is_never_cached(encoded, manifest, tmp_path):
    sf.write(tmp_path / "b.wav", np.full(SR * 2, 1e30, dtype=np.float32), SR, subtype="FLOAT")
    encoder = build("encoder", "tiny")
    samples = list(build("task", "jsonl", path=str(manifest)).samples())
    for _ in range(2):  # the second time the good clips come from the cache, the bad one is tried again
        z, ok, errors = _embed(encoder, samples)
        assert ok == [0, 2, 3] and list(errors) == [1] and "not finite" in errors[1]
        assert bool(torch.isfinite(z).all())
    assert sum(1 for _ in (tmp_path / "cache").rglob("*.safetensors")) == 3


def test_silence_is_encoded_once_and_shuffled_reads_the_clips_cache(encoded):
    from mats_core.run.controls import apply_control

    encoder = build("encoder", "tiny")
    pipe = Pipeline(encoder, None, {"encoder": {"name": "tiny", "params": {}}})
    samples = list(build("task", "tiny-classify").samples())[:6]
    z, _, _ = pipe.embed_audio(samples, RunConfig())
    assert len(encoded) == 6
    encoded.clear()
    pipe.embed_audio(apply_control(samples, "silence", encoder, 0, "tiny-classify"), RunConfig())
    assert list(encoded.values()) == [1]  # six silent clips, one encoder row
    encoded.clear()
    shuffled = apply_control(samples, "shuffled", encoder, 0, "tiny-classify")
    zs, _, _ = pipe.embed_audio(shuffled, RunConfig())
    assert not encoded and not any(s._audio is not None for s in shuffled)  # nothing rendered either
    perm = [next(j for j, o in enumerate(samples) if o.audio_fingerprint == s.audio_fingerprint) for s in shuffled]
    assert torch.equal(zs, z[perm])

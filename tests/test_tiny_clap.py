"""The shipped tiny CLAP: loads offline and fast, embeds, keeps a real modality gap; and the
quick `tiny build` pipeline runs end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import mats_core
from mats_tiny import data
from mats_tiny.build import WEIGHTS_DIR, clap_quality, gap_probe, render_all
from mats_tiny.clap import SHIPPED_DIR, load_tiny_clap


@pytest.fixture(scope="module")
def encoder():
    return mats_core.build("encoder", "tiny")


@pytest.fixture(scope="module")
def test_split():
    scenes = data.make_scenes("test")[:150]
    return scenes, render_all(scenes)


def test_loads_offline_from_the_shipped_files(monkeypatch):
    """Building tiny-clap reads the shipped weights: it trains nothing and opens no connection, and
    the model holds the shipped numbers (deterministic; a wall-clock bound fails on a busy machine)."""
    import socket

    from safetensors.torch import load_file

    from mats_tiny import clap

    def refuse(*args, **kwargs):
        raise AssertionError("loading tiny-clap must not train or connect")

    for name in ("train_clap", "train_tokenizer"):
        monkeypatch.setattr(clap, name, refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    enc = mats_core.build("encoder", "tiny-clap")
    assert isinstance(enc, mats_core.AlignmentEncoder) and enc.sample_rate == 16000
    shipped = load_file(str(SHIPPED_DIR / "model.safetensors"))
    own = enc.model.state_dict()
    assert all(torch.equal(own[k], v.float()) for k, v in shipped.items())


def test_embeds_any_length_deterministically(encoder):
    wav = torch.from_numpy(np.stack([data.render(s) for s in data.make_scenes("val", 2)]))
    a = encoder.embed_audio(wav)
    assert a.shape == (2, encoder.dim) and torch.isfinite(a).all()
    assert torch.equal(a, encoder.embed_audio(wav))
    longer = F.pad(wav, (8000, 8000))  # centre-cropped back to the trained 3 s
    assert torch.allclose(encoder.embed_audio(longer), a, atol=1e-4)
    assert encoder.embed_audio(wav[:, :20000]).shape == (2, encoder.dim)
    t = encoder.embed_text(["a dog barks twice.", "rain falls softly with wind in the background."])
    assert t.shape == (2, encoder.dim) and torch.equal(
        t, encoder.embed_text(["a dog barks twice.", "rain falls softly with wind in the background."])
    )
    with pytest.raises(ValueError, match="waveforms"):
        encoder.embed_audio(wav[0])


def test_shipped_size_and_metadata():
    clap_bytes = sum(f.stat().st_size for f in SHIPPED_DIR.iterdir())
    all_bytes = sum(f.stat().st_size for f in WEIGHTS_DIR.rglob("*") if f.is_file())
    assert clap_bytes <= 5 * 2**20 and all_bytes < 20 * 2**20
    meta = json.loads((WEIGHTS_DIR / "metadata.json").read_text())
    assert meta["clap"]["params"] <= 1_200_000 and not meta["quick"]
    test = meta["clap"]["test"]
    assert test["zero_shot_accuracy"] >= 0.5 and test["zero_shot_clips"] >= 100  # 48 classes: chance 0.02
    assert test["paired_cosine"] <= 0.6 and test["centroid_distance"] >= 0.5
    assert test["a2t_R5"] < 1.0  # not trivially perfect on captions
    probe = test["gap_probe"]
    assert probe["clean_audio_accuracy"] <= probe["clean_text_accuracy"] - 0.2
    assert probe["clean_audio_accuracy"] < probe["noise_audio_accuracy"] <= probe["audio_trained_audio_accuracy"]
    assert set(meta["files"]) >= {"clap/model.safetensors", "clap/tokenizer.json", "clap/config.json"}


def test_shipped_quality_recomputed(encoder, test_split):
    """The recorded numbers are real: recompute them on half the test split."""
    q = clap_quality(encoder, *test_split)
    assert q["zero_shot_accuracy"] >= 0.5
    assert q["paired_cosine"] <= 0.6 and q["centroid_distance"] >= 0.5
    assert 0.1 < q["a2t_R5"] < 1.0


def test_gap_breaks_a_text_trained_decoder(encoder, test_split):
    """The gap matters, as MATS meets it: a classifier fitted to clean TEXT embeddings fails
    on AUDIO embeddings, and noise-injected training recovers much of it."""
    p = gap_probe(encoder, data.make_scenes("clap-pairs", 800), *test_split, steps=600)
    assert p["clean_text_accuracy"] >= 0.65
    assert p["clean_audio_accuracy"] <= p["clean_text_accuracy"] - 0.2
    assert p["noise_audio_accuracy"] >= p["clean_audio_accuracy"] + 0.1


def test_info_command_prints_quality():
    from typer.testing import CliRunner

    from mats_core.cli.main import app

    result = CliRunner().invoke(app, ["tiny", "info"])
    assert result.exit_code == 0, result.output
    assert "zero_shot_accuracy" in result.output and "paired_cosine" in result.output


def test_device_auto_and_bad_device():
    enc = mats_core.build("encoder", "tiny", device="auto")
    assert enc.embed_text(["a bell rings."]).shape == (1, enc.dim)
    with pytest.raises(mats_core.MatsError, match="device"):
        mats_core.build("encoder", "tiny", device="tpu")


def test_missing_weights_say_how_to_build(tmp_path):
    with pytest.raises(mats_core.MatsError, match="mats-bench tiny build"):
        load_tiny_clap(tmp_path)


@pytest.mark.slow  # end to end, > 30 s on a 2-core machine (fast tier: python -m pytest -q)
def test_quick_build_end_to_end(tmp_path):
    from mats_tiny.build import build_all

    meta = build_all(tmp_path, quick=True, seed=3, log=lambda *_: None, threads=1)
    assert (tmp_path / "metadata.json").is_file() and meta["quick"]
    enc = mats_core.build("encoder", "tiny-clap", weights=str(tmp_path / "clap"))
    wav = torch.from_numpy(data.render(data.make_scenes("test", 1)[0]))[None]
    assert enc.embed_audio(wav).shape == (1, enc.dim)
    assert enc.embed_text(["a bell rings."]).shape == (1, enc.dim)
    assert set(meta["clap"]["test"]) >= {"zero_shot_accuracy", "a2t_R5", "paired_cosine", "centroid_distance"}

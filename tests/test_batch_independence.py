"""A clip's embedding equals its embedding alone, whatever else is in its batch (issue 12.1).

For every built-in encoder, through the core's ``Pipeline.embed_audio`` (the path of every
run): a mixed-length batch of WAV files (1-8 s, plus one far longer than any window) is
embedded together and each clip alone. Before the fix the core zero-padded every clip of a
chunk to the longest one, so a variable-length encoder (the tiny CLAP, LAION-CLAP with
fusion) cropped its window out of another clip's padding.
The tiny CLAP runs on its real shipped weights; LAION-CLAP and MS-CLAP on the random-weight
fixtures of tests/test_clap_backends.py (offline, against its fake hub).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch
from test_clap_backends import hub, laion, ms, needs_laion, needs_msclap  # noqa: F401  (its fixtures)

from mats_core import build
from mats_core.interfaces import Sample
from mats_core.run.harness import Pipeline, RunConfig

SECONDS = (1.0, 2.5, 3.0, 4.2, 8.0, 3.0)  # two clips of one length: they may share a call


def _clips(tmp_path, sr: int, long_seconds: float) -> list[Sample]:
    """Distinct, non-periodic WAV clips of mixed lengths at ``sr``, the last one very long."""
    rng = np.random.default_rng(sr)
    out = []
    for i, sec in enumerate((*SECONDS, long_seconds)):
        n = int(sec * sr)
        t = np.arange(n) / sr
        f0 = 300 + 150 * i
        wav = 0.3 * np.sin(2 * np.pi * f0 * t * (1 + 0.05 * t)) * np.linspace(0.2, 1.0, n) + 0.02 * rng.standard_normal(
            n
        )
        path = tmp_path / f"clip{i}.wav"
        sf.write(path, wav.astype(np.float32), sr, subtype="PCM_16")
        out.append(Sample(id=f"c{i}", audio=str(path), instruction="", sample_rate=None))
    return out


def assert_batch_independent(encoder, samples: list[Sample], distinct: bool = False) -> None:
    pipe = Pipeline(encoder, None, {})
    cfg = RunConfig()
    together, ok, errors = pipe.embed_audio(samples, cfg)
    assert not errors and ok == list(range(len(samples)))
    alone = torch.cat([pipe.embed_audio([s], cfg)[0] for s in samples])
    cos = (together * alone).sum(-1)
    assert cos.min() > 1 - 1e-5, f"alone-vs-batch cosine per clip: {cos.tolist()}"
    torch.testing.assert_close(together, alone, atol=2e-4, rtol=0)
    if distinct:  # trained weights: distinct clips, distinct embeddings (random weights nearly collapse)
        assert (together[0] - together[1]).abs().max() > 1e-2


@pytest.fixture(scope="module")
def tiny_clap():
    return build("encoder", "tiny-clap")


def test_tiny_clap_shipped_weights(tiny_clap, tmp_path):
    assert tiny_clap.clip_seconds == 3.0  # its trained window: the core fits each clip to it
    assert_batch_independent(tiny_clap, _clips(tmp_path, 16_000, long_seconds=600.0), distinct=True)  # a 10-min clip


def test_tiny_clap_as_a_variable_length_encoder(tiny_clap, tmp_path, monkeypatch):
    monkeypatch.setattr(tiny_clap, "clip_seconds", None)  # the core's variable-length path (it fits 3 s itself)
    assert_batch_independent(tiny_clap, _clips(tmp_path, 16_000, long_seconds=600.0), distinct=True)


def test_order_and_chunks_do_not_matter(tiny_clap, tmp_path, monkeypatch):
    import mats_core.run.pipeline as pipeline

    monkeypatch.setattr(tiny_clap, "clip_seconds", None)
    samples = _clips(tmp_path, 16_000, long_seconds=40.0)
    pipe, cfg = Pipeline(tiny_clap, None, {}), RunConfig()
    z, _, _ = pipe.embed_audio(samples, cfg)
    monkeypatch.setattr(pipeline, "EMBED_CHUNK", 2)
    z_rev, _, _ = pipe.embed_audio(samples[::-1], cfg)
    torch.testing.assert_close(z_rev.flip(0), z, atol=2e-4, rtol=0)


@needs_laion
def test_laion_clap(laion, tmp_path):  # noqa: F811  (the imported fixture)
    assert laion.encoder.clip_seconds == 10.0
    assert_batch_independent(laion.encoder, _clips(tmp_path, 48_000, long_seconds=600.0))


@needs_msclap
@pytest.mark.slow  # end to end, > 30 s on a 2-core machine (fast tier: python -m pytest -q)
def test_msclap(ms, tmp_path):  # noqa: F811
    assert_batch_independent(ms.encoder, _clips(tmp_path, 44_100, long_seconds=600.0))


@pytest.fixture(scope="module")
def laion_fusion(hub, tmp_path_factory):  # noqa: F811
    from mats_clap._compat import import_laion_clap

    torch.manual_seed(0)
    ref = import_laion_clap().CLAP_Module(enable_fusion=True, device="cpu").eval()
    path = tmp_path_factory.mktemp("fusion") / "fusion.pt"
    torch.save(ref.model.state_dict(), path)
    del ref
    enc = build("encoder", "laion-clap", checkpoint=str(path), enable_fusion=True, tag="630k-audioset-fusion-best")
    return SimpleNamespace(encoder=enc)


@needs_laion
@pytest.mark.slow  # one more model build (~10 s of CPU)
def test_laion_clap_fusion(laion_fusion, tmp_path):
    assert laion_fusion.encoder.clip_seconds is None  # fusion reads whole clips: the variable-length path
    assert_batch_independent(laion_fusion.encoder, _clips(tmp_path, 48_000, long_seconds=25.0))

"""The field's bridges (shift, nearest, project), uniform-ball noise and the Santa ablation
params: each checked by the core conformance checker and against a hand-written formula."""

import math

import pytest
import torch
import torch.nn.functional as F

from mats_core import GapBridge, MatsError, build
from mats_core.testing import check_bridge


def unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), dim=-1)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(
    "name,params",
    [
        ("shift", {}),
        ("shift", {"mode": "center"}),
        ("nearest", {}),
        ("project", {}),
        ("noise", {"uniform_noise": True}),
        ("santa-clean", {"k": 8}),
    ],
)
def test_new_bridges_conform(name, params):
    bridge = build("bridge", name, **params)
    assert isinstance(bridge, GapBridge)
    check_bridge(bridge, bank=unit(50, 12).float())


def test_nearest_is_the_top1_caption():
    bank, audio = unit(40, 8, seed=1), unit(6, 8, seed=2)
    bridge = build("bridge", "nearest")
    bridge.fit(3 * bank)  # an unnormalised bank is normalised
    expected = torch.stack([bank[int(torch.argmax(bank @ a))] for a in audio])
    assert torch.allclose(bridge.infer(audio, gen()), expected)
    assert bridge.pairs_with == "clean" and torch.allclose(bridge.train(audio, gen()), audio)


@pytest.mark.parametrize("temperature", [0.01, 0.5])
def test_project_is_a_softmax_over_the_whole_bank(temperature, monkeypatch):
    import mats_bridges.field as field

    bank, audio = unit(37, 8, seed=3), unit(5, 8, seed=4)
    expected = []
    for a in audio:  # DeCap: weights softmax(cos / temperature) over every caption
        w = torch.tensor([math.exp(float(m @ a) / temperature) for m in bank], dtype=torch.float64)
        expected.append(F.normalize((w[:, None] * bank).sum(0) / w.sum(), dim=0))
    bridge = build("bridge", "project", temperature=temperature)
    bridge.fit(bank)
    assert torch.allclose(bridge.infer(audio, gen()), torch.stack(expected), atol=1e-10)
    monkeypatch.setattr(field, "BANK_BLOCK", 4)  # the blocked log-sum-exp gives the same answer
    assert torch.allclose(bridge.infer(audio, gen()), torch.stack(expected), atol=1e-10)


def test_shift_moves_audio_onto_the_text_mean():
    bank, unpaired, audio = unit(30, 8, seed=5), unit(20, 8, seed=6), unit(4, 8, seed=7)
    mu_t, mu_a = bank.mean(0), unpaired.mean(0)
    bridge = build("bridge", "shift")
    bridge.fit(bank)
    with pytest.raises(MatsError, match="fit_audio"):
        bridge.infer(audio, gen())
    bridge.fit_audio(unpaired)
    assert torch.allclose(bridge.infer(audio, gen()), F.normalize(audio - mu_a + mu_t, dim=-1))
    # WSAC shift trains on noisy text as the noise bridge does
    assert torch.equal(bridge.train(audio, gen(3)), build("bridge", "noise").train(audio, gen(3)))
    cfg = bridge.config()
    assert cfg["statistics"]["audio_mean"].startswith("unpaired audio") and cfg["statistics"]["text_mean"].startswith(
        "text-only"
    )


def test_shift_center_is_c3():
    bank, unpaired, x = unit(30, 8, seed=8), unit(20, 8, seed=9), unit(4, 8, seed=10)
    bridge = build("bridge", "shift", mode="center", noise_variance=0.01)
    assert bridge.fit_before_train  # the trainer fits the text mean before training
    bridge.fit(bank)
    bridge.fit_audio(unpaired)
    assert torch.allclose(bridge.infer(x, gen()), F.normalize(x - unpaired.mean(0), dim=-1))
    noise = math.sqrt(0.01) * torch.randn(x.shape, generator=gen(2), dtype=x.dtype)
    assert torch.allclose(bridge.train(x, gen(2)), F.normalize(x - bank.mean(0) + noise, dim=-1))


def test_uniform_ball_noise_has_the_published_distribution():
    from mats_bridges._ops import uniform_ball

    variance, dim = 0.04, 16
    x = unit(20000, dim, seed=11)
    offsets = uniform_ball((20000, dim), x, gen(5), math.sqrt(variance))
    radius = offsets.norm(dim=-1) / math.sqrt(variance)
    assert float(radius.max()) <= 1.0
    # uniform in the d-ball: P(|e| <= r R) = r^d; so |e|^d / R^d ~ U(0, 1), mean 1/2
    assert abs(float(radius.pow(dim).mean()) - 0.5) < 0.01
    out = build("bridge", "noise", noise_variance=variance, uniform_noise=True).train(x[:5], gen(5))
    assert torch.allclose(out, F.normalize(x[:5] + uniform_ball((5, dim), x, gen(5), 0.2), dim=-1))
    assert build("bridge", "noise", uniform_noise=True).config()["uniform_noise"] is True


def test_santa_ablation_params():
    assert build("bridge", "santa-clean").pairs_with == "clean" and build("bridge", "santa").pairs_with == "noise"
    assert build("bridge", "santa-clean").config()["pairs_with"] == "clean"
    assert "pairs_with" not in build("bridge", "santa").config()  # unchanged config: old runs still resume
    with pytest.raises(MatsError, match="pairs_with"):
        build("bridge", "santa", pairs_with="audio")


def test_shift_rejects_bad_mode():
    with pytest.raises(MatsError, match="mode"):
        build("bridge", "shift", mode="sideways")


def test_run_every_bridge_on_the_tiny_world(tmp_path):
    """`mats-bench run --bridge none,noise,memory,santa,shift,nearest,project` end to end (small)."""
    import json

    from typer.testing import CliRunner

    from mats_core.cli.main import app

    bridges = "none,noise,memory,santa,shift,nearest,project"
    res = CliRunner().invoke(
        app,
        [
            "run",
            "--bridge",
            bridges,
            "--tasks",
            "tiny-classify",
            "--limit",
            "3",
            "--no-reference",
            "--output",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "shift (unpaired-audio stats)" in res.output
    for name in bridges.split(","):
        stats = json.loads((tmp_path / name / "results.json").read_text())["bridge_statistics"]
        assert stats["kind"] == ("unpaired-audio" if name == "shift" else "text-only"), name
    shift = json.loads((tmp_path / "shift" / "results.json").read_text())
    assert shift["bridge_statistics"]["clips"] == {"tiny-classify": 3}
    assert shift["config"]["bridge"]["effective"]["statistics"]["audio_mean"].startswith("unpaired audio")

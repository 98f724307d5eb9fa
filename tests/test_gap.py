"""``mats-bench gap``: the statistics on the tiny world against a direct computation from the
encoder's raw outputs, the CLI (table, gap.json, figure) and ``noise_variance=auto``."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from mats_core import MatsError, build
from mats_core.bench.gap import gap_statistics, measure, noise_variance_from, retrieval
from mats_core.cli.main import app

N = 24


@pytest.fixture(scope="module")
def direct():
    """Audio and caption embeddings straight from the encoder, statistics by hand in numpy."""
    enc = build("encoder", "tiny")
    samples = list(build("task", "tiny-caption").samples())[:N]
    longest = max(len(s.audio) for s in samples)
    waves = torch.from_numpy(np.stack([np.pad(s.audio, (0, longest - len(s.audio))) for s in samples]))
    with torch.no_grad():
        a = enc.embed_audio(waves).double().numpy()
        t = enc.embed_text([s.references[0] for s in samples]).double().numpy()
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    mu_a, mu_t = a.mean(0), t.mean(0)
    d = a.shape[1]
    return {
        "paired_cosine": float(np.mean(np.sum(a * t, 1))),
        "centroid_distance": float(np.linalg.norm(mu_a - mu_t)),
        "centroid_cosine": float(mu_a @ mu_t / np.linalg.norm(mu_a) / np.linalg.norm(mu_t)),
        "centred_residual": float(np.mean(np.sum(((a - mu_a) - (t - mu_t)) ** 2, 1)) / d),
        "gap_variance": float(np.mean(np.sum((a - t) ** 2, 1)) / d),
        "r@1": float(
            np.mean(
                [
                    [s.references[0] for s in samples][int(np.argmax(t @ a[i]))] == samples[i].references[0]
                    for i in range(N)
                ]
            )
        ),
    }


def test_statistics_match_a_direct_computation(direct):
    report = measure("tiny", ["tiny-caption"], bridges=(), options={"limit": N})
    stats = report["tasks"]["tiny-caption"]
    assert stats["clips"] == N and stats["dim"] == 256
    for key, value in direct.items():
        assert stats[key] == pytest.approx(value, abs=2e-5), key
    assert 0 <= stats["r@1"] <= stats["r@5"] <= 1
    assert 0 <= stats["probe_audio_accuracy"] <= 1 and stats["probe_labels"].startswith("k-means")


def test_retrieval_counts_duplicate_captions_as_hits():
    t = torch.eye(3, dtype=torch.float64)
    a = torch.tensor([[0.1, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    # clip 0 retrieves caption 1, whose text equals its own: a hit; clip 1 hits itself; clip 2 too
    assert retrieval(a, t, ["x", "x", "y"], ks=(1,)) == {"r@1": 1.0}
    # distinct captions: clip 0 finds its own only second
    assert retrieval(a, t, ["x", "z", "y"], ks=(1, 2)) == {"r@1": 2 / 3, "r@2": 1.0}


def test_identical_modalities_have_no_gap():
    x = torch.nn.functional.normalize(torch.randn(40, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    s = gap_statistics(x, x, [str(i) for i in range(40)], labels=[i % 3 for i in range(40)])
    assert s["gap_variance"] == 0 and s["paired_cosine"] == pytest.approx(1) and s["r@1"] == 1
    assert s["probe_transfer_gap"] == 0 and s["probe_labels"] == "task labels"


def test_cli_prints_writes_json_and_figure(tmp_path, direct):
    res = CliRunner().invoke(
        app,
        [
            "gap",
            "--encoder",
            "tiny",
            "--tasks",
            "tiny-caption",
            "--limit",
            str(N),
            "--memory-size",
            "300",
            "--bridge",
            "none,memory,shift,nearest",
            "--output",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "gap_variance" in res.output and "cos to caption: shift" in res.output
    report = json.loads((tmp_path / "gap.json").read_text())
    entry = report["tasks"]["tiny-caption"]
    assert entry["gap_variance"] == pytest.approx(direct["gap_variance"], abs=2e-5)
    assert entry["bridges"]["none"]["after"] == pytest.approx(direct["paired_cosine"], abs=2e-5)
    assert entry["bridges"]["nearest"]["after"] > entry["bridges"]["nearest"]["before"]  # retrieval moves audio to text
    assert (tmp_path / "gap.png").stat().st_size > 10_000


def test_noise_variance_auto(direct):
    enc = build("encoder", "tiny")
    value, record = noise_variance_from(enc, {"name": "tiny", "params": {}}, "tiny-caption", None, limit=N)
    assert value == pytest.approx(direct["gap_variance"], abs=2e-5) and record["clips"] == N
    from mats_core.cli.train import _auto_noise

    ov = {"bridge": {"noise_variance": "auto"}, "task": {"split": "val", "limit": 16}}
    record = _auto_noise(ov, "tiny", {}, None, "tiny-caption")
    assert ov["bridge"]["noise_variance"] == record["gap_variance"] and record["clips"] == 16
    assert record["task_params"] == {"split": "val", "limit": 16}
    with pytest.raises(MatsError, match="--gap-task"):
        _auto_noise({"bridge": {"noise_variance": "auto"}}, "tiny", {}, None, None)


def test_what_a_bridge_shows_comes_from_the_bridge_not_its_name(tmp_path):
    """A preset of the noise (none) bridge under another name shows what noise (none) shows."""
    from mats_core.bench.gap import bridge_outputs

    reg = tmp_path / "reg.yaml"
    reg.write_text("bridge:\n  jitter:\n    plugin: noise\n  plain:\n    plugin: none\n")
    g = torch.Generator().manual_seed(0)
    audio = torch.nn.functional.normalize(torch.randn(6, 8, generator=g), dim=-1)
    text = torch.nn.functional.normalize(torch.randn(6, 8, generator=g), dim=-1)
    bank = torch.nn.functional.normalize(torch.randn(40, 8, generator=g), dim=-1)
    out = bridge_outputs(["noise", "jitter", "none", "plain", "santa"], audio, text, bank, str(reg), seed=3)
    assert out["jitter"][0] == out["noise"][0] == "text + training noise"
    assert torch.equal(out["jitter"][1], out["noise"][1]) and not torch.equal(out["jitter"][1], text)
    assert out["plain"][0] == out["none"][0] == "audio" and torch.equal(out["plain"][1], audio)
    assert out["santa"][0] == "santa(audio)"

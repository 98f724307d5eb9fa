"""Tests of the example plugin: the mats-bench conformance checks plus its own behaviour.

Run after ``pip install -e .`` (the plugin is found through its entry point, as users get it).
"""

import json
import shutil
import subprocess

import pytest
import torch
import torch.nn.functional as F

from mats_core import MatsError, build
from mats_core.testing import check_bridge, check_task


def test_plugin_is_installed_and_loads():
    """What a user sees: ``mats-bench plugins --json`` lists the entry point, loaded, with what it provides."""
    cli = shutil.which("mats-bench")
    assert cli, "mats-bench not on PATH: pip install mats-bench first"
    listed = json.loads(subprocess.run([cli, "plugins", "--json"], capture_output=True, text=True, check=True).stdout)
    info = next((p for p in listed if p["name"] == "example_bridge"), None)
    assert info is not None, "entry point 'example_bridge' not found: pip install -e this package first"
    assert info["status"] == "ok", info["error"]
    assert info["provides"] == {"bridge": ["subspace"], "task": ["presence"]}


@pytest.mark.parametrize("params", [{}, {"rank": 2, "lam": 1.0}, {"lam": 0.0, "noise_variance": 0.0}])
def test_subspace_bridge_conforms(params):
    check_bridge(build("bridge", "subspace", **params))


def test_subspace_bridge_moves_audio_into_the_caption_subspace():
    g = torch.Generator().manual_seed(0)
    dim, rank = 32, 4
    basis = torch.linalg.qr(torch.randn(dim, rank, generator=g))[0]  # captions live in a 4-d subspace
    memory = F.normalize(torch.randn(200, rank, generator=g) @ basis.T, dim=-1)
    audio = F.normalize(torch.randn(8, dim, generator=g), dim=-1)
    bridge = build("bridge", "subspace", rank=rank, lam=1.0)
    bridge.fit(memory)
    out = bridge.infer(audio, torch.Generator().manual_seed(0))
    assert (out - out @ basis @ basis.T).norm(dim=-1).max() < 1e-5  # nothing left outside the captions' subspace
    assert (audio - audio @ basis @ basis.T).norm(dim=-1).min() > 0.5  # while the audio had plenty there
    same = build("bridge", "subspace", rank=rank, lam=0.0)
    same.fit(memory)
    assert torch.allclose(same.infer(audio, torch.Generator()), audio, atol=1e-6)  # lam 0: audio untouched


def test_subspace_bridge_errors_name_the_field():
    with pytest.raises(MatsError, match="lam"):
        build("bridge", "subspace", lam=1.5)
    with pytest.raises(MatsError, match="rank"):
        build("bridge", "subspace", rank=0)
    with pytest.raises(RuntimeError, match="fit"):
        build("bridge", "subspace").infer(torch.zeros(1, 4), torch.Generator())


def test_presence_task_conforms():
    check_task(build("task", "presence", limit=4))


def test_presence_task_is_balanced_and_scores_a_yes_bias():
    task = build("task", "presence", limit=6)
    samples = list(task.samples())
    assert [s.references for s in samples] == [["yes"], ["no"]] * 3
    assert all(s.instruction == f"Do you hear {s.meta['asked'].replace('_', ' ')}?" for s in samples)
    rows = [
        {"id": s.id, "prediction": "yes", "references": s.references, "label": None, "error": None} for s in samples
    ]
    scores = task.score(rows)
    assert scores["accuracy"] == pytest.approx(0.5)
    assert scores["yes_accuracy"] == 1.0 and scores["no_accuracy"] == 0.0


def test_presence_task_refuses_a_non_classification_base():
    with pytest.raises(ValueError, match="classification"):
        list(build("task", "presence", base="tiny-qa", limit=2).samples())

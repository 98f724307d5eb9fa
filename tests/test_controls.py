"""No-audio controls, CIs in results.json, `score` reproducing them, multi-seed runs and `report`
on the embedded world (shipped seed-0 checkpoints), in process through the CLI."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from stats_checks import assert_paired_p
from typer.testing import CliRunner

from mats_core.cli.main import app
from mats_core.config.run_spec import parse_controls
from mats_core.errors import MatsError
from mats_core.interfaces import Sample
from mats_core.run.controls import apply_control, derangement

SHIPPED = Path(__file__).resolve().parents[1] / "plugins" / "mats_tiny" / "weights" / "mats"
shipped = pytest.mark.skipif(
    not (SHIPPED / "noise" / "config.json").exists(), reason="shipped tiny MATS checkpoints not built"
)
needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="caption metrics need Java")


def cli(*args, code=0):
    out = CliRunner().invoke(app, [str(a) for a in args])
    assert out.exit_code == code, out.output + repr(out.exception)
    return out


def results(path):
    return json.loads((Path(path) / "results.json").read_text())


def test_derangement_moves_every_sample_and_is_seeded():
    for n in (2, 3, 10, 97):
        perm = derangement(n, 0, "t")
        assert sorted(perm) == list(range(n)) and all(perm[i] != i for i in range(n))
    assert derangement(50, 1, "t") == derangement(50, 1, "t") != derangement(50, 2, "t")


def test_controls_replace_the_audio_and_keep_the_rest():
    class Enc:
        sample_rate, clip_seconds = 100, 0.5

    samples = [
        Sample(
            id=str(i),
            audio=np.full(300 + i, i + 1.0, dtype=np.float32),
            instruction="q",
            sample_rate=100,
            references=[f"r{i}"],
        )
        for i in range(5)
    ]
    silent = apply_control(samples, "silence", Enc(), 0, "t")
    assert all(s.audio.shape == (50,) and not s.audio.any() for s in silent)
    assert [(s.id, s.references, s.instruction) for s in silent] == [
        (s.id, s.references, s.instruction) for s in samples
    ]
    Enc.clip_seconds = None
    assert [len(s.audio) for s in apply_control(samples, "silence", Enc(), 0, "t")] == [300 + i for i in range(5)]
    shuffled = apply_control(samples, "shuffled", Enc(), 0, "t")
    assert all(s.audio[0] != i + 1 for i, s in enumerate(shuffled)) and sorted(s.audio[0] for s in shuffled) == [
        1,
        2,
        3,
        4,
        5,
    ]
    assert parse_controls("none") == [] and parse_controls("shuffled, silence") == ["shuffled", "silence"]
    with pytest.raises(MatsError, match="unknown control"):
        parse_controls("silense")


@shipped
@pytest.mark.slow  # end to end, > 30 s on a 2-core machine (fast tier: python -m pytest -q)
def test_control_rows_intervals_score_and_report(tmp_path):
    out = cli(
        "run",
        "--bridge",
        "noise,santa",
        "--tasks",
        "tiny-classify,tiny-qa",
        "--limit",
        "8",
        "--output",
        tmp_path / "run",
        "--device",
        "cpu",
        "--resamples",
        "200",
    )
    assert re.search(r"^│ no-audio \(silence\) +│ +8 │", out.output, re.M), out.output  # a table row, n 8
    assert re.search(r"^│ shuffled +│ +8 │", out.output, re.M), out.output
    silence = results(tmp_path / "run" / "no-audio-silence")
    assert silence["config"]["run"]["control"] == "silence" and silence["errors_count"] == 0
    assert "control" not in results(tmp_path / "run" / "santa")["config"]["run"]  # old fingerprints stay valid
    rows = [json.loads(l) for l in (tmp_path / "run" / "no-audio-silence" / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 16 and all(r["prediction"] is not None for r in rows)
    comp = json.loads((tmp_path / "run" / "comparison.json").read_text())
    assert (
        comp["order"][:4] == ["noise", "santa", "no-audio (silence)", "shuffled"] and "clap-zero-shot" in comp["order"]
    )
    assert_paired_p(comp["differences"]["santa"]["tiny-qa"]["accuracy"], resamples=200)
    assert comp["samples"]["santa"] == {"tiny-classify": 8, "tiny-qa": 8} and comp["limit"]["santa"] == 8
    santa = tmp_path / "run" / "santa"
    before = results(santa)
    for task, metric in (("tiny-qa", "accuracy"), ("tiny-classify", "accuracy_exact")):
        ci, p = before["intervals"][task][metric], before["results"][task][metric]
        assert ci["low"] <= p <= ci["high"] and ci["se"] == pytest.approx((p * (1 - p) / 7) ** 0.5)
    assert (
        set(before["intervals"]["tiny-qa"]) == {"accuracy", "wer", "cer"}
        and before["intervals"]["tiny-qa"]["wer"]["se"] is None
    )
    assert before["stats"]["resamples"] == 200
    cli("score", santa)
    assert results(santa)["intervals"] == before["intervals"]  # reproduced from samples.jsonl
    report = cli("report", tmp_path / "run").output
    assert report.index("| noise |") < report.index("| santa |") < report.index("| clap-zero-shot |")
    cli(
        "run",
        "--bridge",
        "santa",
        "--no-reference",
        "--tasks",
        "tiny-qa",
        "--limit",
        "5",
        "--output",
        tmp_path / "five",
        "--device",
        "cpu",
    )
    mixed = cli("report", tmp_path / "run", tmp_path / "five", code=2).output
    assert "--allow-mixed" in mixed
    both = cli("report", tmp_path / "run", tmp_path / "five", "--allow-mixed").output
    assert "| santa |" in both and "| five |" in both

    asked = cli(
        "run",
        "--bridge",
        "noise",
        "--no-reference",
        "--controls",
        "silence",
        "--tasks",
        "tiny-qa",
        "--limit",
        "4",
        "--output",
        tmp_path / "asked",
        "--device",
        "cpu",
    )  # controls asked for are kept without the reference rows
    assert json.loads((tmp_path / "asked" / "comparison.json").read_text())["order"] == ["noise", "no-audio (silence)"]
    assert "no-audio (silence)" in asked.output


@shipped
def test_two_checkpoint_sets_give_mean_std_and_per_seed_values(tmp_path):
    sets = f"{SHIPPED},{SHIPPED}"
    out = cli(
        "run",
        "--checkpoint",
        sets,
        "--bridge",
        "noise",
        "--controls",
        "none",
        "--tasks",
        "tiny-qa",
        "--limit",
        "4",
        "--output",
        tmp_path,
        "--device",
        "cpu",
    )
    comp = json.loads((tmp_path / "comparison.json").read_text())
    agg = comp["seeds"]["aggregate"]["noise"]["tiny-qa"]["accuracy"]
    assert agg["k"] == 2 and agg["std"] == 0 and len(comp["seeds"]["per_seed"]["noise"]["tiny-qa"]["accuracy"]) == 2
    assert "training seeds" in comp["seeds"]["how"] and "±" in out.output
    assert (tmp_path / "ckpt0" / "comparison.json").exists() and (
        tmp_path / "ckpt1" / "noise" / "results.json"
    ).exists()

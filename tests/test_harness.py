"""The main job on the embedded world: comparison run, resume after SIGKILL, batch-size
invariance, predict-only + score, report, sweep, and 2-process training under accelerate."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from stats_checks import assert_paired_p

SHIPPED = Path(__file__).resolve().parents[1] / "plugins" / "mats_tiny" / "weights" / "mats"
pytestmark = pytest.mark.skipif(
    not (SHIPPED / "noise" / "config.json").exists(), reason="shipped tiny MATS checkpoints not built"
)
CLI = [sys.executable, "-m", "mats_core.cli"]


def cli(*args, check=True, **kw):
    out = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, **kw)
    if check and out.returncode != 0:
        raise AssertionError(f"mats-bench {' '.join(map(str, args))} failed:\n{out.stdout}\n{out.stderr}")
    return out


def results(path):
    return json.loads((Path(path) / "results.json").read_text())


@pytest.mark.slow  # end to end, > 30 s on a 2-core machine (fast tier: python -m pytest -q)
def test_comparison_table_and_files(tmp_path):
    out = cli("run", "--bridge", "none,santa", "--tasks", "tiny-classify,tiny-qa", "--limit", "6", "--output", tmp_path)
    for row in ("none", "santa", "clap-zero-shot", "mats-audio"):
        assert re.search(rf"^│ {row} +│", out.stdout, re.M), (row, out.stdout)  # a table row, not any mention
    res = results(tmp_path / "santa")
    assert set(res["results"]) == {"tiny-classify", "tiny-qa"}
    assert res["config"]["bridge"]["name"] == "santa" and res["samples_count"] == {"tiny-classify": 6, "tiny-qa": 6}
    assert res["config"]["checkpoint"].endswith("noise") and results(tmp_path / "none")["config"][
        "checkpoint"
    ].endswith("clean")
    assert res["versions"]["torch"] and res["fingerprints"]["config"]
    lines = (tmp_path / "santa" / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 12 and all(json.loads(l)["prediction"] is not None for l in lines)
    assert "| santa |" in (tmp_path / "comparison.md").read_text()


def _single(output, *extra):
    return ["run", "--bridge", "santa", "--no-reference", "--tasks", "tiny-qa", "--output", output, *extra]


@pytest.mark.slow  # end to end, > 30 s on a 2-core machine (fast tier: python -m pytest -q)
def test_sigkill_then_rerun_equals_uninterrupted(tmp_path):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    args = ["--limit", "40", "--batch-size", "2", "--set", "decoding.max_new_tokens=8"]
    proc = subprocess.Popen(
        [*CLI, *map(str, _single(killed, *args))], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    samples = killed / "samples.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if samples.exists() and len(samples.read_text().splitlines()) >= 6:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed; raise --limit"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(samples.read_text().splitlines())
    assert 0 < partial < 40 and not (killed / "results.json").exists()
    cli(*_single(killed, *args))
    cli(*_single(clean, *args))
    assert results(killed)["results"] == results(clean)["results"]
    rows = lambda p: sorted(
        (json.loads(l)["id"], json.loads(l)["prediction"]) for l in (p / "samples.jsonl").read_text().splitlines()
    )
    assert rows(killed) == rows(clean)


@pytest.mark.slow  # end to end, > 30 s on a 2-core machine (fast tier: python -m pytest -q)
def test_rerun_with_other_config_is_refused(tmp_path):
    cli(*_single(tmp_path, "--limit", "2"))
    out = cli(*_single(tmp_path, "--limit", "2", "--set", "bridge.lam=0.9"), check=False)
    assert out.returncode == 2 and "--overwrite" in out.stderr
    cli(*_single(tmp_path, "--limit", "2", "--set", "bridge.lam=0.9", "--overwrite"))


@pytest.mark.slow  # end to end, > 30 s on a 2-core machine (fast tier: python -m pytest -q)
def test_metrics_do_not_depend_on_batch_size(tmp_path):
    for bs in (1, 7):
        cli(*_single(tmp_path / f"bs{bs}", "--limit", "10", "--batch-size", bs, "--tasks", "tiny-qa,tiny-classify"))
    assert results(tmp_path / "bs1")["results"] == results(tmp_path / "bs7")["results"]
    # so the batch size is not part of the config: a run resumes under another one (e.g. auto after an OOM)
    cli(*_single(tmp_path / "bs7", "--limit", "10", "--batch-size", "auto", "--tasks", "tiny-qa,tiny-classify"))
    assert results(tmp_path / "bs7")["results"] == results(tmp_path / "bs1")["results"]


@pytest.mark.slow  # end to end, > 30 s on a 2-core machine (fast tier: python -m pytest -q)
def test_predict_only_then_score_and_report(tmp_path):
    run = tmp_path / "run"
    cli(*_single(run, "--limit", "4", "--predict-only"))
    assert results(run)["results"] == {}
    cli("score", run)
    scored = results(run)["results"]["tiny-qa"]
    assert 0.0 <= scored["accuracy"] <= 1.0
    cli(*_single(tmp_path / "again", "--limit", "4"))
    assert results(tmp_path / "again")["results"] == results(run)["results"]
    out = cli("report", tmp_path)
    assert (
        "### tiny-qa (qa)" in out.stdout
        and "| accuracy" in out.stdout
        and "| run | 4 |" in out.stdout
        and "| again | 4 |" in out.stdout
    )


@pytest.mark.slow  # end to end, > 30 s on a 2-core machine (fast tier: python -m pytest -q)
def test_sweep_writes_table_and_plots(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        "tasks: [tiny-classify]\nrun: {limit: 4}\nseeds: [0, 1]\ngrid:\n  - bridge: santa\n    params: {lam: [0.0, 1.0], k: 4}\n"
        "  - bridge: noise\n"
    )
    out = cli("sweep", grid, "--output", tmp_path / "sweep")
    doc = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert {r["bridge"] for r in doc["summary"]} == {"santa", "noise"}
    assert not {"n", "errors"} & {r["metric"] for r in doc["summary"]}  # bookkeeping is not a metric
    acc = next(r for r in doc["summary"] if r["bridge"] == "noise" and r["metric"] == "accuracy_exact")
    assert acc["n"] == 2 and acc["ci"] == "t across replicates"
    assert set(doc["differences"]) == {"ckpt0/seed0", "ckpt0/seed1"}
    assert_paired_p(doc["differences"]["ckpt0/seed0"]["santa-k=4-lam=0.0"]["tiny-classify"]["accuracy_exact"], 1000)
    table = (tmp_path / "sweep" / "sweep.md").read_text()
    assert "| santa k=4 lam=0.0 |" in table and "±" in table and "| n |" not in table and table.count("\n| ") == 4
    assert "t-interval across them" in out.stdout
    assert (tmp_path / "sweep" / "sweep.csv").exists() and (
        tmp_path / "sweep" / "summary-lam.png"
    ).stat().st_size > 10_000
    assert list((tmp_path / "sweep" / "plots").glob("plot-tiny-classify-*-lam.png")) and not list(
        (tmp_path / "sweep").glob("plot-*.png")
    )


@pytest.mark.slow  # end to end, > 30 s on a 2-core machine (fast tier: python -m pytest -q)
def test_two_process_training_with_accelerate(tmp_path):
    # `--cpu` would start ONE process (accelerate's simple launcher); `--multi_gpu` starts N, which
    # run on CPU over gloo when there is no GPU. Port 0: a free port, so parallel runs do not clash.
    out = tmp_path / "ck"
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--main_process_port",
        "0",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "mats_core.cli",
        "train",
        "--steps",
        "4",
        "--batch-size",
        "4",
        "--output",
        str(out),
        "--device",
        "cpu",
        "--set",
        "corpus.n=200",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["processes"] == 2 and cfg["step"] == 4
    assert (out / "mapper.safetensors").exists()

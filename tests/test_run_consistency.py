"""Run/score consistency and resume with changed data (issue 12.4, 12.8), on real tiny runs:
rows that are not sample rows, duplicated rows, a killed run scored, a torn results.json,
and a dataset relabelled between a run and its rerun."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
from dataset_fixtures import make_esc50
from typer.testing import CliRunner

from mats_core import MatsError
from mats_core.cli.main import app
from mats_core.run.results import read_results, read_samples, scan_samples

SHIPPED = Path(__file__).resolve().parents[1] / "plugins" / "mats_tiny" / "weights" / "mats"
pytestmark = pytest.mark.skipif(
    not (SHIPPED / "noise" / "config.json").exists(), reason="shipped tiny checkpoints not built"
)
RUN = [
    "run",
    "--bridge",
    "noise",
    "--tasks",
    "tiny-classify,tiny-qa",
    "--limit",
    "3",
    "--batch-size",
    "3",
    "--no-reference",
    "--device",
    "cpu",
    "--set",
    "decoding.max_new_tokens=4",
]


def invoke(*args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = CliRunner().invoke(app, [str(a) for a in args])
    return res, [str(w.message) for w in caught]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    res, _ = invoke(*RUN, "--output", out)
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture
def run_dir(finished, tmp_path):
    copy = tmp_path / "out"
    shutil.copytree(finished, copy)
    return copy


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_a_row_without_task_is_dropped_with_a_warning_and_redone(run_dir):
    samples = run_dir / "samples.jsonl"
    good = lines(samples)
    broken = json.loads(good[1])
    del broken["task"]
    samples.write_text("\n".join([good[0], json.dumps(broken), *good[2:]]) + "\n")
    res, warned = invoke(*RUN, "--output", run_dir)  # crashed with KeyError: 'task' before
    assert res.exit_code == 0, res.output
    assert any(f"{samples}:2: not a sample row (invalid task)" in w for w in warned), warned
    assert sorted(lines(samples)) == sorted(good)  # the sample is regenerated, identically (same seed)
    assert read_results(run_dir / "results.json").samples_count == {"tiny-classify": 3, "tiny-qa": 3}


def test_a_duplicated_row_keeps_the_last_in_run_and_score_alike(run_dir):
    samples = run_dir / "samples.jsonl"
    first = json.loads(lines(samples)[0])
    other = {**first, "prediction": "a completely different answer"}
    with open(samples, "a") as fh:
        fh.write(json.dumps(other) + "\n")
    res, warned = invoke("score", run_dir)
    assert res.exit_code == 0, res.output
    assert any("is written twice; the last row is kept" in w and f"{samples}:7" in w for w in warned), warned
    scored = read_results(run_dir / "results.json")
    assert scored.samples_count == {"tiny-classify": 3, "tiny-qa": 3} and not scored.partial  # not 4 of 3
    kept = {(r["task"], r["id"]): r for r in read_samples(samples)}
    assert kept[(first["task"], first["id"])]["prediction"] == other["prediction"]
    res, _ = invoke(*RUN, "--output", run_dir)  # a rerun (resume) reads the same rows: the same counts and scores
    assert res.exit_code == 0, res.output
    rerun = read_results(run_dir / "results.json")
    assert rerun.samples_count == scored.samples_count and rerun.results == scored.results
    assert len(lines(samples)) == 6  # the earlier duplicate is gone from the file


def test_score_on_a_killed_run_marks_results_partial(run_dir):
    samples = run_dir / "samples.jsonl"
    kept = lines(samples)[:4]  # as if killed after 4 of 6 rows
    samples.write_text("\n".join(kept) + "\n" + kept[-1][:20])  # and a torn last line
    (run_dir / "results.json").unlink()
    res, _ = invoke("score", run_dir)
    assert res.exit_code == 0, res.output
    assert "partial:" in res.output and "tiny-qa: 1 of 3" in " ".join(res.output.split())
    scored = json.loads((run_dir / "results.json").read_text())
    assert scored["partial"] is True
    assert scored["expected_count"] == {"tiny-classify": 3, "tiny-qa": 3}
    assert scored["samples_count"] == {"tiny-classify": 3, "tiny-qa": 1}
    res, _ = invoke(*RUN, "--output", run_dir)  # the rerun finishes it
    assert res.exit_code == 0, res.output
    done = json.loads((run_dir / "results.json").read_text())
    assert done["partial"] is False and done["samples_count"] == done["expected_count"]


def test_report_on_a_truncated_results_json_is_one_error_line(run_dir):
    path = run_dir / "results.json"
    path.write_text(path.read_text()[:200])
    res, _ = invoke("report", run_dir)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.output.startswith("error: ") and str(path) in "".join(res.output.split())
    with pytest.raises(MatsError, match="not a valid results.json"):
        read_results(path)


def test_scan_samples_policy(tmp_path):
    path = tmp_path / "samples.jsonl"
    rows = [
        {"task": "t", "id": "1", "prediction": "a"},
        {"id": "2"},
        [1, 2],
        {"task": "t", "id": "1", "prediction": "b"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + '\n{"task": "t", "id"')
    with pytest.warns(UserWarning) as caught:
        found, kept = scan_samples(path)
    messages = [str(w.message) for w in caught]
    assert any(":2: not a sample row (invalid task)" in m for m in messages)
    assert any(":3: not a sample row" in m for m in messages)
    assert any(":4: task 't' id '1' is written twice" in m for m in messages)
    assert list(found) == [("t", "1")] and found[("t", "1")]["prediction"] == "b"


def test_a_relabelled_dataset_row_refuses_the_resume(tmp_path):
    """The run's stamp holds each task's data fingerprint: a changed label is refused, not resumed."""
    root = tmp_path / "data"
    make_esc50(root)
    out = tmp_path / "out"
    args = [
        "run",
        "--bridge",
        "noise",
        "--tasks",
        "esc50",
        "--data-root",
        root,
        "--limit",
        "4",
        "--no-reference",
        "--device",
        "cpu",
        "--set",
        "decoding.max_new_tokens=4",
        "--output",
        out,
    ]
    res, _ = invoke(*args)
    assert res.exit_code == 0, res.output
    before = {r["id"]: r["label"] for r in read_samples(out / "samples.jsonl")}
    meta = root / "esc50" / "meta" / "esc50.csv"
    meta.write_text(meta.read_text().replace("1-100032-A-0.wav,1,0,dog", "1-100032-A-0.wav,1,10,rain"))
    res, _ = invoke(*args)
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert "error:" in text and "the data of task 'esc50' changed since" in text and "--overwrite" in text
    assert {r["id"]: r["label"] for r in read_samples(out / "samples.jsonl")} == before  # nothing touched
    res, _ = invoke(*args, "--overwrite")
    assert res.exit_code == 0, res.output
    after = {r["id"]: r["label"] for r in read_samples(out / "samples.jsonl")}
    assert before["1-100032-A-0"] == "dog" and after["1-100032-A-0"] == "rain"
    assert {k: v for k, v in after.items() if k != "1-100032-A-0"} == {
        k: v for k, v in before.items() if k != "1-100032-A-0"
    }


def test_a_changed_run_setting_is_refused_before_the_models_load(run_dir, monkeypatch):
    import mats_core.run.harness

    def no_load(*a, **k):
        raise AssertionError("models loaded before the refusal")

    monkeypatch.setattr(mats_core.run.harness.Pipeline, "from_checkpoint", classmethod(no_load))
    args = [a if a != "3" else "2" for a in RUN]  # --limit 2 instead of 3
    res, _ = invoke(*args, "--output", run_dir)
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert "holds a run with a different config: config differs: run.limit: 3 -> 2" in text and "--overwrite" in text


def test_score_takes_a_fractional_limit_as_the_run_did(tmp_path):
    """``--limit 0.02`` (2% of each task, rounded up) is scored back on the same samples."""
    args = [a if a != "3" else "0.02" for a in RUN[:8]] + RUN[8:]
    out = tmp_path / "frac"
    res, _ = invoke(*args, "--output", out)
    assert res.exit_code == 0, res.output
    ran = read_results(out / "results.json")
    res, _ = invoke("score", out)
    assert res.exit_code == 0, res.output
    scored = read_results(out / "results.json")
    assert scored.samples_count == ran.samples_count and not scored.model_extra.get("partial")
    assert 1 <= scored.samples_count["tiny-qa"] < 10


def test_a_fractional_limit_runs_the_reference_rows(tmp_path):
    """``--limit 0.02`` with the reference rows: the CLAP zero-shot row counts what it scored
    (slicing its samples by a fraction raised before)."""
    out = tmp_path / "ref"
    res, _ = invoke(
        "run",
        "--bridge",
        "noise",
        "--tasks",
        "tiny-classify",
        "--limit",
        "0.02",
        "--controls",
        "none",
        "--device",
        "cpu",
        "--set",
        "decoding.max_new_tokens=4",
        "--output",
        out,
    )
    assert res.exit_code == 0, res.output
    zero_shot = read_results(out / "clap-zero-shot" / "results.json")
    assert zero_shot.samples_count == {"tiny-classify": 3}  # ceil(0.02 * 127)


def test_report_keeps_a_row_without_samples_unpaired(finished, tmp_path):
    """A folder of copied rows where one has only results.json (as a main job's clap-zero-shot
    row does): its values are in the table, it gets no paired difference, and nothing crashes."""
    merged = tmp_path / "merged"
    shutil.copytree(finished, merged / "noise")
    (merged / "values-only").mkdir()
    shutil.copy(finished / "results.json", merged / "values-only" / "results.json")
    res, _ = invoke("report", merged, "--output", tmp_path / "table")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "table.json").read_text())
    assert set(doc["rows"]) == {"noise", "values-only"} and "values-only" not in doc["differences"]
    assert "no samples.jsonl" in doc["skipped"]["values-only"]
    res, _ = invoke("report", merged, "--reference-row", "values-only", "--output", tmp_path / "t2")
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "t2.json").read_text())["skipped"] == {
        "*": "no reference row 'values-only' with samples"
    }

"""mats_core.bench.launchers: a sweep's grid points as submitit jobs. The local and submitit
launchers give the same table; a killed job's point is resubmitted by a rerun while the
finished ones are skipped; the Slurm path is checked up to the sbatch file it submits
(a fake `sbatch`/`srun` on PATH: no cluster here)."""

import importlib.util
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mats_core import MatsError
from mats_core.bench.launchers import LauncherConfig, executor_parameters, launcher_config, run_point

pytest.importorskip("submitit")
CLI = [sys.executable, "-m", "mats_core.cli"]
SHIPPED = Path(__file__).resolve().parents[1] / "plugins" / "mats_tiny" / "weights" / "mats"
needs_weights = pytest.mark.skipif(
    not (SHIPPED / "noise" / "config.json").exists(), reason="shipped tiny checkpoints not built"
)
GRID = """\
tasks: [{task}]
run: {run}
grid:
  - bridge: noise
  - bridge: santa
    params: {{lam: 0.5}}
"""


def grid(tmp_path, task="tiny-classify", run="{limit: 6}"):
    path = tmp_path / "grid.yaml"
    path.write_text(GRID.format(task=task, run=run))
    return path


def sweep(*args, check=True):
    env = {**os.environ, "MATS_NO_PLUGIN_COMMANDS": "1"}
    out = subprocess.run([*CLI, "sweep", *map(str, args)], capture_output=True, text=True, env=env)
    if check and out.returncode:
        raise AssertionError(f"sweep failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    return out


def test_the_command_line_beats_the_grid_file_and_bad_settings_name_the_key():
    cfg = launcher_config({"name": "submitit", "partition": "cpu", "mem_gb": 8}, partition="gpu", gpus_per_node=None)
    assert (cfg.name, cfg.partition, cfg.mem_gb, cfg.gpus_per_node) == ("submitit", "gpu", 8, None)
    with pytest.raises(MatsError, match=r"launcher: .*launcher\.partiton"):
        launcher_config({"partiton": "gpu"})
    with pytest.raises(MatsError, match=r"launcher\.cluster"):
        launcher_config({}, cluster="kubernetes")


def test_executor_parameters_map_to_submitit_names():
    cfg = LauncherConfig(
        name="submitit",
        partition="gpu",
        gpus_per_node=2,
        cpus_per_task=8,
        mem_gb=32,
        timeout_min=120,
        array_parallelism=4,
        setup=["module load cuda"],
        slurm={"account": "lab"},
    )
    assert executor_parameters(cfg) == {
        "name": "mats-sweep",
        "timeout_min": 120,
        "gpus_per_node": 2,
        "cpus_per_task": 8,
        "mem_gb": 32,
        "slurm_partition": "gpu",
        "slurm_array_parallelism": 4,
        "slurm_setup": ["module load cuda"],
        "slurm_additional_parameters": {"account": "lab"},
    }
    assert executor_parameters(LauncherConfig()) == {
        "name": "mats-sweep",
        "timeout_min": 24 * 60,
    }  # not submitit's 2-5 minutes


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """`srun` and `sbatch` stand-ins on PATH: sbatch keeps the script it was given and answers
    like Slurm; `sacct` reports every job RUNNING."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "sbatch").write_text(
        '#!/bin/sh\ncp "$1" "$(dirname "$0")/submitted.sbatch"\necho "Submitted batch job 4242"\n'
    )
    (bin_ / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_ / "sacct").write_text('#!/bin/sh\nprintf "JobID|State\\n4242_0|RUNNING\\n4242_1|RUNNING\\n"\n')
    for f in bin_.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{os.environ['PATH']}")
    return bin_


@needs_weights
def test_slurm_submission_is_one_array_job_with_the_sbatch_parameters(tmp_path, fake_slurm):
    out = tmp_path / "out"
    res = sweep(
        grid(tmp_path),
        "-o",
        out,
        "--launcher",
        "submitit",
        "--partition",
        "gpu",
        "--gpus-per-node",
        1,
        "--cpus-per-task",
        4,
        "--mem-gb",
        16,
        "--timeout-min",
        30,
        "--array-parallelism",
        1,
        "--no-wait",
    )
    assert "2 job(s) listed" in res.stdout and not (out / "sweep.md").exists()
    sbatch = (fake_slurm / "submitted.sbatch").read_text().splitlines()
    for line in [
        "#SBATCH --array=0-1%1",
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=16GB",
        "#SBATCH --time=30",
        "#SBATCH --job-name=mats-sweep",
        f"#SBATCH --output={out / 'jobs'}/%A_%a/%A_%a_0_log.out",
    ]:
        assert line in sbatch
    assert any(l.startswith("srun ") and l.endswith(f"-m submitit.core._submit {out / 'jobs'}/%j") for l in sbatch)
    book = json.loads((out / "jobs.json").read_text())["points"]
    assert {k: (v["state"], v["job_id"], v["cluster"]) for k, v in book.items()} == {
        "ckpt0/seed0/noise": ("submitted", "4242_0", "slurm"),
        "ckpt0/seed0/santa-lam=0.5": ("submitted", "4242_1", "slurm"),
    }
    with open(
        out / "jobs" / "4242_1" / "4242_1_submitted.pkl", "rb"
    ) as fh:  # what the node unpickles: the point's function
        job = pickle.load(fh)
    assert job.function is run_point and job.args == ()
    assert (
        job.kwargs["bridge"] == "santa"
        and job.kwargs["params"] == {"lam": 0.5}
        and job.kwargs["output"] == str(out / "ckpt0" / "seed0" / "santa-lam=0.5")
    )
    assert job.kwargs["grid"]["tasks"] == ["tiny-classify"] and job.kwargs["grid"]["run"] == {"limit": 6}
    again = run_point.__submitit_checkpoint__(**job.kwargs)  # preempted or timed out: submitit requeues the same point
    assert again.function is run_point and again.kwargs == job.kwargs
    (fake_slurm / "submitted.sbatch").unlink()
    res = sweep(
        grid(tmp_path), "-o", out, "--launcher", "submitit", "--no-wait"
    )  # both still RUNNING (sacct): not submitted again
    assert "submitting 0 of 2 points (0 finished, 2 still queued or running)" in res.stdout
    assert not (fake_slurm / "submitted.sbatch").exists()


@pytest.mark.slow
@needs_weights
def test_local_and_submitit_local_give_the_same_table(tmp_path):
    path = grid(tmp_path)
    sweep(path, "-o", tmp_path / "local")
    res = sweep(path, "-o", tmp_path / "jobs", "--launcher", "submitit", "--cluster", "local")
    assert "submitting 2 of 2 points" in res.stdout
    for name in ("sweep.csv", "sweep.md"):
        assert (tmp_path / "jobs" / name).read_text() == (tmp_path / "local" / name).read_text()
    local, jobs = (json.loads((tmp_path / d / "sweep.json").read_text()) for d in ("local", "jobs"))
    assert jobs == local and jobs["differences"]["ckpt0/seed0"]["santa-lam=0.5"]  # the paired comparison too
    assert sorted(p.name for p in (tmp_path / "jobs" / "plots").iterdir()) == sorted(
        p.name for p in (tmp_path / "local" / "plots").iterdir()
    )
    book = json.loads((tmp_path / "jobs" / "jobs.json").read_text())["points"]
    assert {v["state"] for v in book.values()} == {"finished"} and len({v["log_folder"] for v in book.values()}) == 2
    for v in book.values():  # one log folder per job, holding submitit's logs
        assert (Path(v["log_folder"]) / f"{v['job_id']}_0_log.err").is_file()
    res = sweep(
        path, "-o", tmp_path / "jobs", "--launcher", "submitit", "--cluster", "local"
    )  # all done: nothing submitted
    assert "submitting 0 of 2 points (2 finished" in res.stdout


@pytest.mark.slow
@needs_weights
def test_a_killed_job_is_resubmitted_and_the_sweep_completes(tmp_path):
    path = grid(tmp_path, task="tiny-qa", run="{limit: 40, batch_size: 2, decoding: {max_new_tokens: 8}}")
    out = tmp_path / "out"
    env = {**os.environ, "MATS_NO_PLUGIN_COMMANDS": "1"}
    proc = subprocess.Popen(
        [*CLI, "sweep", str(path), "-o", str(out), "--launcher", "submitit", "--cluster", "local"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    victim, deadline = None, time.time() + 600
    while victim is None and time.time() < deadline and proc.poll() is None:
        for point in ("noise", "santa-lam=0.5"):
            d = out / "ckpt0" / "seed0" / point
            if (
                (d / "job.json").exists()
                and (d / "samples.jsonl").exists()
                and len((d / "samples.jsonl").read_text().splitlines()) >= 4
            ):
                victim = d
                break
        time.sleep(0.2)
    assert victim is not None and not (victim / "results.json").exists(), (
        "the job finished before it could be killed; raise limit"
    )
    os.kill(
        json.loads((victim / "job.json").read_text())["pid"], signal.SIGKILL
    )  # as the OOM killer or a lost node would
    stdout, stderr = proc.communicate(timeout=600)
    survivor = next(
        out / "ckpt0" / "seed0" / p for p in ("noise", "santa-lam=0.5") if out / "ckpt0" / "seed0" / p != victim
    )
    label = f"ckpt0/seed0/{victim.name}"
    assert proc.returncode == 2 and "1 point(s) of the sweep have no results yet" in stderr and label in stderr
    assert (survivor / "results.json").exists()  # the other job's result is kept
    assert (out / "sweep.md").read_text().startswith(f"**1 point(s) missing** (not in this table): {label}")
    book = json.loads((out / "jobs.json").read_text())["points"]
    assert book[label]["state"] == "failed" and book[f"ckpt0/seed0/{survivor.name}"]["state"] == "finished"
    kept = (survivor / "results.json").stat().st_mtime_ns
    res = sweep(path, "-o", out, "--launcher", "submitit", "--cluster", "local", "--report-to", "mlflow")
    assert "submitting 1 of 2 points (1 finished" in res.stdout
    assert (survivor / "results.json").stat().st_mtime_ns == kept  # skipped, not rerun
    book = json.loads((out / "jobs.json").read_text())["points"]
    assert (
        book[label]["state"] == "finished"
        and book[label]["tries"] == 2
        and book[label]["previous"]["state"] == "failed"
    )
    table = (out / "sweep.md").read_text()
    assert "missing" not in table and "| noise |" in table and "| santa lam=0.5 |" in table
    assert len((victim / "samples.jsonl").read_text().splitlines()) == 40  # the resubmitted point resumed and completed
    if importlib.util.find_spec(
        "mlflow"
    ):  # --report-to: one MLflow run per point, holding sweep.json's headline values
        from mlflow.tracking import MlflowClient

        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        client = MlflowClient(tracking_uri=f"file:{out / 'mlruns'}")
        runs = {
            r.info.run_name: r.data.metrics
            for r in client.search_runs([client.get_experiment_by_name("mats-bench").experiment_id])
        }
        rows = json.loads((out / "sweep.json").read_text())["rows"]
        for point in ("noise", "santa-lam=0.5"):
            bridge = point.split("-")[0]
            want = {
                f"{r['task']}/{r['metric']}": r["value"]
                for r in rows
                if r["bridge"] == bridge and r["headline"] and r["metric"] != "errors" and r["value"] is not None
            }
            got = runs[f"out-ckpt0-seed0-{point}"]
            assert want and {k: got[k] for k in want} == want

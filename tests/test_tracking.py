"""mats_core.bench.tracking: `train --report-to tensorboard,wandb,mlflow` on the tiny world writes the
loss of every train_log.jsonl row into each tracker, read back with each library's own reader
(tensorboard's EventAccumulator, W&B's offline run file through its protobuf records, MLflow's
client on the file store); a sweep logs one tracker run per point with its headline metrics."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mats_core import MatsError
from mats_core.bench.tracking import Trackers, flatten, headline_metrics, parse_report_to, training_logger

CLI = [sys.executable, "-m", "mats_core.cli"]
SHIPPED = Path(__file__).resolve().parents[1] / "plugins" / "mats_tiny" / "weights" / "mats"
ENV = {**os.environ, "MATS_NO_PLUGIN_COMMANDS": "1", "WANDB_MODE": "offline"}
ENV.pop("MLFLOW_TRACKING_URI", None)


def cli(*args, check=True):
    out = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, env=ENV)
    if check and out.returncode:
        raise AssertionError(f"mats-bench {' '.join(map(str, args))} failed:\n{out.stdout}\n{out.stderr}")
    return out


def tensorboard_scalars(log_dir: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def wandb_history(run_file: Path) -> list[dict]:
    """The history rows of an offline ``run-*.wandb`` file: a 7-byte W&B header, then LevelDB-log
    records (32 KiB blocks; 7-byte chunk headers: crc, length, type) of wandb's protobuf Record."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, pos, block, chunks, pending = run_file.read_bytes(), 7, 32768, [], b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 1:  # FULL
            chunks.append(chunk)
        elif kind == 2:  # FIRST
            pending = chunk
        elif kind == 3:  # MIDDLE
            pending += chunk
        elif kind == 4:  # LAST
            chunks.append(pending + chunk)
    rows = []
    for raw in chunks:
        rec = pb.Record.FromString(raw)
        if rec.WhichOneof("record_type") == "history":
            row = {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in rec.history.item}
            rows.append({**row, "_step": rec.history.step.num})
    return rows


def mlflow_client(store: Path):
    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowClient(tracking_uri=f"file:{store}")


def test_report_to_names_are_checked_and_a_missing_library_names_the_extra(monkeypatch):
    assert parse_report_to(None) == [] and parse_report_to("none") == []
    with pytest.raises(MatsError, match="--report-to tensorbord: unknown tracker; known: tensorboard, wandb, mlflow"):
        parse_report_to("tensorbord")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(
        MatsError, match=r"--report-to mlflow needs the mlflow-skinny package: pip install 'mats-bench\[track\]'"
    ):
        parse_report_to("mlflow")


def test_a_bad_tracker_is_one_error_line_before_anything_trains(tmp_path):
    out = cli("train", "--steps", "2", "--output", tmp_path / "ck", "--report-to", "neptune", check=False)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "error: --report-to neptune: unknown tracker; known: tensorboard, wandb, mlflow (comma-separated), or none"
    ]
    assert not (tmp_path / "ck" / "train_log.jsonl").exists()


def test_flatten_and_headline_metrics():
    assert flatten({"bridge": {"name": "santa", "params": {"lam": 0.3}}, "steps": 5, "empty": {}}) == {
        "bridge.name": "santa",
        "bridge.params.lam": 0.3,
        "steps": 5,
        "empty": {},
    }
    rows = [
        {"task": "t", "metric": "acc", "value": 0.5, "headline": True, "ci_low": 0.25, "ci_high": 0.75},
        {"task": "t", "metric": "f1", "value": 0.4, "headline": False, "ci_low": None, "ci_high": None},
        {"task": "t", "metric": "n", "value": 8, "headline": False},
    ]
    assert headline_metrics(rows) == {"t/acc": 0.5, "t/acc.ci_low": 0.25, "t/acc.ci_high": 0.75}


def test_steps_per_second_from_the_trainers_timers(tmp_path):
    pytest.importorskip("tensorboard")
    with Trackers(["tensorboard"], output=tmp_path, name="r", config={"a": 1}, kind="train") as t:
        log = training_logger(t)
        log({"step": 5, "loss": 2.0, "lr": 0.1, "grad_norm": 1.5, "data_seconds": 0.5, "step_seconds": 2.0})
        log({"step": 10, "loss": 1.0, "lr": 0.05, "grad_norm": 0.5, "data_seconds": 0.75, "step_seconds": 2.25})
    assert tensorboard_scalars(tmp_path / "tensorboard" / "r", "train/steps_per_s") == [(5, 2.0), (10, 10.0)]
    assert tensorboard_scalars(tmp_path / "tensorboard" / "r", "train/grad_norm") == [(5, 1.5), (10, 0.5)]


@pytest.mark.slow
@pytest.mark.skipif(not (SHIPPED / "noise" / "config.json").exists(), reason="shipped tiny checkpoints not built")
def test_train_report_to_all_three_holds_the_losses_of_train_log(tmp_path):
    for lib in ("tensorboard", "wandb", "mlflow"):
        pytest.importorskip(lib)
    out = tmp_path / "ck20"
    cli(
        "train",
        "--steps",
        20,
        "-b",
        4,
        "--output",
        out,
        "--set",
        "train.log_every=1",
        "--report-to",
        "tensorboard,wandb,mlflow",
    )
    log = [json.loads(l) for l in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 21)) and all(r["grad_norm"] > 0 for r in log)
    losses = [(r["step"], r["loss"]) for r in log]

    tb = tensorboard_scalars(out / "tensorboard" / "ck20", "train/loss")  # float32 in the event file
    assert [s for s, _ in tb] == [s for s, _ in losses] and all(
        v == pytest.approx(l, rel=1e-6) for (_, v), (_, l) in zip(tb, losses)
    )
    assert [s for s, _ in tensorboard_scalars(out / "tensorboard" / "ck20", "train/lr")] == list(range(1, 21))

    (run_file,) = (out / "wandb").glob("offline-run-*/run-*.wandb")
    history = wandb_history(run_file)
    assert [(h["_step"], h["train/loss"]) for h in history] == losses
    assert [h["train/grad_norm"] for h in history] == [r["grad_norm"] for r in log] and all(
        h["train/steps_per_s"] > 0 for h in history
    )

    client = mlflow_client(out / "mlruns")
    (run,) = client.search_runs([client.get_experiment_by_name("mats-bench").experiment_id])
    assert run.info.run_name == "ck20" and run.data.tags["mats.kind"] == "train"
    assert [
        (m.step, m.value)
        for m in sorted(client.get_metric_history(run.info.run_id, "train/loss"), key=lambda m: m.step)
    ] == losses
    params = run.data.params  # the config is recorded, flat
    assert (params["train.steps"], params["train.lr"], params["bridge.name"], params["encoder.name"]) == (
        "20",
        "0.001",
        "noise",
        "tiny",
    )


def test_a_sweep_logs_one_tracker_run_per_point_with_its_headline_metrics(tmp_path):
    pytest.importorskip("mlflow")
    from mats_core.bench.tracking import report_sweep

    def rows(bridge, params, seed, acc):
        base = {
            "bridge": bridge,
            **{f"param.{k}": v for k, v in params.items()},
            "checkpoint": 0,
            "seed": seed,
            "task": "tiny-classify",
            "kind": "classification",
        }
        return [
            {
                **base,
                "metric": "accuracy_exact",
                "value": acc,
                "headline": True,
                "ci_low": acc - 0.1,
                "ci_high": acc + 0.1,
            },
            {**base, "metric": "f1_exact", "value": acc / 2, "headline": False, "ci_low": None, "ci_high": None},
            {**base, "metric": "n", "value": 6, "headline": True, "ci_low": None, "ci_high": None},
        ]

    all_rows = rows("noise", {}, 0, 0.5) + rows("santa", {"lam": 0.3}, 0, 0.75) + rows("santa", {"lam": 0.3}, 1, 0.25)
    out = tmp_path / "lam"
    assert (
        report_sweep(
            ["mlflow"],
            all_rows,
            output=out,
            grid={"encoder": "tiny", "llm": "tiny", "tasks": ["tiny-classify"], "run": {"limit": 6}},
        )
        == 3
    )
    client = mlflow_client(out / "mlruns")
    runs = {r.info.run_name: r for r in client.search_runs([client.get_experiment_by_name("mats-bench").experiment_id])}
    assert sorted(runs) == ["lam-ckpt0-seed0-noise", "lam-ckpt0-seed0-santa-lam=0.3", "lam-ckpt0-seed1-santa-lam=0.3"]
    santa = runs["lam-ckpt0-seed1-santa-lam=0.3"]
    assert santa.data.metrics == {
        "tiny-classify/accuracy_exact": 0.25,
        "tiny-classify/accuracy_exact.ci_low": pytest.approx(0.15),
        "tiny-classify/accuracy_exact.ci_high": pytest.approx(0.35),
        "tiny-classify/n": 6.0,
    }
    assert (
        santa.data.params["bridge"],
        santa.data.params["params.lam"],
        santa.data.params["seed"],
        santa.data.params["tasks"],
    ) == ("santa", "0.3", "1", '["tiny-classify"]')
    assert santa.data.tags["mats.kind"] == "sweep-point"

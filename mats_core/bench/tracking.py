"""Experiment tracking: ``--report-to tensorboard,wandb,mlflow``, through each library's own writer.

* ``tensorboard``: ``torch.utils.tensorboard.SummaryWriter`` event files in ``<output>/tensorboard/<run name>/``.
* ``wandb``: a W&B run in offline mode under ``<output>/wandb/`` (``wandb sync`` uploads it later);
  ``WANDB_MODE=online`` in the environment logs live instead, ``WANDB_PROJECT`` names the project.
* ``mlflow``: an MLflow file store, tracking URI ``file:<output>/mlruns`` (``mlflow ui --backend-store-uri
  <output>/mlruns``); ``MLFLOW_TRACKING_URI`` in the environment points at your own server instead,
  ``MLFLOW_EXPERIMENT_NAME`` names the experiment (default ``mats-bench``).

Training logs ``train/loss``, ``train/lr`` (``train/lr_llm`` when the LLM has its own rate),
``train/grad_norm`` (before clipping) and ``train/steps_per_s`` at every train_log.jsonl row, with
the step as x; ``run`` and ``sweep`` log each row's / point's headline metrics with their 95%
interval (``<task>/<metric>``, ``<task>/<metric>.ci_low``, ``.ci_high``) as summary values. Every tracker
run has a name (the output folder; a sweep point's name) and the full config, so runs of a grid
line up in the tracker. The libraries are optional (``pip install 'mats-bench[track]'``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

from mats_core.errors import MatsError

# tracker -> (module that must import, the pip package it comes from)
TRACKERS = {
    "tensorboard": ("tensorboard", "tensorboard"),
    "wandb": ("wandb", "wandb"),
    "mlflow": ("mlflow", "mlflow-skinny"),
}


def parse_report_to(value: str | None) -> list[str]:
    """``tensorboard,wandb`` -> the tracker names, each checked to be known and installed."""
    import importlib.util

    names = list(dict.fromkeys(n.strip().lower() for n in (value or "").split(",") if n.strip()))
    if names in ([], ["none"]):
        return []
    for name in names:
        if name not in TRACKERS:
            raise MatsError(
                f"--report-to {name}: unknown tracker; known: {', '.join(TRACKERS)} (comma-separated), or none"
            )
        module, package = TRACKERS[name]
        if importlib.util.find_spec(module) is None:
            raise MatsError(f"--report-to {name} needs the {package} package: pip install 'mats-bench[track]'")
    return names


def flatten(config: dict, prefix: str = "") -> dict[str, Any]:
    """``{"bridge": {"lam": 0.3}}`` -> ``{"bridge.lam": 0.3}`` (MLflow params are flat)."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, dict) and v:
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class _TensorBoard:
    def __init__(self, output: Path, name: str, config: dict, kind: str):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(output / "tensorboard" / name))
        self.writer.add_text("config", "```\n" + json.dumps(config, indent=2, default=str) + "\n```")

    def log(self, metrics: dict[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, global_step=step)

    def close(self) -> None:
        self.writer.close()


class _WandB:
    def __init__(self, output: Path, name: str, config: dict, kind: str):
        import wandb

        output.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            mode=os.environ.get("WANDB_MODE", "offline"),
            dir=str(output),
            name=name,
            job_type=kind,
            project=os.environ.get("WANDB_PROJECT", "mats-bench"),
            config=config,
            settings=wandb.Settings(silent=True, console="off"),
        )

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.run.log(metrics, step=step)

    def close(self) -> None:
        self.run.finish()


class _MLflow:
    def __init__(self, output: Path, name: str, config: dict, kind: str):
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        uri = os.environ.get("MLFLOW_TRACKING_URI") or f"file:{(output / 'mlruns').resolve()}"
        if uri.startswith("file:"):  # MLflow 3 keeps the file store behind this switch (it is what runs offline)
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=uri)
        experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME", "mats-bench")
        found = self.client.get_experiment_by_name(experiment)
        eid = found.experiment_id if found else self.client.create_experiment(experiment)
        self.run_id = self.client.create_run(eid, run_name=name, tags={"mats.kind": kind}).info.run_id
        params = [
            Param(k, json.dumps(v, default=str)[:6000] if not isinstance(v, str) else v[:6000])
            for k, v in flatten(config).items()
        ]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 params a batch
            self.client.log_batch(self.run_id, params=params[i : i + 100])

    def log(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()])

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


_WRITERS = {"tensorboard": _TensorBoard, "wandb": _WandB, "mlflow": _MLflow}


class Trackers:
    """The trackers of one run: ``log(metrics, step)`` writes to each; ``close()`` ends them."""

    def __init__(self, names: list[str], *, output: Path, name: str, config: dict, kind: str):
        self.writers = []
        try:
            for n in names:
                self.writers.append(_WRITERS[n](Path(output), name, config, kind))
        except Exception:
            self.close()
            raise

    def log(self, metrics: dict[str, float], step: int) -> None:
        clean = {k: float(v) for k, v in metrics.items() if v is not None and isinstance(v, (int, float)) and v == v}
        for w in self.writers:
            w.log(clean, step)

    def close(self) -> None:
        for w in self.writers:
            w.close()
        self.writers = []

    def __enter__(self) -> "Trackers":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def training_logger(trackers: Trackers) -> Callable[[dict], None]:
    """The trainer's ``on_log``: each train_log.jsonl row as ``train/*`` values. steps/s is the
    steps since the previous row over the data + compute time they took (the trainer's timers)."""
    last = {"step": 0, "seconds": 0.0}

    def on_log(row: dict) -> None:
        seconds = float(row.get("data_seconds", 0.0)) + float(row.get("step_seconds", 0.0))
        metrics = {f"train/{k}": row[k] for k in ("loss", "lr", "lr_llm", "grad_norm") if k in row}
        if seconds > last["seconds"]:
            metrics["train/steps_per_s"] = (row["step"] - last["step"]) / (seconds - last["seconds"])
        last.update(step=row["step"], seconds=seconds)
        trackers.log(metrics, step=int(row["step"]))

    return on_log


def headline_metrics(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Sweep rows of one point -> ``task/metric`` (+ ``.ci_low``, ``.ci_high``)."""
    out: dict[str, float] = {}
    for r in rows:
        if not r.get("headline", True) or r["metric"] in ("errors",) or r.get("value") is None:
            continue
        key = f"{r['task']}/{r['metric']}"
        out[key] = r["value"]
        for bound in ("ci_low", "ci_high"):
            if r.get(bound) is not None:
                out[f"{key}.{bound}"] = r[bound]  # not key/bound: in MLflow's file store a key is a file
    return out


def report_sweep(names: list[str], rows: list[dict[str, Any]], *, output: Path, grid: dict) -> int:
    """One tracker run per sweep point (checkpoint set x seed x bridge params): its config and
    headline metrics with intervals. Returns how many runs were written."""
    points: dict[tuple, list[dict]] = {}
    for r in rows:
        params = tuple(sorted((k, json.dumps(v, default=str)) for k, v in r.items() if k.startswith("param.")))
        points.setdefault((r["checkpoint"], r["seed"], r["bridge"], params), []).append(r)
    for (ci, seed, bridge, _), items in points.items():
        params = {k.removeprefix("param."): v for k, v in items[0].items() if k.startswith("param.")}
        from mats_core.bench.sweep_spec import point_name

        name = f"{output.name}/ckpt{ci}/seed{seed}/{point_name(bridge, params)}"
        config = {
            "sweep": str(output),
            "bridge": bridge,
            "params": params,
            "checkpoint": ci,
            "seed": seed,
            **{k: grid.get(k) for k in ("encoder", "llm", "tasks", "run", "checkpoints")},
        }
        with Trackers(names, output=output, name=name.replace("/", "-"), config=config, kind="sweep-point") as t:
            t.log(headline_metrics(items), step=0)
    return len(points)

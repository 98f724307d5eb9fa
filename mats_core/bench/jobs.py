"""The book of a submitit sweep's jobs: ``<output>/jobs.json`` says, per point, which job ran it,
where its log folder is and how it ended, so a dead job is found and its point resubmitted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

ALIVE = {
    "PENDING",
    "RUNNING",
    "REQUEUED",
    "CONFIGURING",
    "COMPLETING",
    "RESIZING",
    "SUSPENDED",
}  # Slurm's states of a live job


class JobBook:
    def __init__(self, output: Path):
        self.path = output / "jobs.json"
        self.points: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            try:
                self.points = json.loads(self.path.read_text()).get("points", {})
            except (json.JSONDecodeError, AttributeError):
                self.points = {}

    def skip(self, label: str) -> None:
        entry = self.points.setdefault(label, {})
        entry["state"] = "finished"

    def submitted(self, label: str, job: Any, cluster: str) -> None:
        previous = self.points.get(label, {})
        previous.pop("previous", None)
        tries = int(previous.get("tries", 0)) + 1
        self.points[label] = {
            "state": "submitted",
            "job_id": str(job.job_id),
            "cluster": cluster,
            "log_folder": str(job.paths.folder),
            "tries": tries,
            **({"previous": previous} if previous.get("job_id") else {}),
        }

    def queued(self, label: str, cluster: str, folder: Path) -> Any:
        """The Slurm job a previous (``--no-wait``) submission left queued or running for this
        point, to wait on instead of submitting the point again; None when there is none."""
        entry = self.points.get(label, {})
        if entry.get("state") != "submitted" or entry.get("cluster") != "slurm" or cluster != "slurm":
            return None  # local processes die with their sweep, or outlive it unseen: resubmit
        import submitit

        job = submitit.SlurmJob(folder=str(folder / "%j"), job_id=entry["job_id"])
        return job if job.state in ALIVE else None

    def wait(self, label: str, job: Any, log: Callable[[str], None]) -> bool:
        """Block until ``job`` ends; record whether its point finished. A failure is recorded, not raised."""
        entry = self.points[label]
        try:
            job.result()
        except Exception as exc:  # noqa: BLE001  (a dead or failed job: any error submitit reports)
            from submitit.core.utils import UncompletedJobError

            lines = [line for line in str(exc).strip().splitlines() if line.strip()]
            error = (
                f"the job ended without a result (state {job.state}): killed, out of memory or past its time limit?"
                if isinstance(exc, UncompletedJobError)
                else (lines[-1] if lines else type(exc).__name__)
            )
            entry.update(state="failed", error=error[:500], stderr=str(job.paths.stderr).replace("%j", str(job.job_id)))
            log(f"point {label}: job {job.job_id} failed: {entry['error']} (log: {entry['stderr']})")
            return False
        entry["state"] = "finished"
        log(f"point {label}: job {job.job_id} finished")
        return True

    def save(self) -> None:
        from mats_core.run.results import atomic_write_text

        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps({"points": self.points}, indent=2) + "\n")

    def note_missing(self, table: Path, labels: list[str]) -> None:
        """Name the missing points above the table (it holds only the finished ones)."""
        from mats_core.run.results import atomic_write_text

        for label in labels:
            self.points.setdefault(label, {}).setdefault("state", "missing")
        atomic_write_text(
            table, f"**{len(labels)} point(s) missing** (not in this table): {', '.join(labels)}\n\n{table.read_text()}"
        )

    def missing_message(self, labels: list[str], output: Path) -> str:
        why = []
        for label in labels:
            e = self.points.get(label, {})
            state = e.get("state", "not run")
            why.append(
                f"{label} ({state}{': ' + e['error'] if e.get('error') else ''}{'; log ' + e['stderr'] if e.get('stderr') else ''})"
            )
        return (
            f"{len(labels)} point(s) of the sweep have no results yet: {'; '.join(why)}. The table in {output / 'sweep.md'} "
            f"holds the finished points; rerun the same command to resubmit the missing ones (finished points are skipped)"
        )

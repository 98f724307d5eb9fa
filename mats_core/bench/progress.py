"""What a run shows while it runs: a progress bar per (row, task) under one overall line."""

from __future__ import annotations

from typing import Any


class RunProgress:
    """One rich progress bar per (row, task), under an overall line (row k of N, the task, the ETA
    of the whole run, counted in row-task units); disabled on all but one process of a sharded run."""

    def __init__(self, enabled: bool = True, rows: int = 1, tasks: int = 1):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from mats_core.process.quiet import terminal

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            disable=not enabled,
            console=Console(file=terminal()),
            redirect_stdout=False,
            redirect_stderr=False,
        )  # third-party noise: mats_core.process.quiet
        self.ids: dict[str, Any] = {}
        self.rows, self.tasks = max(rows, 1), max(tasks, 1)
        self.order: list[str] = []  # rows in the order they started
        self.fraction: dict[str, float] = {}  # row-task -> share done
        self.overall = None

    def __enter__(self):
        self.progress.start()
        self.overall = self.progress.add_task("overall", total=self.rows * self.tasks)
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def update(self, row: str):
        """The ``on_progress`` callback of row ``row``: (task, done, total) -> its bar and the overall line."""
        if row not in self.order:
            self.order.append(row)
        k = self.order.index(row) + 1

        def cb(task: str, done: int, total: int) -> None:
            key = f"{row} · {task}"
            if key not in self.ids:
                self.ids[key] = self.progress.add_task(key, total=total)
            self.progress.update(self.ids[key], completed=done)
            self.fraction[key] = done / total if total else 1.0
            self.progress.update(
                self.overall,
                completed=sum(self.fraction.values()),
                description=f"overall: row {k}/{self.rows} {row} · {task}",
            )

        return cb

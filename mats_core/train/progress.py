"""The training progress bar (rich, on the real terminal: third-party noise goes to the log)."""

from __future__ import annotations


class TrainBar:
    """steps done / total and the last logged loss."""

    def __init__(self, total: int, start: int):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        from mats_core.process.quiet import terminal

        self.progress = Progress(
            TextColumn("train"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("loss {task.fields[loss]:.3f}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=terminal()),
            redirect_stdout=False,
            redirect_stderr=False,  # noise: mats_core.process.quiet
        )
        self.task = self.progress.add_task("train", total=total, completed=start, loss=float("nan"))
        self.progress.start()

    def update(self, done: int, loss: float) -> None:
        self.progress.update(self.task, completed=done, loss=loss)

    def close(self) -> None:
        self.progress.stop()


def train_progress(enabled: bool, total: int, start: int) -> TrainBar | None:
    """A bar on rank 0 (``enabled``), None elsewhere."""
    return TrainBar(total, start) if enabled else None

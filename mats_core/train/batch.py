"""The training batch against what it must fit in (issue 33.5): the corpus it is drawn from, and
the device's memory. Each refusal names ``train.batch_size`` and what would be valid; neither
removes anything from ``--output`` (the size check runs before it is touched, and the checkpoints
an out-of-memory run already wrote are whole: ``mats_core.model.checkpoints.writing``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mats_core.errors import MatsError


def check_batch_size(batch_size: int, records: int) -> None:
    """A batch is drawn from the corpus: one larger than the corpus repeats records in every step."""
    if batch_size > records:
        raise MatsError(
            f"train.batch_size {batch_size} is larger than the corpus ({records} records): every batch would "
            f"repeat records; pass --batch-size {records} or less (with --set train.grad_accum=N for a larger "
            "effective batch), or train on a larger corpus"
        )


def out_of_memory(exc: BaseException, *, step: int, config: Any, device: Any, output: Path) -> MatsError:
    """The error for a training step that ran out of memory, saying what to lower and what was kept."""
    kept = "the last checkpoint written is kept in" if (output / "config.json").exists() else "nothing was written to"
    return MatsError(
        f"out of memory at training step {step} with train.batch_size {config.batch_size} on {device}: pass a "
        f"smaller --batch-size and keep the effective batch ({config.batch_size * config.grad_accum}) with "
        f"--set train.grad_accum=N, or use a smaller llm dtype (--set llm.dtype=bfloat16) or a larger device; "
        f"{kept} {output}"
    )

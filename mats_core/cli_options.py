"""Parsers of ``mats-bench run`` option values that typer's types cannot express (counts or fractions, 'auto')."""
from __future__ import annotations

from pathlib import Path


def _checkpoints(value: str | None) -> Path | list[Path] | None:
    """``--checkpoint A`` -> Path; ``--checkpoint A,B,C`` (training seeds) -> [Path, ...]."""
    if value is None:
        return None
    items = [Path(v.strip()) for v in str(value).split(",") if v.strip()]
    return items if len(items) > 1 else (items[0] if items else None)


def _batch_size(value: str) -> int | str:
    from mats_core.registry import MatsError

    if value.strip() == "auto":
        return "auto"
    try:
        size = int(value)
    except ValueError:
        size = 0
    if size < 1:
        raise MatsError(f"--batch-size must be a positive integer or 'auto', got {value!r}")
    return size


def _limit(value: float | None) -> int | float | None:
    """--limit N (samples per task) or a fraction below 1 (of each task's samples), as lm-eval takes it."""
    from mats_core.registry import MatsError

    if value is None:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        raise MatsError(f"--limit must be a finite count or a fraction in (0, 1), got {value}; leave it out for every sample")
    if value <= 0:
        raise MatsError(f"--limit must be a positive count or a fraction in (0, 1), got {value}")
    if value < 1:
        return value
    if value != int(value):
        raise MatsError(f"--limit {value}: a count must be a whole number (a fraction must be below 1)")
    return int(value)

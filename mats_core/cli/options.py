"""Parsers of ``mats-bench run`` option values that typer's types cannot express (counts or fractions, 'auto')."""

from __future__ import annotations

from pathlib import Path


def _checkpoints(value: str | None) -> Path | list[Path] | None:
    """``--checkpoint A`` -> Path; ``--checkpoint A,B,C`` (training seeds) -> [Path, ...]."""
    if value is None:
        return None
    items = [Path(v.strip()) for v in str(value).split(",") if v.strip()]
    if not items:  # --checkpoint "": never the shipped set in silence
        from mats_core.errors import MatsError

        raise MatsError(
            f"--checkpoint {value!r} names no checkpoint; leave it out for the shipped set, or give a directory"
        )
    return items if len(items) > 1 else (items[0] if items else None)


def _batch_size(value: str) -> int | str:
    from mats_core.errors import MatsError

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
    from mats_core.errors import MatsError

    if value is None:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        raise MatsError(
            f"--limit must be a finite count or a fraction in (0, 1), got {value}; leave it out for every sample"
        )
    if value <= 0:
        raise MatsError(f"--limit must be a positive count or a fraction in (0, 1), got {value}")
    if value < 1:
        return value
    if value != int(value):
        raise MatsError(f"--limit {value}: a count must be a whole number (a fraction must be below 1)")
    return int(value)


# lm-evaluation-harness's spellings of `run`'s options, accepted (click's token_normalize_func)
# without widening its --help column; the help texts name them once
_SPELLINGS = {"output_path": "output", "out": "output", "batch_size": "batch-size", "log_samples": "log-samples"}


def _spelling(name: str) -> str:
    return _SPELLINGS.get(name, name)


def place_set(out: dict, parts: list[str], value: object, item: str) -> None:
    """Put one ``--set a.b.c=value`` into ``out`` (nested by the dots). A later --set of the same key
    wins; a key that is a value in one --set and holds keys in another is refused, never half-dropped."""
    from mats_core.errors import MatsError

    node = out
    for depth, p in enumerate(parts[:-1], start=1):
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise MatsError(
                f"--set {item!r}: {'.'.join(parts[:depth])} is already set to {node!r} by another --set, so it "
                "cannot also hold keys; give one of the two"
            )
    if isinstance(node.get(parts[-1]), dict) and node[parts[-1]]:
        raise MatsError(
            f"--set {item!r}: {'.'.join(parts)} already holds keys from another --set "
            f"({', '.join(node[parts[-1]])}); this would drop them: give one of the two"
        )
    node[parts[-1]] = value

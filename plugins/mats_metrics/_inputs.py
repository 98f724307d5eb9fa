"""Input validation shared by the metrics: fail loudly instead of silently zip-truncating."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mats_core import MatsError


class MetricInputError(MatsError, ValueError):
    """Bad arguments to ``Metric.compute``; the message names the argument and the item."""


def str_list(values: Any, field: str, metric: str, allow_empty_items: bool = True) -> list[str]:
    """``values`` as a list of str; ``field`` names the argument in the error message."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise MetricInputError(f"{metric} metric: {field} must be a list of strings, got {type(values).__name__}")
    out = []
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise MetricInputError(f"{metric} metric: {field}[{i}] must be a string, got {type(v).__name__} {v!r}")
        if not allow_empty_items and not v.strip():
            raise MetricInputError(f"{metric} metric: {field}[{i}] is an empty string")
        out.append(v)
    return out


def reference_lists(references: Any, metric: str) -> list[list[str]]:
    """Accept ``list[str]`` (one reference each) or ``list[list[str]]``; no empty references."""
    if isinstance(references, (str, bytes)) or not isinstance(references, Sequence):
        raise MetricInputError(f"{metric} metric: references must be a list, got {type(references).__name__}")
    out = []
    for i, refs in enumerate(references):
        refs = [refs] if isinstance(refs, str) else refs
        items = str_list(refs, f"references[{i}]", metric, allow_empty_items=False)
        if not items:
            raise MetricInputError(f"{metric} metric: references[{i}] is an empty list; give at least one reference")
        out.append(items)
    return out


def check_pairing(predictions: list[str], references: list[Any], metric: str) -> None:
    if not predictions:
        raise MetricInputError(f"{metric} metric: no predictions to score (predictions and references are empty)")
    if len(predictions) != len(references):
        raise MetricInputError(
            f"{metric} metric: {len(predictions)} predictions but {len(references)} references; "
            "give exactly one reference entry per prediction"
        )

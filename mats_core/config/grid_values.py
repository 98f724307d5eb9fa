"""What a sweep grid's lists may hold (``mats-bench sweep``): every list sweeps something, and no
value twice. An empty list (``lam: []``, ``grid: []``, ``seeds: []``) would run nothing and report
the sweep as done; a repeated value (``lam: [0.5, 0.5]``, ``seeds: [0, 0]``) would run the same
point again and count it as a replicate. Both are refused when the grid is read, naming the key.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator


def distinct(values: Any) -> Any:
    """``values`` unchanged when it is a non-empty list without repeats (a scalar passes)."""
    if not isinstance(values, list):
        return values
    if not values:
        raise ValueError("an empty list sweeps nothing: give at least one value (or leave the key out)")
    seen: set[str] = set()
    for v in values:
        key = json.dumps(v, sort_keys=True, default=str)
        if key in seen:
            raise ValueError(
                f"{v!r} is listed twice: a repeated value runs the same point again, it is not a replicate "
                "(replicates are seeds: or checkpoints:)"
            )
        seen.add(key)
    return values


Swept = Annotated[Any, AfterValidator(distinct)]  # a grid param: a scalar (fixed) or a list (swept)
Distinct = AfterValidator(distinct)  # for a list field: Annotated[list[int], Distinct]


def distinct_points(entries: list) -> list:
    """Grid entries (``GridEntry``) whose points differ: the same bridge with the same params twice
    would be one run directory written twice, counted as two points."""
    seen: dict[str, int] = {}
    for k, entry in enumerate(entries):
        for params in entry.combinations():
            key = json.dumps([entry.bridge, params], sort_keys=True, default=str)
            if key in seen:
                raise ValueError(
                    f"entry {k} repeats a point of entry {seen[key]} (bridge {entry.bridge!r}, params {params}); "
                    "give each point once"
                )
            seen.setdefault(key, k)
    return entries


DistinctPoints = AfterValidator(distinct_points)

"""A sweep's grid file (``mats-bench sweep GRID.yaml``): its schema, its checks and its points' names.

A grid file::

    encoder: tiny
    llm: tiny
    tasks: [tiny-caption, tiny-classify]
    checkpoints: [null]          # checkpoint sets (replicates, e.g. training seeds); null = shipped
    seeds: [0, 1, 2]             # evaluation seeds (bridge noise)
    run: {limit: 100}
    grid:
      - bridge: santa
        params: {lam: [0, 0.1, 0.3, 0.5, 1.0]}
      - bridge: none

Every name and param of the grid (encoder, llm, tasks, checkpoints, run options, each bridge and every
value of every swept param, bounds included; no empty list, no value twice: :mod:`mats_core.config.grid_values`)
is checked before the first point runs, so a typo fails in a second. A sweep resumes point by point.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from mats_core.config.grid_values import Distinct, DistinctPoints, Swept
from mats_core.errors import MatsError


class GridEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bridge: str
    params: dict[str, Swept] = Field(default_factory=dict)

    def combinations(self) -> list[dict[str, Any]]:
        """Every point of this entry: a param given as a list is swept, a scalar is fixed."""
        keys = sorted(self.params)
        values = [v if isinstance(v, list) else [v] for v in (self.params[k] for k in keys)]
        return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    encoder: str = "tiny"
    llm: str = "tiny"
    tasks: Annotated[list[str], Distinct]
    checkpoints: Annotated[list[str | None], Distinct] = Field(default_factory=lambda: [None])
    seeds: Annotated[list[int], Distinct] = Field(default_factory=lambda: [0])
    run: dict[str, Any] = Field(default_factory=dict)
    grid: Annotated[list[GridEntry], DistinctPoints] = Field(min_length=1)
    reference: str | None = "noise"  # the point others are compared with (paired), when the grid has it
    launcher: dict[str, Any] = Field(
        default_factory=dict
    )  # where points run (mats_core.bench.launchers.LauncherConfig)
    _source: str = PrivateAttr("grid")  # the file it was read from, for error messages

    def points(self) -> list[tuple[str, dict[str, Any]]]:
        return [(entry.bridge, params) for entry in self.grid for params in entry.combinations()]


def load_spec(path: str | Path) -> SweepSpec:
    from pydantic import ValidationError

    from mats_core.config.validation import format_errors

    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise MatsError(f"grid file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise MatsError(f"grid file {path} is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(raw, dict):
        raise MatsError(
            f"grid file {path}: expected a mapping (encoder, llm, tasks, checkpoints, seeds, run, grid), "
            f"got {type(raw).__name__}"
        )
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as exc:
        raise MatsError(f"{path}: {format_errors(exc, known=SweepSpec.model_fields, noun='key')}") from None
    spec._source = str(path)
    return spec


def check_spec(spec: SweepSpec, registry: str | None = None) -> None:
    """Validate every name and param of the grid without running anything; the error names
    the grid file and the key (``grid[0].params.lam``, ``tasks[1]``, ``run.limit`` ...)."""
    from pydantic import ValidationError

    from mats_core.bench.pairing import find_checkpoints
    from mats_core.config.validation import RunConfig, check_device, format_errors
    from mats_core.registry.presets import resolve, resolved_params

    src = spec._source

    def fail(key: str, exc: Exception) -> MatsError:
        return MatsError(f"{src}: {key}: {exc}")

    for kind in ("encoder", "llm"):
        try:
            resolve(kind, getattr(spec, kind), registry)
        except MatsError as exc:
            raise fail(kind, exc) from None
    for i, task in enumerate(spec.tasks):
        try:
            resolve("task", task, registry)
        except MatsError as exc:
            raise fail(f"tasks[{i}]", exc) from None
    for seed in spec.seeds:
        try:
            RunConfig(**{**spec.run, "seed": seed})
        except ValidationError as exc:
            raise fail("run", format_errors(exc, "run.", RunConfig.model_fields, noun="setting")) from None
        except MatsError as exc:  # the typed decoding settings
            raise fail("run", exc) from None
    try:
        check_device(spec.run.get("device", "auto"), "run.device")
    except MatsError as exc:
        raise fail("run.device", exc) from None
    for i, entry in enumerate(spec.grid):
        try:
            resolve("bridge", entry.bridge, registry)
        except MatsError as exc:
            raise fail(f"grid[{i}].bridge", exc) from None
        for key, values in entry.params.items():  # each value alone: the error names its key
            for j, value in enumerate(values if isinstance(values, list) else [values]):
                try:
                    resolved_params("bridge", entry.bridge, registry, **{key: value})
                except MatsError as exc:
                    index = f"[{j}]" if isinstance(values, list) else ""
                    raise fail(f"grid[{i}].params.{key}{index} = {value!r}", exc) from None
        for params in entry.combinations():  # then whole points (params that constrain each other)
            try:
                resolved_params("bridge", entry.bridge, registry, **params)
            except MatsError as exc:
                raise fail(f"grid[{i}] point {point_name(entry.bridge, params)}", exc) from None
    for i, ck in enumerate(spec.checkpoints):
        try:
            find_checkpoints(Path(ck) if ck else None, spec.encoder, spec.llm, registry)
        except MatsError as exc:
            raise fail(f"checkpoints[{i}]", exc) from None


def point_name(bridge: str, params: dict[str, Any]) -> str:
    return bridge + "".join(f"-{k}={v}" for k, v in sorted(params.items()))

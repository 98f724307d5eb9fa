"""Benchmark suites: ``benchmarks/suites/*.yaml``, a named set of tasks with the settings to run them.

A suite file::

    description: the tiny world's three tasks
    registry: ../recipes/mats-llama.yaml   # optional user registry, relative to this file
    encoder: tiny
    llm: tiny
    bridges: [none, noise, memory, santa]
    tasks:                                 # task name -> its params ({} = the task's defaults)
      tiny-caption: {}
      tiny-classify: {split: test, task_token: "[single event]"}  # its params reach it alone; task_token: RunConfig.task_tokens
    run: {memory_size: 5172, crop: center} # RunConfig fields (mats-bench run --set run.*)
    decoding: {preset: paper}              # generation settings (--set decoding.*), a named preset or keys
    reference: true                        # CLAP zero-shot and MATS-Audio rows
    audio_lms: [qwen2-audio]               # optional: audio-supervised models, one row each

:func:`load_suite` reads and checks the shape; :func:`check_suite` resolves every preset and
plugin name and validates every param (bounds included) without building anything, so a
suite is known to be runnable before a model loads. :meth:`Suite.overrides` turns a suite
into the ``--set``-style overrides that ``mats-bench run`` already takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from mats_core.errors import MatsError


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    registry: str | None = None
    encoder: str = "tiny"
    llm: str = "tiny"
    bridges: list[str] = Field(default_factory=lambda: ["none", "noise", "memory", "santa"], min_length=1)
    tasks: dict[str, dict[str, Any]] = Field(min_length=1)
    run: dict[str, Any] = Field(default_factory=dict)
    decoding: dict[str, Any] = Field(default_factory=dict)
    reference: bool = True
    audio_lms: list[str] = Field(default_factory=list)  # audio-supervised rows (API v1.2), e.g. [qwen2-audio]
    _source: Path = PrivateAttr(Path("suite"))

    @property
    def source(self) -> Path:
        return self._source

    def registry_path(self, cli_registry: str | None = None) -> str | None:
        """The suite's registry (relative to the suite file), or the command line's; not both,
        since a run reads one user registry besides the shipped one."""
        own = str((self._source.parent / self.registry).resolve()) if self.registry else None
        if own and cli_registry and Path(cli_registry).resolve() != Path(own):
            raise MatsError(
                f"{self._source}: registry: the suite names {own} and --registry gives {cli_registry}; "
                "pass one (copy the presets you need into one file)"
            )
        return own or cli_registry

    def overrides(self, sets: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
        """``--set`` style overrides for ``mats-bench run``: the suite's run and decoding settings
        with the command line's ``--set`` values on top, and ``tasks``: each task's own params
        (they reach that task alone; ``--set task.*`` still goes to every task that takes it)."""
        sets = dict(sets or {})
        run = {k: v for k, v in self.run.items() if k != "decoding"}
        tokens = {**self.run.get("task_tokens", {}), **{n: p[TOKEN] for n, p in self.tasks.items() if TOKEN in p}}
        if tokens:
            run["task_tokens"] = tokens
        decoding = {**self.run.get("decoding", {}), **self.decoding}
        for kind, values in {"run": run, "decoding": decoding}.items():
            sets[kind] = {**values, **sets.get(kind, {})}
        own = {
            name: {k: v for k, v in params.items() if k != TOKEN} for name, params in self.tasks.items()
        }  # a token is run.task_tokens
        sets["tasks"] = {name: params for name, params in own.items() if params}
        return sets


TOKEN = "task_token"  # per-task key of a suite's tasks: the published MATS task token


def load_suite(path: str | Path) -> Suite:
    """Read a suite file; a malformed one fails with the file and the key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise MatsError(
            f"suite file {path} does not exist (shipped suites: {', '.join(shipped_suites()) or 'none'})"
        ) from None
    except yaml.YAMLError as exc:
        raise MatsError(f"suite file {path} is not valid YAML: {exc}") from None
    try:
        suite = Suite.model_validate(raw)
    except ValidationError as exc:
        from mats_core.registry.hints import format_errors

        raise MatsError(f"{path}: {format_errors(exc, known=Suite.model_fields, noun='key')}") from None
    suite._source = path
    return suite


def check_suite(suite: Suite, registry: str | None = None) -> None:
    """Resolve every name and validate every param of the suite; builds nothing. Errors name
    the suite file and the key (``tasks.esc50.fold``, ``bridges[2]``, ``run.crop`` ...)."""
    from mats_core.config.validation import RunConfig
    from mats_core.registry.hints import format_errors
    from mats_core.registry.presets import resolve, resolved_params

    reg = suite.registry_path(registry)
    src = suite.source
    if reg and not Path(reg).is_file():
        raise MatsError(f"{src}: registry: {reg} does not exist")

    def check(key: str, call: Any, *args: Any, **params: Any) -> None:
        try:
            call(*args, **params)
        except MatsError as exc:
            raise MatsError(f"{src}: {key}: {exc}") from None

    check("encoder", resolve, "encoder", suite.encoder, reg)
    check("llm", resolve, "llm", suite.llm, reg)
    for i, bridge in enumerate(suite.bridges):
        check(f"bridges[{i}]", resolved_params, "bridge", bridge, reg)
    for i, lm in enumerate(suite.audio_lms):
        check(f"audio_lms[{i}]", resolved_params, "audio_lm", lm, reg)
    for name, params in suite.tasks.items():
        if TOKEN in params and not (isinstance(params[TOKEN], str) and params[TOKEN].strip()):
            raise MatsError(f"{src}: tasks.{name}.{TOKEN}: must be a non-empty string, got {params[TOKEN]!r}")
        check(f"tasks.{name}", resolved_params, "task", name, reg, **{k: v for k, v in params.items() if k != TOKEN})
    try:
        RunConfig(**{**suite.run, "decoding": {**suite.run.get("decoding", {}), **suite.decoding}})
    except ValidationError as exc:
        raise MatsError(f"{src}: run: {format_errors(exc, 'run.', RunConfig.model_fields, noun='setting')}") from None
    except MatsError as exc:  # the typed decoding settings
        raise MatsError(f"{src}: run: {exc}") from None


@dataclass
class SuiteOptions:
    """What ``mats-bench run --suite FILE`` takes from the suite (the other options stay)."""

    encoder: str
    llm: str
    bridge: str  # comma-separated, as --bridge
    tasks: str  # comma-separated, as --tasks
    registry: str | None
    overrides: dict[str, dict[str, Any]]  # as parse_sets() returns, the command line's --set on top
    reference: bool
    audio_lms: list[str]


def suite_options(
    path: str | Path, registry: str | None = None, sets: dict[str, dict[str, Any]] | None = None
) -> SuiteOptions:
    """Load and check a suite and turn it into ``mats-bench run`` options (``--set`` still wins)."""
    suite = load_suite(path)
    reg = suite.registry_path(registry)
    check_suite(suite, reg)
    return SuiteOptions(
        encoder=suite.encoder,
        llm=suite.llm,
        bridge=",".join(suite.bridges),
        tasks=",".join(suite.tasks),
        registry=reg,
        overrides=suite.overrides(sets),
        reference=suite.reference,
        audio_lms=list(suite.audio_lms),
    )


def shipped_suites() -> list[str]:
    """Suite files in the repository's ``benchmarks/suites`` (a source checkout only)."""
    folder = Path(__file__).resolve().parents[2] / "benchmarks" / "suites"
    return sorted(str(p) for p in folder.glob("*.yaml")) if folder.is_dir() else []

"""Presets (``registry.yaml``: short name -> plugin + params) and ``build(kind, name, **params)``.

Resolution order for ``build("bridge", "santa", lam=0.5)``: user registry files
(``--registry`` / ``MATS_REGISTRY``, later ones win) over the shipped ``registry.yaml``;
a name that is no preset may name a registered plugin directly. Params are validated
against the factory's signature with pydantic, so errors name the field and the bound.
"""

from __future__ import annotations

import difflib
import inspect
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from mats_core.errors import MatsError
from mats_core.hookspecs import KINDS
from mats_core.registry.plugins import get_host

SHIPPED_REGISTRY = Path(__file__).with_name("registry.yaml")


class Preset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plugin: str
    params: dict[str, Any] = Field(default_factory=dict)
    extra: str | None = None  # the pip extra that installs the plugin
    needs: list[str] = Field(default_factory=list)  # pip packages beyond the extra: "name" or "name (when)"
    description: str = ""


def _read_registry(path: Path) -> dict[str, dict[str, Preset]]:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise MatsError(f"registry file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise MatsError(f"registry file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise MatsError(
            f"registry file {path}: the top level must be a mapping of sections ({', '.join(KINDS)}, checkpoints), "
            f"got a {type(raw).__name__}"
        )
    out: dict[str, dict[str, Preset]] = {}
    for kind, presets in raw.items():
        if kind in ("checkpoints", "defaults"):
            continue  # read by checkpoint_sets() / cli_defaults()
        if kind not in KINDS:
            raise MatsError(f"{path}: unknown section '{kind}'; sections are {', '.join(KINDS)}")
        if presets is not None and not isinstance(presets, dict):
            raise MatsError(
                f"{path}: section '{kind}' must be a mapping of preset name -> {{plugin, params}}, "
                f"got a {type(presets).__name__}"
            )
        out[kind] = {}
        for name, body in (presets or {}).items():
            try:
                out[kind][name] = Preset.model_validate(body)
            except ValidationError as exc:
                raise MatsError(f"{path}: {kind} preset '{name}': {_format_errors(exc)}") from None
    return out


@lru_cache(maxsize=16)
def _cached_presets(paths: tuple[str, ...]) -> dict[str, dict[str, Preset]]:
    merged: dict[str, dict[str, Preset]] = {k: {} for k in KINDS}
    for p in paths:
        for kind, presets in _read_registry(Path(p)).items():
            merged[kind].update(presets)
    return merged


def registry_paths(registry: str | os.PathLike | None = None) -> tuple[str, ...]:
    paths = [str(SHIPPED_REGISTRY)]
    env = os.environ.get("MATS_REGISTRY")
    if env:
        paths += [p for p in env.split(os.pathsep) if p]
    if registry:
        paths.append(str(registry))
    return tuple(paths)


def checkpoint_sets(registry: str | os.PathLike | None = None) -> dict[str, str]:
    """``checkpoints:`` section: "<encoder>+<llm>" -> a directory (``pkg:module/sub/dir`` allowed)
    holding ``clean/``, ``noise/`` and ``audio/`` checkpoints (the shipped ones for a preset pair)."""
    out: dict[str, str] = {}
    for p in registry_paths(registry):
        _read_registry(Path(p))  # the file's shape, with an error naming it
        sets = (yaml.safe_load(Path(p).read_text()) or {}).get("checkpoints") or {}
        if not isinstance(sets, dict) or not all(isinstance(v, str) for v in sets.values()):
            raise MatsError(
                f"{p}: checkpoints must be a mapping of '<encoder>+<llm>' -> directory, "
                f"e.g. checkpoints: {{tiny+tiny: runs/set}}; got {sets!r}"
            )
        out.update(sets)
    return out


def cli_defaults(registry: str | os.PathLike | None = None) -> dict[str, str]:
    """``defaults:`` section: the command line's option defaults (encoder, llm, corpus,
    train_bridge, bridges, tasks); later registry files override single keys."""
    out: dict[str, str] = {}
    for p in registry_paths(registry):
        _read_registry(Path(p))  # the file's shape, with an error naming it
        found = (yaml.safe_load(Path(p).read_text()) or {}).get("defaults") or {}
        if not isinstance(found, dict):
            raise MatsError(
                f"{p}: defaults must be a mapping of option -> value (e.g. defaults: {{encoder: tiny}}); got {found!r}"
            )
        out.update({k: str(v) for k, v in found.items()})
    return out


def resolve_path(value: str) -> Path:
    """A filesystem path, or ``pkg:package/rel/path`` inside an installed package. The package is
    found without importing it or its parents (a checkpoint's config.json may name one: naming
    must never run its code), and the path must stay inside it."""
    if not value.startswith("pkg:"):
        return Path(value).expanduser()
    import re

    module, _, rel = value[4:].partition("/")
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", module):
        raise MatsError(f"'{value}': '{module}' is not a package name; write pkg:package/relative/path")
    folder = _package_folder(module, value)
    path = folder / rel
    if not path.resolve().is_relative_to(folder.resolve()):
        raise MatsError(f"'{value}': the path climbs outside package '{module}' ({folder})")
    return path


def _package_folder(module: str, value: str) -> Path:
    """An installed package's folder, from the import system's finders only (no module runs)."""
    import importlib.machinery
    import importlib.util

    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)  # a top-level name: the finders locate it, nothing is imported
    except (ImportError, ValueError):  # a loaded module without a spec
        spec = None
    for k, part in enumerate(rest, start=1):
        if spec is None or not spec.submodule_search_locations:
            break
        spec = importlib.machinery.PathFinder.find_spec(
            ".".join([top, *rest[:k]]), list(spec.submodule_search_locations)
        )
    if spec is None:
        raise MatsError(f"'{value}': package '{module}' is not installed")
    if not spec.submodule_search_locations:
        raise MatsError(f"'{value}': '{module}' is a module, not a package; pkg: names a file inside a package folder")
    return Path(list(spec.submodule_search_locations)[0])


def presets(kind: str, registry: str | os.PathLike | None = None) -> dict[str, Preset]:
    _check_kind(kind)
    return _cached_presets(registry_paths(registry))[kind]


def resolve(
    kind: str, name: str, /, registry: str | os.PathLike | None = None, **params: Any
) -> tuple[str, dict[str, Any]]:
    """(plugin name, merged params) for a preset or plugin name; fails fast on unknown names."""
    _check_kind(kind)
    host = get_host()
    table = presets(kind, registry)
    if name in table:
        preset = table[name]
        merged = {**preset.params, **params}
        if host.get(kind, preset.plugin) is None:
            raise MatsError(_missing_plugin(kind, name, preset))
        return preset.plugin, merged
    if host.get(kind, name) is not None:
        return name, dict(params)
    known = sorted(set(table) | set(host.names(kind)))
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise MatsError(f"unknown {kind} '{name}'{hint} Known {kind}s: {', '.join(known) or '(none)'}")


def build(kind: str, name: str, /, registry: str | os.PathLike | None = None, **params: Any) -> Any:
    """Build the object a preset or plugin name stands for (public API v1).

    ``kind`` and ``name`` are positional-only, so plugins may have params called that."""
    plugin, merged = resolve(kind, name, registry, **params)
    entry = get_host().get(kind, plugin)
    if entry.conflict:
        raise MatsError(entry.conflict)
    validated = validate_params(kind, name, entry.factory, merged)
    try:
        return entry.factory(**validated)
    except TypeError as exc:  # a factory taking **kwargs passed on a param nothing below takes
        declared = getattr(_params_model(entry.factory), "model_fields", {})
        if "unexpected keyword argument" not in str(exc) or not set(validated) - set(declared):
            raise
        raise MatsError(f"{kind} '{name}': {exc}; check the {kind}'s params") from None


def resolved_params(
    kind: str, name: str, /, registry: str | os.PathLike | None = None, **params: Any
) -> dict[str, Any]:
    """The full, validated params (defaults filled in) that ``build`` would pass: for configs."""
    plugin, merged = resolve(kind, name, registry, **params)
    entry = get_host().get(kind, plugin)
    return {"plugin": plugin, "params": validate_params(kind, name, entry.factory, merged, fill_defaults=True)}


def accepted_params(
    kind: str, name: str, params: dict[str, Any], registry: str | os.PathLike | None = None
) -> dict[str, Any]:
    """The subset of ``params`` that the plugin behind ``name`` accepts (for options shared by
    several plugins, e.g. ``data_root`` or ``device``)."""
    plugin, _ = resolve(kind, name, registry)
    model = _params_model(get_host().get(kind, plugin).factory)
    if model is None or model.model_config.get("extra") == "allow":
        return dict(params)
    return {k: v for k, v in params.items() if k in model.model_fields}


def validate_params(
    kind: str, name: str, factory: Any, params: dict[str, Any], fill_defaults: bool = False
) -> dict[str, Any]:
    model = _params_model(factory)
    if model is None:
        return dict(params)
    try:
        validated = model.model_validate(params)
    except ValidationError as exc:
        raise MatsError(f"{kind} '{name}': {_format_errors(exc, model.model_fields)}") from None
    if fill_defaults:
        return validated.model_dump()
    return {k: getattr(validated, k) for k in validated.model_fields_set if k in model.model_fields} | {
        k: v for k, v in params.items() if k not in model.model_fields
    }


@lru_cache(maxsize=256)
def _params_model(factory: Any) -> type[BaseModel] | None:
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    fields: dict[str, Any] = {}
    open_kwargs = False
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            open_kwargs = True
            continue
        if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY) or p.name == "self":
            continue
        ann = Any if p.annotation is p.empty else p.annotation
        default = ... if p.default is p.empty else p.default
        fields[p.name] = (ann, default)
    hints = _resolve_hints(factory)
    for key in fields:
        if key in hints:
            fields[key] = (hints[key], fields[key][1])
    cfg = ConfigDict(extra="allow" if open_kwargs else "forbid", arbitrary_types_allowed=True)
    return create_model(f"{getattr(factory, '__name__', 'factory')}Params", __config__=cfg, **fields)


def _resolve_hints(factory: Any) -> dict[str, Any]:
    import typing

    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:  # noqa: BLE001 - unresolvable forward refs: fall back to raw annotations
        return {}


def _format_errors(exc: ValidationError, known: Any = ()) -> str:
    from mats_core.registry.hints import format_errors

    return format_errors(exc, known=known)


def _missing_plugin(kind: str, name: str, preset: Preset) -> str:
    host = get_host()
    broken = [p for p in host.plugins.values() if p.status == "error"]
    msg = f"{kind} preset '{name}' needs plugin '{preset.plugin}', which is not installed"
    if preset.extra:
        msg += f": install it with  pip install 'mats-bench[{preset.extra}]'"
    if broken:
        msg += ". Plugins that failed to load: " + "; ".join(f"{p.name} ({p.error})" for p in broken)
    return msg


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise MatsError(f"unknown kind '{kind}'; kinds are {', '.join(KINDS)}")

"""Plugin discovery: every entry point of group ``mats`` is a pluggy plugin.

A plugin that fails to import, or whose hook raises, is recorded (name, package, error)
and skipped; the others keep working. ``MATS_PLUGINS=a,b`` loads only those entry points,
``MATS_DISABLE_PLUGINS=a,b`` skips those (as ``llm`` and ``pytest -p no:`` do).
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

import pluggy

from mats_core import hookspecs
from mats_core.hookspecs import HOOKS, KINDS, PROJECT

ENTRY_POINT_GROUP = "mats"
BUILTIN_DISTRIBUTION = "mats-bench"


@dataclass
class PluginInfo:
    name: str
    package: str
    version: str
    source: str  # builtin | third-party | local
    status: str = "ok"  # ok | error | disabled
    error: str | None = None
    provides: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Entry:
    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    package: str
    conflict: str | None = None  # set when a second package registered the same name
    conflict_plugin: str | None = None


class PluginHost:
    """Owns the pluggy manager and the (kind, name) -> factory table built from the hooks."""

    def __init__(self, autoload: bool = True):
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.entries: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        if autoload:
            self.load_entry_points()

    # -- discovery -------------------------------------------------------------------
    def load_entry_points(self) -> None:
        only = _env_list("MATS_PLUGINS")
        disabled = _env_list("MATS_DISABLE_PLUGINS")
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in self.plugins:
                continue
            dist = ep.dist
            package = dist.metadata["Name"] if dist else "?"
            info = PluginInfo(
                name=ep.name,
                package=package,
                version=dist.version if dist else "?",
                source="builtin" if package == BUILTIN_DISTRIBUTION else "third-party",
            )
            self.plugins[ep.name] = info
            if (only is not None and ep.name not in only) or ep.name in (disabled or ()):
                info.status = "disabled"
                continue
            try:
                module = ep.load()
            except BaseException as exc:  # noqa: BLE001 - a broken plugin must never break the others
                _fail(info, exc)
                continue
            self._add(module, info)

    def register_plugin(self, plugin: object, name: str, package: str = "local", version: str = "0") -> PluginInfo:
        """Register an in-process plugin (tests, notebooks); same rules as entry points."""
        info = PluginInfo(name=name, package=package, version=version, source="local")
        self.plugins[name] = info
        self._add(plugin, info)
        return info

    def unregister_plugin(self, name: str) -> None:
        self.plugins.pop(name, None)
        if self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)
        for table in self.entries.values():
            for key in [k for k, e in table.items() if e.plugin == name]:
                del table[key]
            for entry in table.values():
                if entry.conflict_plugin == name:
                    entry.conflict = entry.conflict_plugin = None

    def _add(self, plugin: object, info: PluginInfo) -> None:
        try:
            self.pm.register(plugin, name=info.name)
        except BaseException as exc:  # noqa: BLE001
            _fail(info, exc)
            return
        for kind, hook in HOOKS.items():
            for impl in getattr(self.pm.hook, hook).get_hookimpls():
                if impl.plugin_name != info.name:
                    continue
                try:
                    impl.function(register=self._registrar(kind, info))
                except BaseException as exc:  # noqa: BLE001
                    _fail(info, exc, where=hook)

    def _registrar(self, kind: str, info: PluginInfo) -> Callable[[str, Callable[..., Any]], None]:
        def register(name: str, factory: Callable[..., Any]) -> None:
            if not callable(factory):
                raise TypeError(f"{kind} '{name}': factory must be callable, got {type(factory).__name__}")
            table = self.entries[kind]
            if name in table and table[name].plugin != info.name:
                first = table[name]
                first.conflict_plugin = info.name
                first.conflict = (
                    f"{kind} '{name}' is registered by two packages: '{first.package}' (plugin '{first.plugin}') "
                    f"and '{info.package}' (plugin '{info.name}'). Disable one with MATS_DISABLE_PLUGINS="
                    f"{info.name} (or {first.plugin})."
                )
                return
            table[name] = Entry(kind, name, factory, info.name, info.package)
            info.provides.setdefault(kind, []).append(name)

        return register

    # -- queries ----------------------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def get(self, kind: str, name: str) -> Entry | None:
        return self.entries[kind].get(name)


def _env_list(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {v.strip() for v in value.split(",") if v.strip()}


def _fail(info: PluginInfo, exc: BaseException, where: str | None = None) -> None:
    info.status = "error"
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    loc = f" at {frame.filename}:{frame.lineno}" if frame else ""
    msg = f"{type(exc).__name__}: {exc}{loc}"
    info.error = f"{where}: {msg}" if where else msg


_HOST: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, loaded lazily on first use."""
    global _HOST
    if _HOST is None:
        _HOST = PluginHost()
    return _HOST


def reset_host() -> None:
    """Forget loaded plugins (tests; after installing a package at run time)."""
    global _HOST
    _HOST = None

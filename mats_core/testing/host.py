"""``plugin_host``: register a plugin object on the global host for a test (public as
``mats_core.testing.plugin_host``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def plugin_host(plugin: object, name: str = "test-plugin") -> Iterator[Any]:
    """Register ``plugin`` (a module or object with ``@hookimpl`` functions) on the global host
    for the ``with`` block and yield its ``PluginInfo``; fails if a hook raised while registering.
    On exit the plugin is unregistered and name conflicts it caused are undone."""
    from mats_core.registry.plugins import get_host

    host = get_host()
    if name in host.plugins:
        raise AssertionError(
            f"a plugin named {name!r} is already registered (package {host.plugins[name].package}); pick another name"
        )
    conflicts = {(kind, key): entry.conflict for kind, table in host.entries.items() for key, entry in table.items()}
    info = host.register_plugin(plugin, name)
    try:
        if info.status != "ok":
            raise AssertionError(f"plugin {name!r} failed to register: {info.error}")
        yield info
    finally:
        host.unregister_plugin(name)
        for (kind, key), conflict in conflicts.items():
            if key in host.entries[kind]:
                host.entries[kind][key].conflict = conflict

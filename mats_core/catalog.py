"""What is registered, as users type it: task names and presets with what they resolve to
(``mats-bench run --tasks list``, ``mats-bench plugins``)."""
from __future__ import annotations


def task_names(registry: str | None = None) -> list[str]:
    """The registered task names (presets and plugins)."""
    from mats_core.plugins import get_host
    from mats_core.registry import presets

    names = set(presets("task", registry))
    for p in get_host().plugins.values():
        names |= set(p.provides.get("task", []))
    return sorted(names)


def preset_rows(host) -> list[dict]:
    """Every registry preset (kind, name, the plugin factory and params it resolves to, its extra)."""
    from mats_core.registry import presets

    out = []
    for kind in ("encoder", "llm", "bridge", "corpus", "task", "audio_lm"):
        for name, p in presets(kind).items():
            entry = host.get(kind, p.plugin)
            out.append({"kind": kind, "name": name, "plugin": p.plugin, "params": p.params, "extra": p.extra,
                        "description": p.description, "provided_by": entry.plugin if entry else None})
    return out

"""What is registered, as users type it: task names and presets with what they resolve to
(``mats-bench run --tasks list``, ``mats-bench plugins``)."""

from __future__ import annotations


def task_names(registry: str | None = None) -> list[str]:
    """The registered task names (presets and plugins)."""
    from mats_core.registry.plugins import get_host
    from mats_core.registry.presets import presets

    names = set(presets("task", registry))
    for p in get_host().plugins.values():
        names |= set(p.provides.get("task", []))
    return sorted(names)


def preset_rows(host) -> list[dict]:
    """Every registry preset (kind, name, the plugin factory and params it resolves to, its extra)."""
    from mats_core.registry.presets import presets

    out = []
    for kind in ("encoder", "llm", "bridge", "corpus", "task", "audio_lm"):
        for name, p in presets(kind).items():
            entry = host.get(kind, p.plugin)
            row = {
                "kind": kind,
                "name": name,
                "plugin": p.plugin,
                "params": p.params,
                "extra": p.extra,
                "description": p.description,
                "provided_by": entry.plugin if entry else None,
            }
            out.append({**row, "needs": needs(row, p.needs)})
    return out


def needs(row: dict, packages: list[str]) -> list[dict]:
    """What a preset needs beyond the core install, and whether it is here (``installed``, and
    ``state`` in words): its plugin, its extra's packages, other pip packages the registry names
    (``needs``), the hub model it downloads."""
    out = []
    extra = f"pip install 'mats-bench[{row['extra']}]'" if row["extra"] else None
    if row["provided_by"] is None:
        out.append(_need(f"plugin {row['plugin']}", False, extra or "install the package that registers it"))
    if row["extra"]:
        missing = [d for d in extra_packages(row["extra"]) if not _installed(d)]
        out.append(_need(f"extra {row['extra']}", not missing, f"{', '.join(missing)} not installed: {extra}"))
    for item in packages:
        name, _, when = item.partition(" ")
        out.append(_need(name + (f" {when}" if when else ""), _installed(name), f"not installed: pip install {name}"))
    model = row["params"].get("model") if row["kind"] == "llm" else None
    if isinstance(model, str) and not model.startswith((".", "/", "~")):
        out.append(
            _need(
                f"hub model {model}", _cached(model), "not in the HF cache: downloaded on first use", "in the HF cache"
            )
        )
    elif row["kind"] == "llm" and "model" in row["params"] and model is None:
        out.append(_need("a model", False, "set one: --set llm.model=<hub id or directory>"))
    return out


def _need(what: str, installed: bool, missing: str, present: str = "installed") -> dict:
    return {"what": what, "installed": installed, "state": present if installed else missing}


def extra_packages(extra: str) -> list[str]:
    """The distributions mats-bench's ``extra`` installs (from the installed package's metadata)."""
    import importlib.metadata as md

    from packaging.requirements import Requirement

    try:
        reqs = [Requirement(r) for r in md.requires("mats-bench") or []]
    except md.PackageNotFoundError:
        return []
    return [
        r.name for r in reqs if r.marker is not None and r.marker.evaluate({"extra": extra}) and r.name != "mats-bench"
    ]


def _installed(dist: str) -> bool:
    import importlib.metadata as md

    try:
        md.version(dist)
    except md.PackageNotFoundError:
        return False
    return True


def _cached(model: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(model, "config.json"), str)


def needs_text(items: list[dict]) -> str:
    """The "needs" cell of `mats-bench plugins`: each need and whether it is here."""
    return "; ".join(f"{n['what']}: {n['state']}" for n in items) or "nothing beyond the core install"

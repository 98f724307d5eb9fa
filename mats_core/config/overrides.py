"""``--set kind.key=value``: the command line's overrides, parsed into ``{kind: {key: value}}`` (nested by dots).

The one override syntax of every command (run, train, sweep, regime, gap); values are YAML scalars or lists.
"""

from __future__ import annotations

from typing import Any

from mats_core.errors import MatsError


def parse_sets(items: list[str] | None) -> dict[str, dict[str, Any]]:
    """``llm.lora.r=4`` -> {"llm": {"lora": {"r": 4}}}; values are parsed as YAML scalars/lists."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise MatsError(f"--set {item!r}: expected kind.param=value, e.g. --set bridge.lam=0.5")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        place_set(out, parts, value, item)  # a key given both as a value and as a group of keys is refused
    return out


def place_set(out: dict, parts: list[str], value: object, item: str) -> None:
    """Put one ``--set a.b.c=value`` into ``out`` (nested by the dots). A later --set of the same key
    wins; a key that is a value in one --set and holds keys in another is refused, never half-dropped."""
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

"""`mats-bench plugins`: what is installed, what each plugin provides, and what each preset needs.

It registers on :data:`mats_core.cli.app.app`, which imports this module.
"""

from __future__ import annotations

import json

import typer

from mats_core.cli.app import _console, app


@app.command()
def plugins(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List installed plugins, what each provides, and any load errors."""
    from mats_core.registry.plugins import get_host

    host = get_host()
    rows = [
        {
            "name": p.name,
            "package": p.package,
            "version": p.version,
            "source": p.source,
            "status": p.status,
            "error": p.error,
            "provides": p.provides,
        }
        for p in host.plugins.values()
    ]
    from mats_core.registry.catalog import preset_rows

    presets = preset_rows(host)
    for r in rows:  # the presets a plugin's factories back (a preset is the name users type)
        r["presets"] = [p for p in presets if p["provided_by"] == r["name"]]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    from rich.table import Table

    table = Table(title="mats-bench plugins")
    for col in ("plugin", "package", "version", "source", "status", "provides"):
        table.add_column(col)
    for r in rows:
        provides = "; ".join(f"{k}: {', '.join(v)}" for k, v in r["provides"].items())
        status = r["status"] if r["status"] != "error" else f"[red]error[/]: {r['error']}"
        table.add_row(r["name"], r["package"], r["version"], r["source"], status, provides)
    _console().print(table)
    from mats_core.registry.catalog import needs_text

    corpora = sorted({c for r in rows for c in r["provides"].get("corpus", [])})
    ptable = Table(
        title="presets: the names --encoder / --llm / --bridge take, and what each resolves to "
        f"(--corpus takes a corpus plugin: {', '.join(corpora) or 'none installed'}; or a JSONL file)"
    )
    for col in ("kind", "preset", "resolves to", "needs"):
        ptable.add_column(col)
    for p in presets:
        params = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in p["params"].items())
        needs = needs_text(p["needs"])
        ptable.add_row(
            p["kind"],
            p["name"],
            f"{p['plugin']}({params})" + (f" - {p['description']}" if p["description"] else ""),
            needs,
        )
    _console().print(ptable)

"""mkdocs hook: render the ``mats-bench`` command tree into the CLI reference page.

The page holds the marker ``<!-- mats-bench-cli -->``; at build time it is replaced by the
help of every command, read from the typer app itself (plugin commands included), so the
reference cannot drift from the code. Uses only click's public introspection API
(``get_params``, ``get_help_record``, ``list_commands``). Any failure stops the build: a
silently empty reference would be worse than none.
"""

from __future__ import annotations

import os

MARKER = "<!-- mats-bench-cli -->"


def render_cli(prog: str = "mats-bench") -> str:
    """Markdown reference of every ``mats-bench`` command (one section each)."""
    import typer

    from mats_core.cli.main import app

    root = typer.main.get_command(app)
    ctx = root.make_context(prog, [], resilient_parsing=True)
    return "".join(_command(root, ctx, prog, level=2))


def _command(cmd, ctx, path: str, level: int):
    import inspect

    yield f"{'#' * level} `{path}`\n\n"
    if cmd.help:
        yield inspect.cleandoc(cmd.help) + "\n\n"
    yield f"```console\n$ {path} {' '.join(cmd.collect_usage_pieces(ctx))}\n```\n\n"
    rows = [(p.param_type_name, p.get_help_record(ctx)) for p in cmd.get_params(ctx)]
    rows = [(kind, rec) for kind, rec in rows if rec is not None]
    if rows:
        yield "| argument / option | description |\n|---|---|\n"
        for kind, (names, help_text) in rows:
            label = f"`{names}`" + (" (argument)" if kind == "argument" else "")
            yield f"| {_cell(label)} | {_cell(help_text or '')} |\n"
        yield "\n"
    sub = getattr(cmd, "list_commands", None)
    if sub is None:
        return
    names = sub(ctx)
    if names:
        yield "**Commands:** " + ", ".join(f"`{n}`" for n in names) + "\n\n"
    for name in names:
        child = cmd.get_command(ctx, name)
        if child is None or child.hidden:
            continue
        child_ctx = child.make_context(name, [], parent=ctx, resilient_parsing=True)
        yield from _command(child, child_ctx, f"{path} {name}", level + 1)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def on_page_markdown(markdown: str, page, config, files) -> str:  # mkdocs hook
    if MARKER not in markdown:
        return markdown
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return markdown.replace(MARKER, render_cli())

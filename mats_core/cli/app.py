"""The ``mats-bench`` Typer app and what every command module shares: ``--set`` parsing, the one-line error
exit and the console. Command modules (main, tools, regime, plugins) register on ``app``."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="mats-bench",
    help="Audio language models trained with text-only supervision (MATS): train, bridge, benchmark.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SET_HELP = "Override a param: kind.param=value (kinds: encoder, llm, bridge, corpus, task, mapper, train, run, decoding). Repeatable."
DEFAULTS_HELP = " Default: the registry's defaults.{key} (shipped: {shipped})."
OUTPUT_HELP = (
    "Run directory (lm-evaluation-harness's --output_path, and --out, work too). Default: runs/<key>/, <key> a hash of "
    "the options that change the results, so a changed command never collides and an identical one resumes; "
    "runs/latest links to the newest."
)


def _version(value: bool) -> None:
    if value:
        from mats_core import __version__

        typer.echo(f"mats-bench {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """mats-bench: run `mats-bench run` for the bridge comparison on the embedded world."""


def _fail(exc: Exception) -> None:
    from rich.console import Console
    from rich.markup import escape

    # one line, never wrapped at the terminal width: a path or key in it stays copyable
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
    raise typer.Exit(2)


def _console():
    from rich.console import Console

    return Console()

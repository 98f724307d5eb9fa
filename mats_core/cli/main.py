"""The ``mats-bench`` command line, assembled: every command module registers on the one app
(:mod:`mats_core.cli.app`), then plugins add theirs. Imports nothing heavy: ``--help`` is instant."""

from __future__ import annotations

import os
import sys

from mats_core.cli.app import app

# The commands' order in --help is the order they register: train, run, then the tools.
# isort: off
from mats_core.cli import train as _train  # noqa: E402,F401
from mats_core.cli import run as _run  # noqa: E402,F401  (the main job)
from mats_core.cli import plugins as _plugins  # noqa: E402,F401
from mats_core.cli import tools as _tools  # noqa: E402,F401  (score, report, sweep, gap)
from mats_core.cli import regime as _regime  # noqa: E402,F401
# isort: on


def _load_command_plugins() -> None:
    """Let plugins add sub-commands (e.g. ``mats-bench tiny build``); a failing one is skipped."""
    if os.environ.get("MATS_NO_PLUGIN_COMMANDS"):
        return
    from mats_core.registry.plugins import get_host

    host = get_host()
    for impl in host.pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=app)
        except Exception as exc:  # noqa: BLE001
            print(f"mats-bench: plugin '{impl.plugin_name}' failed to add commands: {exc}", file=sys.stderr)


_load_command_plugins()

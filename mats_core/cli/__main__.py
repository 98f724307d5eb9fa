"""``python -m mats_core.cli``: the same app as the ``mats-bench`` script."""

from mats_core.cli.main import app

app()

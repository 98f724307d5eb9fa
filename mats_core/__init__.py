"""mats-bench core: plugin API v1.2, presets, model, trainer and harness.

Public names for third-party plugins: ``hookimpl``, the six interfaces, ``Sample``,
``build(kind, name, **params)``, ``MatsError``, ``SampleStats``, and the ``__all__`` of each module in
``PUBLIC_MODULES`` (documented in docs/reference/api.md as stable). Every other module is the
implementation and may change. Heavy modules (torch, transformers) are never imported here.
"""

from mats_core.errors import MatsError
from mats_core.hookspecs import hookimpl
from mats_core.interfaces import (
    AlignmentEncoder,
    AudioLanguageModel,
    Corpus,
    GapBridge,
    LanguageModel,
    Metric,
    Sample,
    Task,
)
from mats_core.registry.presets import build

__version__ = "0.1.0"

# Modules whose ``__all__`` is the stable toolkit for plugins (tests/test_public_api.py holds plugins/ to it).
PUBLIC_MODULES = (
    "mats_core",
    "mats_core.capabilities",
    "mats_core.corpus",
    "mats_core.errors",
    "mats_core.hf",
    "mats_core.hookspecs",
    "mats_core.interfaces",
    "mats_core.io",
    "mats_core.regime",
    "mats_core.scoring",
    "mats_core.testing",
)

__all__ = [
    "AlignmentEncoder",
    "AudioLanguageModel",
    "Corpus",
    "GapBridge",
    "LanguageModel",
    "MatsError",
    "PUBLIC_MODULES",
    "Metric",
    "SampleStats",
    "Sample",
    "Task",
    "__version__",
    "build",
    "hookimpl",
]


def __getattr__(name: str):
    """``SampleStats`` (the optional ``sample_stats`` capability's return type) loads numpy: lazily."""
    if name == "SampleStats":
        from mats_core.stats.intervals import SampleStats

        return SampleStats
    raise AttributeError(f"module 'mats_core' has no attribute {name!r}")

"""mats-bench core: plugin API v1, presets, model, trainer and harness.

Public names for third-party plugins: ``hookimpl``, the six interfaces, ``Sample``,
``SampleStats`` and ``build(kind, name, **params)``. Heavy modules (torch, transformers) are never imported here.
"""
from mats_core.hookspecs import hookimpl
from mats_core.interfaces import AlignmentEncoder, Corpus, GapBridge, LanguageModel, Metric, Sample, Task
from mats_core.registry import MatsError, build

__version__ = "0.1.0"

__all__ = [
    "AlignmentEncoder",
    "Corpus",
    "GapBridge",
    "LanguageModel",
    "MatsError",
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
        from mats_core.stats import SampleStats

        return SampleStats
    raise AttributeError(f"module 'mats_core' has no attribute {name!r}")

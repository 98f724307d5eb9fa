"""Plugin API v1 (+ v1.2 ``register_audio_lms``) hook specifications (pluggy project ``mats``).

Every hook takes a single ``register(name, factory)`` callback, the pattern of simonw/llm:
a plugin calls it once per object it provides and returns nothing. ``factory(**params)``
builds the object from preset / CLI params; type-annotate its parameters (pydantic
``Field`` bounds are honoured) so bad params fail with a message naming the field.

Keep factories cheap to *register*: import torch and friends inside them, never at module
top level, so ``mats-bench --help`` stays instant.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

__all__ = ["HOOKS", "KINDS", "PROJECT", "Register", "hookimpl", "hookspec"]

PROJECT = "mats"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
"""The decorator that marks a plugin's hook functions: ``@hookimpl`` above ``def register_bridges(register)``
(or any other hook of :mod:`mats_core.hookspecs`); pluggy calls them when mats-bench loads the plugin."""

Register = Callable[[str, Callable[..., Any]], None]


@hookspec
def register_encoders(register: Register) -> None:
    """Register audio-text alignment encoders (:class:`mats_core.AlignmentEncoder`)."""


@hookspec
def register_bridges(register: Register) -> None:
    """Register gap bridges (:class:`mats_core.GapBridge`)."""


@hookspec
def register_llms(register: Register) -> None:
    """Register language models (:class:`mats_core.LanguageModel`)."""


@hookspec
def register_tasks(register: Register) -> None:
    """Register evaluation tasks (:class:`mats_core.Task`)."""


@hookspec
def register_metrics(register: Register) -> None:
    """Register metrics (:class:`mats_core.Metric`)."""


@hookspec
def register_corpora(register: Register) -> None:
    """Register training-text corpora (:class:`mats_core.Corpus`)."""


@hookspec
def register_audio_lms(register: Register) -> None:
    """Register audio-supervised audio LMs (:class:`mats_core.AudioLanguageModel`, API v1.2): a model that
    takes audio and a prompt and returns text, with no encoder, bridge or mapper of ours (Qwen2-Audio, SALMONN, LTU)."""


HOOKS = {
    "encoder": "register_encoders",
    "bridge": "register_bridges",
    "llm": "register_llms",
    "task": "register_tasks",
    "metric": "register_metrics",
    "corpus": "register_corpora",
    "audio_lm": "register_audio_lms",  # API v1.2
}
KINDS = tuple(HOOKS)


@hookspec
def register_commands(cli: Any) -> None:
    """Add sub-commands to the ``mats-bench`` typer app (e.g. ``cli.add_typer(app, name="tiny")``)."""

"""mats-example-bridge: a third-party mats-bench plugin (the docs' worked example).

Registers the gap bridge ``subspace`` and the task ``presence``. Only the hook functions and
the factories live here: torch is imported inside the factories, so loading this plugin
(which every ``mats-bench`` command does) costs nothing.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mats_core import hookimpl

Rank = Annotated[int, Field(ge=1, description="number of principal directions kept")]
Fraction = Annotated[float, Field(ge=0, le=1)]
Variance = Annotated[float, Field(ge=0, description="per-dimension Gaussian variance")]


def subspace_bridge(rank: Rank = 16, lam: Fraction = 0.5, noise_variance: Variance = 0.015):
    """Pull audio embeddings into the subspace spanned by the caption memory.

    ``rank``: principal directions of the memory kept; ``lam``: how far the audio moves
    towards its projection (0 = untouched audio, 1 = the projection alone);
    ``noise_variance``: the training-time Gaussian noise (as the ``noise`` bridge).
    """
    from mats_example_bridge.subspace import SubspaceBridge

    return SubspaceBridge(rank=rank, lam=lam, noise_variance=noise_variance)


def presence_task(
    base: str = "tiny-classify",
    question: Annotated[str, Field(pattern=r"\{label\}")] = "Do you hear {label}?",
    limit: Annotated[int, Field(ge=1)] | None = None,
    seed: Annotated[int, Field(ge=0)] = 0,
):
    """Yes/no sound-event detection built from any classification task ``base``: per clip,
    one question about its own label (answer yes) and one about another label (answer no)."""
    from mats_example_bridge.presence import PresenceTask

    return PresenceTask(base=base, question=question, limit=limit, seed=seed)


@hookimpl
def register_bridges(register):
    register("subspace", subspace_bridge)


@hookimpl
def register_tasks(register):
    register("presence", presence_task)

"""mats_bridges: the built-in gap bridges of mats-bench (none, noise, memory, santa).

Written as any third-party plugin would be: a module-level ``register_bridges`` hookimpl
and type-annotated factories, so ``mats_core.build`` validates params (bounds included) and
names the field on error. torch is imported only inside the factories, keeping the CLI fast.
"""
from typing import Annotated, Literal, Optional

from pydantic import Field

from mats_core import GapBridge, hookimpl

Variance = Annotated[float, Field(ge=0, allow_inf_nan=False, description="per-dimension Gaussian variance")]
Count = Annotated[int, Field(ge=1)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Search = Literal["exact", "kmeans", "faiss"]


def none_bridge() -> GapBridge:
    """No bridge: clean text at training, raw audio embeddings at test."""
    from mats_bridges.noise import NoneBridge

    return NoneBridge()


def noise_bridge(noise_variance: Variance = 0.015) -> GapBridge:
    """Gaussian noise on text embeddings at training; audio used as is at test."""
    from mats_bridges.noise import NoiseBridge

    return NoiseBridge(noise_variance=noise_variance)


def santa_bridge(
    k: Count = 32,
    lam: Fraction = 0.3,
    temperature: Positive = 10.0,
    noise_variance: Variance = 0.015,
    retrieval_noise_variance: Optional[Variance] = None,
    search: Search = "exact",
    clusters: Count = 100,
    kmeans_iters: Count = 10,
    normalize_audio: bool = True,
    seed: int = 0,
) -> GapBridge:
    """MATS Santa: mix the audio embedding with its k nearest noisy caption embeddings.

    retrieval_noise_variance None means noise_variance; temperature multiplies the
    similarities (as in the paper's code); normalize_audio false reproduces the published
    code, which mixes the raw (unnormalised) audio vector.
    """
    from mats_bridges.santa import SantaBridge

    return SantaBridge(k=k, lam=lam, temperature=temperature, noise_variance=noise_variance,
                       retrieval_noise_variance=retrieval_noise_variance, search=search, clusters=clusters,
                       kmeans_iters=kmeans_iters, normalize_audio=normalize_audio, seed=seed)


def memory_bridge(
    k: Count = 32,
    temperature: Positive = 10.0,
    noise_variance: Variance = 0.015,
    retrieval_noise_variance: Optional[Variance] = None,
    search: Search = "exact",
    clusters: Count = 100,
    kmeans_iters: Count = 10,
    normalize_audio: bool = True,
    seed: int = 0,
) -> GapBridge:
    """Memory-only: Santa with lam = 1 (the audio is replaced by the retrieved captions)."""
    from mats_bridges.santa import SantaBridge

    return SantaBridge(k=k, lam=1.0, temperature=temperature, noise_variance=noise_variance,
                       retrieval_noise_variance=retrieval_noise_variance, search=search, clusters=clusters,
                       kmeans_iters=kmeans_iters, normalize_audio=normalize_audio, seed=seed, name="memory")


@hookimpl
def register_bridges(register):
    register("none", none_bridge)
    register("noise", noise_bridge)
    register("santa", santa_bridge)
    register("memory", memory_bridge)

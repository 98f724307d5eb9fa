"""mats_bridges: the built-in gap bridges of mats-bench (none, noise, memory, santa, and the
field's shift, nearest, project; papers cited in ``mats_bridges.field``).

Written as any third-party plugin would be: a module-level ``register_bridges`` hookimpl
and type-annotated factories, so ``mats_core.build`` validates params (bounds included) and
names the field on error. torch is imported only inside the factories, keeping the CLI fast.
"""

import inspect
from typing import Annotated, Any, Callable, Literal, Optional

from pydantic import Field

from mats_core import GapBridge, hookimpl

Variance = Annotated[float, Field(ge=0, allow_inf_nan=False, description="per-dimension Gaussian variance")]
Count = Annotated[int, Field(ge=1)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Search = Literal["exact", "kmeans", "faiss"]
Pairing = Literal["clean", "noise"]


def none_bridge() -> GapBridge:
    """No bridge: clean text at training, raw audio embeddings at test."""
    from mats_bridges.noise import NoneBridge

    return NoneBridge()


def noise_bridge(noise_variance: Variance = 0.015, uniform_noise: bool = False) -> GapBridge:
    """Gaussian noise on text embeddings at training; audio used as is at test.

    uniform_noise: draw the offset uniformly from the ball of radius sqrt(noise_variance)
    (the published MATS code's option) instead of N(0, noise_variance I).
    """
    from mats_bridges.noise import NoiseBridge

    return NoiseBridge(noise_variance=noise_variance, uniform_noise=uniform_noise)


def shift_bridge(
    mode: Literal["shift", "center"] = "shift",
    noise_variance: Variance = 0.015,
    audio_stats: str = "eval",
    audio_stats_split: Optional[str] = None,
    audio_stats_limit: Optional[Count] = None,
) -> GapBridge:
    """Modality-mean removal: C3 (Zhang et al., ICLR 2024) / WSAC embedding shift (arXiv 2309.12242).

    mode shift (WSAC): test on normalize(a - mu_a + mu_t), train on noisy text (any noise
    checkpoint); mode center (C3): train on normalize(t - mu_t + noise), test on
    normalize(a - mu_a) (train a checkpoint with this bridge). mu_t: the memory bank (text
    only). mu_a: UNPAIRED audio, audio_stats "eval" (each task's evaluation audio, a
    pre-pass) or a task name (its audio, split audio_stats_split, first audio_stats_limit clips).
    """
    from mats_bridges.field import ShiftBridge

    return ShiftBridge(
        mode=mode,
        noise_variance=noise_variance,
        audio_stats=audio_stats,
        audio_stats_split=audio_stats_split,
        audio_stats_limit=audio_stats_limit,
    )


def nearest_bridge(noise_variance: Variance = 0.0, pairs_with: Pairing = "clean") -> GapBridge:
    """WSAC nearest-neighbour decoding: the audio is replaced by its top-1 memory caption.

    Training noise is off by default (the mapper then sees clean captions at both ends), so it
    pairs with the clean checkpoint of a set.
    """
    from mats_bridges.field import NearestBridge

    return NearestBridge(noise_variance=noise_variance, pairs_with=pairs_with)


def project_bridge(
    temperature: Positive = 0.01, noise_variance: Variance = 0.0, pairs_with: Pairing = "clean"
) -> GapBridge:
    """DeCap projection (Li et al., ICLR 2023): normalize(sum_i softmax(<a, m_i> / temperature) m_i)
    over the whole bank; temperature DIVIDES (DeCap's 0.01), no top-k, no k-means, no noise."""
    from mats_bridges.field import ProjectBridge

    return ProjectBridge(temperature=temperature, noise_variance=noise_variance, pairs_with=pairs_with)


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
    pairs_with: Pairing = "noise",
) -> GapBridge:
    """MATS Santa: mix the audio embedding with its k nearest noisy caption embeddings.

    retrieval_noise_variance None means noise_variance; temperature multiplies the
    similarities (as in the paper's code); normalize_audio false reproduces the published
    code, which mixes the raw (unnormalised) audio vector: the bridge then declares
    ``raw_input`` and the core hands it the encoder's raw output. search 'exact' (the preset
    ``santa``) ranks the whole bank; 'kmeans' (``santa-kmeans``) is the published search.
    pairs_with: the checkpoint of a set this bridge is evaluated with (clean = the "no
    training noise" ablation, santa-clean).
    """
    return _santa(
        "santa",
        k=k,
        lam=lam,
        temperature=temperature,
        noise_variance=noise_variance,
        retrieval_noise_variance=retrieval_noise_variance,
        search=search,
        clusters=clusters,
        kmeans_iters=kmeans_iters,
        normalize_audio=normalize_audio,
        seed=seed,
        pairs_with=pairs_with,
    )


def _santa(name: str, **params: Any) -> GapBridge:
    from mats_bridges.santa import SantaBridge

    return SantaBridge(**params, name=name)


def _santa_variant(name: str, doc: str, **pinned: Any) -> Callable[..., GapBridge]:
    """A factory for Santa with some params pinned. Its signature (so the params that
    ``mats_core.build`` validates, bounds included) is ``santa_bridge``'s minus the pinned
    ones: the variant cannot drift from santa when a param is added there."""
    sig = inspect.signature(santa_bridge)
    params = [p for p in sig.parameters.values() if p.name not in pinned]

    def factory(**params: Any) -> GapBridge:
        return _santa(name, **params, **pinned)

    factory.__signature__ = sig.replace(parameters=params)
    factory.__annotations__ = {p.name: p.annotation for p in params} | {"return": sig.return_annotation}
    factory.__name__ = factory.__qualname__ = f"{name}_bridge"
    factory.__doc__ = doc
    return factory


memory_bridge = _santa_variant(
    "memory", "Memory-only: Santa with lam = 1 (the audio is replaced by the retrieved captions).", lam=1.0
)


@hookimpl
def register_bridges(register):
    register("none", none_bridge)
    register("noise", noise_bridge)
    register("santa", santa_bridge)
    register("memory", memory_bridge)
    register("shift", shift_bridge)
    register("nearest", nearest_bridge)
    register("project", project_bridge)

"""The optional audio-statistics capability of a bridge: ``fit_audio(unpaired)``.

Most bridges see only text before inference (the memory bank). A few (``shift``: C3, WSAC)
also need statistics of UNPAIRED audio, e.g. the audio mean. Such a bridge defines
``fit_audio(unpaired: Tensor[N, dim])`` and an ``audio_source`` attribute: ``"eval"`` (the
harness embeds each task's evaluation audio in a pre-pass, transductively, before that task's
inference) or a task name (its audio, once per run; ``audio_split`` / ``audio_limit``
optional). Bridges without ``fit_audio`` are never called (the default).

Every results.json says which kind of statistics its bridge used (``bridge_statistics``:
``text-only`` or ``unpaired-audio``, with the source and the clip counts), so a table never
mixes the two silently.
"""

from __future__ import annotations

from typing import Any, Sequence

from mats_core.capabilities import capability, llm_device

TEXT_ONLY = "text-only"
UNPAIRED_AUDIO = "unpaired-audio"


def uses_audio(bridge: Any) -> bool:
    return callable(capability(bridge, "fit_audio"))


def source(bridge: Any) -> str | None:
    """``eval``, a task name, or None for a text-only bridge."""
    return str(capability(bridge, "audio_source", "eval")) if uses_audio(bridge) else None


def fit_audio(pipe: Any, bridge: Any, samples: Sequence[Any], cfg: Any) -> int:
    """Embed ``samples``' audio (as generation will, a bridge block at a time) and hand the
    embeddings of the clips that load to ``bridge.fit_audio``; returns how many."""
    import torch

    from mats_core.errors import MatsError

    chunks = []
    for b0 in range(0, len(samples), cfg.bridge_block):
        z, _, _ = pipe.embed_audio(samples[b0 : b0 + cfg.bridge_block], cfg)
        if z is not None:
            chunks.append(z)
    if not chunks:
        raise MatsError(
            f"bridge '{getattr(bridge, 'name', '?')}': none of the {len(samples)} clips for its audio "
            "statistics could be loaded"
        )
    z = torch.cat(chunks)
    fit = capability(bridge, "fit_audio")
    with torch.no_grad():
        fit(z.to(llm_device(pipe.llm)) if pipe.llm is not None else z)
    return int(z.shape[0])


class AudioStatistics:
    """What one run fits: once from a named task, or per task from its evaluation audio."""

    def __init__(self, pipe: Any, bridge: Any, cfg: Any, registry: str | None = None):
        self.pipe, self.bridge, self.cfg, self.registry = pipe, bridge, cfg, registry
        self.source = source(bridge)
        self.clips: dict[str, int] = {}

    def before_run(self) -> None:
        """A named unpaired set: fit once, before any task."""
        if self.source in (None, "eval"):
            return
        from mats_core.registry.presets import accepted_params, build

        split = capability(self.bridge, "audio_split")
        params = accepted_params("task", self.source, {"split": split} if split else {}, self.registry)
        samples = list(build("task", self.source, self.registry, **params).samples())
        limit = capability(self.bridge, "audio_limit")
        self.clips[self.source] = fit_audio(self.pipe, self.bridge, samples[:limit] if limit else samples, self.cfg)

    def before_task(self, name: str, samples: Sequence[Any]) -> None:
        """The evaluation audio itself: fit on this task's clips before its inference."""
        if self.source == "eval":
            self.clips[name] = fit_audio(self.pipe, self.bridge, samples, self.cfg)

    def record(self) -> dict[str, Any]:
        """The results.json entry ``bridge_statistics``."""
        if self.source is None:
            return {"kind": TEXT_ONLY, "source": "memory bank"}
        return {"kind": UNPAIRED_AUDIO, "source": self.source, "clips": dict(self.clips)}

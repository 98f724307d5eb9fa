"""Checkpoint sets: finding one (shipped for an encoder + LLM, or ``--checkpoint DIR``), which of
its checkpoints a bridge runs with, and where each set's rows are written.

A set is a directory with ``clean/``, ``noise/`` and (optionally) ``audio/`` checkpoints; a single
checkpoint directory stands for both clean and noise. As in the paper, a bridge that declares
``pairs_with = "clean"`` (the built-in ``none``) uses the clean-trained checkpoint, every other
bridge the noise-trained one. A set that lacks the half a bridge pairs with is an error, never a
silent stand-in: a clean bridge run on the noise checkpoint is another experiment.
"""

from __future__ import annotations

from pathlib import Path

from mats_core.errors import MatsError
from mats_core.registry.presets import checkpoint_sets, resolve_path


def find_checkpoints(checkpoint: Path | None, encoder: str, llm: str, registry: str | None) -> dict[str, Path]:
    """``clean``/``noise`` (and ``audio`` when there) -> checkpoint of the set at ``checkpoint``, or of
    the set shipped for ``encoder`` + ``llm`` when it is None."""
    if checkpoint is None:
        sets = checkpoint_sets(registry)
        key = f"{encoder}+{llm}"
        if key not in sets:
            raise MatsError(
                f"no shipped checkpoints for encoder '{encoder}' + llm '{llm}' (known: {', '.join(sets) or 'none'}); "
                "train one with `mats-bench train` and pass --checkpoint DIR"
            )
        checkpoint = resolve_path(sets[key])
    checkpoint = Path(checkpoint)
    if (checkpoint / "config.json").exists():
        return {"clean": checkpoint, "noise": checkpoint}
    found = {k: checkpoint / k for k in ("clean", "noise", "audio") if (checkpoint / k / "config.json").exists()}
    if "noise" not in found and "clean" not in found:
        raise MatsError(
            f"{checkpoint}: neither a checkpoint (config.json) nor a set with clean/ and noise/ checkpoints"
        )
    return found


def any_checkpoint(ckpts: dict[str, Path]) -> Path:
    """A checkpoint of the set to load what its halves share (encoder, LLM, config): noise when there."""
    return ckpts.get("noise") or ckpts["clean"]


def paired_checkpoint(ckpts: dict[str, Path], bridge: str, params: dict, registry: str | None) -> Path:
    """The checkpoint of a clean/noise set that ``bridge`` runs with: its optional ``pairs_with``
    attribute (``"clean"`` or ``"noise"``, default ``"noise"``)."""
    from mats_core.capabilities import capability
    from mats_core.registry.presets import accepted_params, build

    pairs = capability(
        build("bridge", bridge, registry, **accepted_params("bridge", bridge, params, registry)), "pairs_with", "noise"
    )
    if pairs not in ("clean", "noise"):
        raise MatsError(f"bridge '{bridge}': pairs_with must be 'clean' or 'noise', got {pairs!r}")
    return half(ckpts, pairs, f"bridge '{bridge}'")


def half(ckpts: dict[str, Path], name: str, who: str) -> Path:
    """The set's ``name`` checkpoint, or an error saying which half is missing and how to add it."""
    if name not in ckpts:
        where = next(iter(ckpts.values())).parent
        held = ", ".join(f"{k}/" for k in sorted(ckpts))
        raise MatsError(
            f"{who} runs on the {name}-trained checkpoint, but the set {where} has only {held}: "
            f"train it into {where / name} (`mats-bench train ... --output {where / name}`), "
            "or leave this bridge out"
        )
    return ckpts[name]


def set_output(output: Path, index: int, count: int) -> Path:
    """Where set ``index`` of ``count`` writes its rows: ``output`` itself when it is the only one,
    else ``output/ckpt<index>`` (comparison.json in ``output`` then aggregates them)."""
    return output if count == 1 else output / f"ckpt{index}"


def short_name(path: Path) -> str:
    """A checkpoint as a user recognises it: its set and name (``mats/noise``), not a site-packages path."""
    path = Path(path)
    return f"{path.parent.name}/{path.name}"

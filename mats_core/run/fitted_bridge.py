"""The bridge of one run, built and fitted on the memory bank of caption embeddings before any audio is seen.

A bridge belongs to one run directory (one name and params), unlike the encoder and LLM that
``mats_core.run.pipeline.Pipeline`` shares across runs. Unless the run's params say otherwise it
takes the checkpoint's training noise (retrieval noise = the noise the mapper was trained on),
and it is fitted on the bank drawn from the checkpoint's corpus (rank 0 embeds it first, the
other processes read the cache). ``FittedBridge.params`` are the params it was built with: what
the run's recorded config names (``mats_core.run.run_record``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from mats_core.capabilities import capability, llm_device
from mats_core.config.validation import RunConfig
from mats_core.registry.presets import accepted_params, build
from mats_core.run.distributed import Shards
from mats_core.run.pipeline import Pipeline


@dataclass(kw_only=True)
class FittedBridge:
    """A run's bridge (by name), the params it was built with, the bank it was fitted on and how long that took."""

    name: str
    bridge: Any
    params: dict
    bank: Any  # the memory bank (a tensor), or None for a bridge that does not use one
    seconds: float  # embedding the bank and fitting the bridge


def fit_bridge(
    pipe: Pipeline, name: str, params: dict | None, *, checkpoint_config: dict, cfg: RunConfig, shards: Shards
) -> FittedBridge:
    """Bridge ``name`` built with ``params`` (the checkpoint's training noise unless given) and fitted on the memory bank."""
    params = dict(params or {})
    train_var = checkpoint_config.get("bridge", {}).get("params", {}).get("noise_variance")
    if train_var is not None:  # retrieval noise = the training noise, for bridges that take one
        params = {**accepted_params("bridge", name, {"noise_variance": train_var}, pipe.registry), **params}
    bridge = build("bridge", name, pipe.registry, **params)
    t0 = time.perf_counter()
    bank = None
    if capability(bridge, "uses_memory", True):  # optional bridge attribute: False skips embedding the bank
        with shards.main_first():  # rank 0 fills the embeddings cache, the others read it
            bank = pipe.memory_bank(checkpoint_config["corpus"], cfg.memory_size, cfg.seed)
        bridge.fit(bank.to(llm_device(pipe.llm)))
    return FittedBridge(name=name, bridge=bridge, params=params, bank=bank, seconds=time.perf_counter() - t0)

"""How the harness calls ``generate``: the batch size (fixed, or ``auto`` with out-of-memory
back-off) and the KV cache (static on CUDA where the model supports it)."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Callable, ContextManager

import torch

from mats_core.capabilities import capability, llm_device
from mats_core.config.validation import DECODING_PRESETS  # defined without torch: checked before it loads
from mats_core.errors import MatsError

AUTO_BATCH_START = 64  # first try of --batch-size auto (within a bridge block); halved on out-of-memory


def resolve_decoding(decoding: dict[str, Any]) -> dict[str, Any]:
    """The generate kwargs of a run's ``decoding`` settings, with a named ``preset`` expanded."""
    settings = dict(decoding)
    name = settings.pop("preset", None)
    if name is None:
        return settings
    if name not in DECODING_PRESETS:
        raise MatsError(f"decoding.preset: unknown preset {name!r}; known: {', '.join(DECODING_PRESETS)}")
    return {**DECODING_PRESETS[name], **settings}


class BatchSizer:
    """The generation batch size: fixed, or "auto": start at AUTO_BATCH_START and halve on
    out-of-memory, redoing the failed batch. The size found is kept on the pipeline (same model,
    same device) for later runs. ``used``: the largest batch that generated."""

    def __init__(self, setting: int | str, pipe: Any):
        self.auto = setting == "auto"
        self.pipe = pipe
        self.size = (pipe.auto_batch_size or AUTO_BATCH_START) if self.auto else int(setting)
        self.used = 0

    def run(self, fn: Callable[[list], list], items: list) -> list:
        out, i = [], 0
        while i < len(items):
            part = items[i : i + self.size]
            try:
                got = fn(part)
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled; the rest re-raises
                self._back_off(exc)
                got = None
            if got is None:  # outside the except block: the failed batch's tensors are free now
                from accelerate.utils.memory import clear_device_cache

                clear_device_cache(garbage_collection=True)
                continue
            out.extend(got)
            self.used = max(self.used, len(part))
            i += len(part)
        return out

    def _back_off(self, exc: Exception) -> None:
        if not is_out_of_memory(exc):
            raise exc
        if not self.auto:  # a fixed size: say what to change (the rows written so far stay; a rerun resumes)
            raise MatsError(
                f"out of memory generating a batch of {self.size} on {llm_device(self.pipe.llm)} (--batch-size "
                f"{self.size}): pass --batch-size auto (halves on out-of-memory) or a smaller --batch-size; the rows "
                "already in samples.jsonl are kept and the rerun resumes after them"
            ) from exc
        if self.size == 1:
            raise MatsError(
                f"out of memory generating even one sample at a time on {llm_device(self.pipe.llm)}: use a smaller llm dtype "
                "(--set llm.dtype=float16), fewer new tokens (--set decoding.max_new_tokens=N) or a larger device"
            ) from exc
        self.size = self.pipe.auto_batch_size = self.size // 2


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a device running out of memory (CUDA, MPS, XPU or a CPU allocator), per accelerate."""
    from accelerate.utils.memory import should_reduce_batch_size

    return isinstance(exc, torch.OutOfMemoryError) or (isinstance(exc, Exception) and should_reduce_batch_size(exc))


def generation_settings(llm: Any, decoding: dict[str, Any]) -> dict[str, Any]:
    """The decoding kwargs for ``generate``: the run's ``decoding`` plus, on CUDA, a static KV cache
    (fixed shapes: no reallocation per token, and transformers can compile the decode step) when
    the model supports it. Never on CPU; the user's settings (run decoding, preset generation) win."""
    settings = dict(decoding)
    user = {**capability(llm, "generation", {}), **settings}
    if "cache_implementation" in user or user.get("use_cache") is False:
        return settings
    device = capability(llm, "device")
    if device is None or torch.device(device).type != "cuda":
        return settings
    if supports_static_cache(capability(llm, "model")):
        settings["cache_implementation"] = "static"
    return settings


def supports_static_cache(model: Any) -> bool:
    """Whether a transformers model can decode with ``cache_implementation="static"`` (4.57 and 5.x:
    ``_can_compile_fullgraph``; older: ``_supports_static_cache``). A peft model is unwrapped."""
    if model is None:
        return False
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    if config is None or getattr(config, "is_encoder_decoder", False):
        return False
    if not (getattr(base, "_can_compile_fullgraph", False) or getattr(base, "_supports_static_cache", False)):
        return False
    if len(set(getattr(base, "hf_device_map", {"": 0}).values())) > 1:
        return False  # dispatched across devices (device_map): keep the default cache
    if getattr(getattr(base, "generation_config", None), "cache_implementation", None):
        return False  # the model's own generation config picks its cache (e.g. sliding-window models)
    default_cache = getattr(base, "_supports_default_dynamic_cache", None)  # False: a model with its own cache type
    return bool(default_cache()) if callable(default_cache) else True


def merged_weights(llm: Any) -> ContextManager:
    """The LLM's optional ``merged()`` capability (decode with its adapters merged into the weights,
    restored on exit), else a no-op context."""
    merged = capability(llm, "merged")
    return merged() if callable(merged) else nullcontext()

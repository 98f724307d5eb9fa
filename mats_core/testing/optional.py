"""Checks of the optional members (API v1.1, :mod:`mats_core.capabilities`) for ``mats_core.testing``.

Each ``check_*`` of :mod:`mats_core.testing` calls :func:`check_optional`: a member that is
present must have the documented type and behave; an absent one is fine (the core uses its
default). Kept apart so the conformance module stays small.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from mats_core.capabilities import capability


def _require(ok: Any, message: str) -> None:
    if not ok:
        raise AssertionError(message)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _encoder(obj: Any) -> None:
    clip = capability(obj, "clip_seconds")
    _require(
        clip is None or (isinstance(clip, (int, float)) and not isinstance(clip, bool) and clip > 0),
        f"encoder.clip_seconds must be a positive number of seconds, got {clip!r}",
    )
    fp = capability(obj, "fingerprint")
    _require(fp is None or isinstance(fp, str), f"encoder.fingerprint must be a string, got {type(fp).__name__}")


def _bridge(obj: Any) -> None:
    import json

    pairs = capability(obj, "pairs_with", "noise")
    _require(pairs in ("clean", "noise"), f"bridge.pairs_with must be 'clean' or 'noise', got {pairs!r}")
    _require(isinstance(capability(obj, "uses_memory", True), bool), "bridge.uses_memory must be a bool")
    config = capability(obj, "config")
    if config is not None:
        _require(callable(config), "bridge.config must be a method returning a dict")
        value = config()
        _require(isinstance(value, dict), f"bridge.config() must return a dict, got {type(value).__name__}")
        json.dumps(value, default=str)


def _llm(obj: Any) -> None:
    import torch

    from mats_core.capabilities import llm_device, set_train_mode

    llm_device(obj)  # a valid torch device (the declared one, or where its parameters live)
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = capability(obj, name)
        _require(
            value is None or (_is_int(value) and value >= 0), f"llm.{name} must be a non-negative int, got {value!r}"
        )
    _require(isinstance(capability(obj, "add_bos", False), bool), "llm.add_bos must be a bool")
    max_length = capability(obj, "max_length")
    _require(
        max_length is None or (_is_int(max_length) and max_length > 0),
        f"llm.max_length must be a positive int, got {max_length!r}",
    )
    _require(
        isinstance(capability(obj, "generation", {}), Mapping), "llm.generation must be a dict of decoding settings"
    )
    model = capability(obj, "model")
    _require(model is None or isinstance(model, torch.nn.Module), "llm.model must be a torch.nn.Module")
    set_train_mode(obj, True)  # the train(mode) capability, or the modules' own
    set_train_mode(obj, False)
    save, load = capability(obj, "adapter_state_dict"), capability(obj, "load_adapter_state_dict")
    _require((save is None) == (load is None), "llm.adapter_state_dict and llm.load_adapter_state_dict come together")
    if save is not None:
        state = save()
        _require(
            isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values()),
            "llm.adapter_state_dict() must return {name: tensor}",
        )
        load(state)


def _declarations(what: str, obj: Any) -> None:
    headline = capability(obj, "headline")
    _require(
        headline is None or (isinstance(headline, (list, tuple)) and all(isinstance(k, str) for k in headline)),
        f"{what}.headline must be a list of score keys, got {headline!r}",
    )
    better = capability(obj, "higher_is_better", {})
    _require(
        isinstance(better, Mapping) and all(isinstance(v, bool) for v in better.values()),
        f"{what}.higher_is_better must map score keys to True / False, got {better!r}",
    )


def _task(obj: Any) -> None:
    _declarations("task", obj)
    _require(
        isinstance(capability(obj, "label_prompt", "{label}"), str)
        and "{label}" in capability(obj, "label_prompt", "{label}"),
        "task.label_prompt must be a string containing '{label}'",
    )


CHECKS: dict[str, Callable[[Any], None]] = {
    "encoder": _encoder,
    "bridge": _bridge,
    "llm": _llm,
    "task": _task,
    "metric": lambda m: _declarations("metric", m),
}


def check_optional(kind: str, obj: Any) -> None:
    """The optional members ``obj`` has, checked; absent ones are skipped."""
    CHECKS[kind](obj)


def check_declared_keys(what: str, obj: Any, scores: Mapping[str, Any]) -> None:
    """Declared headline / higher_is_better keys must be keys the object actually reports."""
    declared = set(capability(obj, "headline") or []) | set(capability(obj, "higher_is_better", {}))
    unknown = sorted(declared - set(scores))
    _require(
        not unknown,
        f"{what} declares {unknown} (headline / higher_is_better) but its scores have no such keys: {sorted(scores)}",
    )


def check_direction(what: str, obj: Any, perfect: Mapping[str, Any], wrong: Mapping[str, Any]) -> None:
    """Perfect predictions must score at least as well as wrong ones on every key declared
    ``higher_is_better`` (True: higher, False: lower), and strictly better on one of them."""
    better = capability(obj, "higher_is_better", {})
    keys = [k for k in better if perfect.get(k) is not None and wrong.get(k) is not None]
    for k in keys:
        p, w = float(perfect[k]), float(wrong[k])
        _require(
            p >= w if better[k] else p <= w,
            f"{what}[{k!r}] = {p} on perfect predictions but {w} on wrong ones, "
            f"though it is declared {'higher' if better[k] else 'lower'}-is-better",
        )
    if keys:
        _require(
            any(float(perfect[k]) != float(wrong[k]) for k in keys),
            f"{what}: no declared score ({keys}) tells perfect predictions from wrong ones",
        )

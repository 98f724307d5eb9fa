"""Assertion helpers shared by the conformance checks of :mod:`mats_core.testing` (package-private).

Each turns a broken contract into an ``AssertionError`` that names the member and what to do,
so the ``check_*`` functions read as a list of requirements.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _require(ok: Any, message: str) -> None:
    if not ok:
        raise AssertionError(message)


def _call(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a plugin method; a crash becomes a conformance failure naming the call."""
    try:
        return fn(*args, **kwargs)
    except AssertionError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise AssertionError(f"{what} raised {type(exc).__name__}: {exc}") from exc


def _conforms(obj: Any, protocol: type) -> None:
    """isinstance against a runtime protocol, naming the missing members when it fails."""
    if isinstance(obj, protocol):
        return
    members = set(getattr(protocol, "__annotations__", {}))
    members |= {k for k, v in vars(protocol).items() if callable(v) and not k.startswith("_")}
    missing = sorted(m for m in members if not hasattr(obj, m))
    raise AssertionError(f"{type(obj).__name__} does not implement {protocol.__name__}: missing {', '.join(missing)}")


def _positive_int(what: str, value: Any) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    _require(ok, f"{what} must be a positive int, got {value!r}")
    return value


def _nonempty_str(what: str, value: Any) -> str:
    _require(isinstance(value, str) and value.strip(), f"{what} must be a non-empty string, got {value!r}")
    return value


def _tensor(what: str, value: Any, shape: tuple[int, ...]) -> Any:
    import torch

    _require(isinstance(value, torch.Tensor), f"{what} must return a torch.Tensor, got {type(value).__name__}")
    _require(tuple(value.shape) == shape, f"{what} returned shape {list(value.shape)}, expected {list(shape)}")
    _require(value.is_floating_point(), f"{what} returned dtype {value.dtype}, expected a floating dtype")
    _require(bool(torch.isfinite(value).all()), f"{what} returned non-finite values (NaN or inf)")
    return value

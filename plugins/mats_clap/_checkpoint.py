"""Checkpoint files for the CLAP encoders: found, read without running pickled code, fitted.

Both packages ``torch.load`` their weights with full unpickling, which executes whatever
code the file carries. We read checkpoints ourselves with ``weights_only=True`` (tensors,
dicts, numbers and strings only) or from safetensors, and unpickle fully only when the user
says they trust the file. Then we ``load_state_dict`` into the package's model ourselves.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

from mats_core import MatsError

log = logging.getLogger(__name__)

_CONVERT = (
    'python -c "import torch; from safetensors.torch import save_file; '
    "c = torch.load('{path}', map_location='cpu', weights_only=False); "
    "sd = c.get('state_dict', c.get('model', c)); "
    "save_file({{k: v.contiguous().clone() for k, v in sd.items() if isinstance(v, torch.Tensor)}}, 'clap.safetensors')\""
)


def read_checkpoint(path: str | Path, *, plugin: str, param: str, trust: bool) -> Any:
    """The object stored in ``path`` (.safetensors, or a torch file of plain tensors;
    any torch pickle when ``trust``)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise MatsError(f"encoder '{plugin}': {param}={str(path)!r} is not a file")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(p)
        except Exception as exc:  # noqa: BLE001
            raise MatsError(
                f"encoder '{plugin}': {param}={str(p)!r} is not a readable safetensors file ({exc})"
            ) from exc
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not trust:
            raise MatsError(
                f"encoder '{plugin}': refusing to unpickle {param}={str(p)!r}: it holds more than plain tensors "
                f"({_reason(exc)}). Loading it fully runs Python's pickle, which can execute arbitrary code stored "
                "in the file. Pass --set encoder.trust_checkpoint=true if you trust this file, or convert it once, where you "
                f"trust it, to safetensors and pass the new file instead:\n  {_CONVERT.format(path=p)}"
            ) from None
        log.warning("unpickling %s fully because trust_checkpoint is set", p)
    except Exception as exc:  # noqa: BLE001 - truncated zip, wrong format, ...
        raise MatsError(f"encoder '{plugin}': {param}={str(p)!r} is not a readable PyTorch checkpoint ({exc})") from exc
    try:
        return torch.load(p, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001
        raise MatsError(f"encoder '{plugin}': {param}={str(p)!r} is not a readable PyTorch checkpoint ({exc})") from exc


def _reason(exc: BaseException) -> str:
    """torch's one-line cause ("Unsupported global: GLOBAL argparse.Namespace ...")."""
    cause = exc.__context__ or exc
    line = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return line.split(" was not an allowed global")[0][:200]


def state_dict_of(
    obj: Any, *, plugin: str, where: str, keys: Iterable[str] = ("state_dict", "model")
) -> dict[str, torch.Tensor]:
    """The tensor dict inside a checkpoint: ``obj`` itself or ``obj[key]``; a ``module.``
    prefix (saved from DistributedDataParallel) is removed."""
    if isinstance(obj, Mapping):
        for key in keys:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise MatsError(
            f"encoder '{plugin}': {where} holds no state dict: expected a dict of tensors, "
            f"or one under {' or '.join(repr(k) for k in keys)}"
        )
    state = dict(obj)
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


# Buffers older transformers saved and current ones no longer persist. Official LAION-CLAP
# checkpoints hold text_branch.embeddings.position_ids (laion's own load_ckpt deletes it, and
# fails with KeyError on checkpoints saved by current transformers); old GPT-2 checkpoints
# hold attn.bias / attn.masked_bias. Dropped only when the model has no such key.
LEGACY_BUFFERS = ("embeddings.position_ids", ".attn.bias", ".attn.masked_bias")


def load_into(
    model: torch.nn.Module,
    state: dict[str, torch.Tensor],
    *,
    plugin: str,
    where: str,
    what: str,
    optional_missing: tuple[str, ...] = (),
) -> None:
    """``load_state_dict`` that names what does not fit. Missing keys fail (they would stay
    random) unless they start with one of ``optional_missing``; unknown keys fail too, except
    the legacy buffers above."""
    known = model.state_dict().keys()
    state = {k: v for k, v in state.items() if k in known or not k.endswith(LEGACY_BUFFERS)}
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches are raised even with strict=False
        raise MatsError(f"encoder '{plugin}': {where} does not fit {what}: {_first_lines(str(exc))}") from None
    missing = [k for k in result.missing_keys if not k.startswith(optional_missing)]
    if missing or result.unexpected_keys:
        parts = []
        if missing:
            parts.append(f"{len(missing)} weights missing (e.g. {', '.join(missing[:3])})")
        if result.unexpected_keys:
            parts.append(
                f"{len(result.unexpected_keys)} unknown weights (e.g. {', '.join(result.unexpected_keys[:3])})"
            )
        raise MatsError(f"encoder '{plugin}': {where} does not fit {what}: {'; '.join(parts)}")


def _first_lines(text: str, n: int = 4) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " ".join(lines[:n]) + (" ..." if len(lines) > n else "")


def hub_file(repo: str, filename: str, *, plugin: str, param: str) -> str:
    """Local path of ``repo/filename`` from the Hugging Face hub (cached), or a clear error."""
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(repo, filename)
    except Exception as exc:  # noqa: BLE001 - offline, no network, missing repo
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise MatsError(
            f"encoder '{plugin}': no {param} given, and fetching {filename} from the Hugging Face hub repo "
            f"{repo} failed ({type(exc).__name__}: {first}). Pass --set encoder.{param}=PATH (a local checkpoint)."
        ) from None


def fingerprint(model: torch.nn.Module, *extra: str) -> str:
    """sha256 of the weights (names, dtypes, shapes, bytes) and ``extra``: two encoders with
    the same fingerprint produce the same embeddings (the core keys its caches on it)."""
    h = hashlib.sha256()
    for part in extra:
        h.update(part.encode() + b"\0")
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()

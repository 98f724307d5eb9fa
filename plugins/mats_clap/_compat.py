"""Every compatibility shim the CLAP packages need, in one place, each applied only when needed.

laion-clap 1.1.7 and msclap 1.3.4 were written against an older torch stack. Beside the
pinned CPU torch (2.13.0) three things break at import time; each shim below first tries
the real thing and only steps in when it fails:

* ``torchvision`` (laion-clap imports it without declaring it; the PyPI build paired with
  torch 2.13 is CUDA-linked and fails with "operator torchvision::nms does not exist").
  laion-clap needs only ``transforms.Resize`` (fusion) at run time; the other names it
  imports are image-pipeline helpers it never calls for audio.
* ``torchaudio`` 2.11.0 (msclap's pin; the only 2.x wheel not pinning another torch) ships a
  CUDA-only C++ extension, so ``import torchaudio`` raises OSError. Its pure-Python parts
  (resampling, mel spectrograms) work without it. ``torchaudio.load`` needs torchcodec,
  whose PyPI wheel is CUDA-linked too, so it is replaced by a soundfile reader. This also
  fixes ``import laion_clap``, which guards ``import torchaudio`` against ImportError only.
* msclap's ``__init__`` silences *all* warnings process-wide and sets transformers logging
  to errors; we import it with both restored, so the host keeps its own settings.

Left alone on purpose: laion_clap appends its own folder to ``sys.path`` (its modules import
each other as top-level ``clap_module`` / ``training``); undoing that would break them.

Both packages also fetch hard-coded hub repos (``roberta-base``, ``bert-base-uncased``,
``facebook/bart-base``, ``gpt2``) while importing/building; a failure there is turned into a
message saying so instead of transformers' bare ``TypeError: stat: path should be ...``.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
import warnings
from typing import Any

from mats_core import MatsError

_HUB_HINT = (
    "run once with network access (HF_HUB_OFFLINE unset) to fill the Hugging Face cache, "
    "or point HF_HUB_CACHE at a cache that already holds these files."
)


def require(module: str, extra: str, plugin: str) -> None:
    """Fail with the pip command when ``module`` is not installed (checked without importing it)."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent missing, or a None placeholder in sys.modules
        found = False
    if not found:
        raise MatsError(
            f"encoder '{plugin}' needs the '{module}' package, which is not installed: "
            f"pip install 'mats-bench[{extra}]'"
        )


def _drop_modules(prefix: str) -> None:
    for key in [k for k in sys.modules if k == prefix or k.startswith(prefix + ".")]:
        del sys.modules[key]


# -- torchvision --------------------------------------------------------------------------
def ensure_torchvision() -> bool:
    """Import torchvision, or install the minimal stub laion-clap needs. True if stubbed."""
    try:
        import torchvision  # noqa: F401

        return False
    except Exception:  # noqa: BLE001 - ImportError, or RuntimeError from a CUDA-only build
        _drop_modules("torchvision")

    import torch
    import torch.nn.functional as F

    class Resize(torch.nn.Module):
        """``torchvision.transforms.Resize`` for tensors to an exact ``[h, w]`` (what laion-clap's
        fusion mel shrink calls); bilinear with antialias, the torchvision >= 0.17 default."""

        def __init__(self, size: Any, interpolation: Any = "bilinear", antialias: bool | None = True, **_: Any):
            super().__init__()
            if not (isinstance(size, (list, tuple)) and len(size) == 2):
                raise NotImplementedError("the torchvision stub of mats_clap resizes to an exact [h, w] only")
            self.size, self.antialias = [int(s) for s in size], antialias is not False

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            batched = x if x.dim() == 4 else x[None]
            out = F.interpolate(batched, size=self.size, mode="bilinear", align_corners=False, antialias=self.antialias)
            return out if x.dim() == 4 else out[0]

    def unavailable(name: str) -> type:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError(
                f"torchvision.{name} is unavailable: torchvision is stubbed by mats_clap (see mats_clap._compat)"
            )

        return type(name.rsplit(".", 1)[-1], (), {"__init__": __init__})

    def module(name: str, package: bool = False, **attrs: Any) -> types.ModuleType:
        mod = types.ModuleType(name)
        if package:
            mod.__path__ = []
        # transformers calls importlib.util.find_spec("torchvision"), which needs a __spec__
        mod.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=package)
        mod.__dict__.update(attrs)
        sys.modules[name] = mod
        return mod

    images = ("Normalize", "Compose", "RandomResizedCrop", "InterpolationMode", "ToTensor", "CenterCrop")
    transforms = module("torchvision.transforms", Resize=Resize, **{n: unavailable(f"transforms.{n}") for n in images})
    misc = module("torchvision.ops.misc", FrozenBatchNorm2d=unavailable("ops.misc.FrozenBatchNorm2d"))
    ops = module("torchvision.ops", package=True, misc=misc)
    datasets = module("torchvision.datasets")
    module("torchvision", package=True, transforms=transforms, ops=ops, datasets=datasets, __version__="0.0+mats-stub")
    return True


# -- torchaudio ---------------------------------------------------------------------------
def ensure_torchaudio() -> Any:
    """Import torchaudio; without its C++ extension if that cannot load. Returns the module."""
    try:
        import torchaudio
    except OSError:  # "Could not load this library: .../_torchaudio.abi3.so" (CUDA-only build)
        _drop_modules("torchaudio")

        def fail_if_no_align(func: Any) -> Any:  # forced alignment is C++-only
            def unavailable(*args: Any, **kwargs: Any) -> Any:
                raise RuntimeError(
                    f"torchaudio.{func.__name__} needs torchaudio's C++ extension, which cannot load here"
                )

            return unavailable

        ext = types.ModuleType("torchaudio._extension")
        ext.__dict__.update(
            _IS_TORCHAUDIO_EXT_AVAILABLE=False,
            _IS_ALIGN_AVAILABLE=False,
            _check_cuda_version=lambda: None,
            _load_lib=lambda name: False,
            fail_if_no_align=fail_if_no_align,
        )
        sys.modules["torchaudio._extension"] = ext
        import torchaudio
    if not getattr(torchaudio.load, "_mats_soundfile", False) and not _torchcodec_works():
        torchaudio.load = _soundfile_load
    return torchaudio


def _torchcodec_works() -> bool:
    if importlib.util.find_spec("torchcodec") is None:
        return False
    try:
        import torchcodec.decoders  # noqa: F401

        return True
    except Exception:  # noqa: BLE001 - OSError from a CUDA-linked wheel
        return False


def _soundfile_load(
    uri: Any, frame_offset: int = 0, num_frames: int = -1, normalize: bool = True, channels_first: bool = True, **_: Any
) -> tuple[Any, int]:
    """``torchaudio.load`` (float32, [channels, frames]) backed by soundfile."""
    import soundfile as sf
    import torch

    data, sr = sf.read(uri, start=frame_offset, frames=num_frames, dtype="float32", always_2d=True)
    return torch.from_numpy(data.T.copy() if channels_first else data), sr


_soundfile_load._mats_soundfile = True  # type: ignore[attr-defined]


# -- guarded package imports ----------------------------------------------------------------
def _import(name: str, plugin: str, extra: str, hub_hint: str | None = None) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise MatsError(f"encoder '{plugin}' cannot import {name} ({exc}); pip install 'mats-bench[{extra}]'") from exc
    except Exception as exc:  # noqa: BLE001 - offline hub lookups fail with TypeError/OSError
        msg = f"encoder '{plugin}': importing {name} failed ({type(exc).__name__}: {exc})"
        if hub_hint:
            msg += f". It loads {hub_hint} from the Hugging Face hub at import: {_HUB_HINT}"
        raise MatsError(msg) from exc


def import_laion_clap() -> Any:
    require("laion_clap", "laion", "laion-clap")
    ensure_torchvision()
    if importlib.util.find_spec("torchaudio") is not None:  # installed by the msclap extra
        ensure_torchaudio()
    tokenizers = "the tokenizers 'bert-base-uncased', 'roberta-base' and 'facebook/bart-base'"
    return _import("laion_clap", "laion-clap", "laion", tokenizers)


def import_msclap() -> Any:
    require("msclap", "msclap", "msclap")
    ensure_torchaudio()
    # Import its dependencies first, so the filters they add at import survive the restore below.
    for dependency in ("transformers", "huggingface_hub.file_download", "torchlibrosa", "yaml"):
        _import(dependency, "msclap", "msclap")
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    with warnings.catch_warnings():  # restores the filters, which msclap's __init__ sets to "ignore all"
        module = _import("msclap", "msclap", "msclap")
    hf_logging.set_verbosity(verbosity)
    return module


def hub_failure(plugin: str, what: str, exc: BaseException) -> MatsError:
    """The error for a failed hub fetch the package does itself while building its model."""
    return MatsError(
        f"encoder '{plugin}': building the model failed ({type(exc).__name__}: {exc}). "
        f"The package loads {what} from the Hugging Face hub: {_HUB_HINT}"
    )

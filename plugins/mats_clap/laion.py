"""LAION-CLAP (the ``laion-clap`` package) as a mats-bench encoder: 512-d, 48 kHz.

The model, its front end and its text tokenisation are the package's own
(``CLAP_Module.get_audio_embedding_from_data`` / ``get_text_embedding``); this module only
loads the weights safely and makes long clips deterministic: the package crops audio
longer than 10 s at a random offset (and picks fusion chunks at random), which would give a
benchmark a different embedding for the same clip on every run.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from mats_clap import _compat
from mats_clap._checkpoint import fingerprint, hub_file, load_into, read_checkpoint, state_dict_of
from mats_clap._inputs import center_crop, waveform_batch
from mats_core import MatsError

PLUGIN = "laion-clap"
HUB_REPO = "lukewys/laion_clap"  # where CLAP_Module.load_ckpt() downloads the released checkpoints
TAGS = ("630k-best", "630k-audioset-best", "630k-fusion-best", "630k-audioset-fusion-best")
TEXT_MODELS = ("roberta", "bert", "bart")  # text branches CLAP_Module can feed from a HF tokenizer
MAX_SAMPLES = 480_000  # get_audio_embedding_from_data's fixed window: 10 s at 48 kHz
TEXT_LEN = 77  # CLAP_Module.tokenizer's max_length
FUSION_SEED = 0  # fixed draw of the fusion chunks of a long clip, the same for every row
# Front-end buffers computed from the config (STFT kernels, mel filters), not learned.
FRONT_END = ("audio_branch.spectrogram_extractor.", "audio_branch.logmel_extractor.")


class LaionClapEncoder:
    """A LAION-CLAP checkpoint behind the :class:`mats_core.AlignmentEncoder` interface.

    ``model`` is the package's ``CLAP_Module``. Outputs are the package's (already unit-norm)
    embeddings, float32 on the CPU.
    """

    def __init__(
        self,
        checkpoint: str | None = None,
        amodel: str = "HTSAT-tiny",
        tmodel: str = "roberta",
        enable_fusion: bool = False,
        tag: str = "630k-audioset-best",
        device: str = "cpu",
        trust_checkpoint: bool = False,
    ):
        from mats_core.hf import resolve_device

        _compat.require("laion_clap", "laion", PLUGIN)
        if tmodel not in TEXT_MODELS:
            raise MatsError(
                f"encoder '{PLUGIN}': param 'tmodel' must be one of {', '.join(TEXT_MODELS)}; got {tmodel!r}"
            )
        if enable_fusion and importlib.util.find_spec("torchaudio") is None:
            raise MatsError(
                f"encoder '{PLUGIN}': enable_fusion=true computes mel spectrograms with torchaudio, "
                "which is not installed: pip install torchaudio==2.11.0"
            )
        self.device = resolve_device(device)
        path = Path(checkpoint).expanduser() if checkpoint else _released_checkpoint(tag, enable_fusion)
        state = state_dict_of(
            read_checkpoint(path, plugin=PLUGIN, param="checkpoint", trust=trust_checkpoint),
            plugin=PLUGIN,
            where=str(path),
            keys=("state_dict",),
        )
        laion_clap = _compat.import_laion_clap()
        _check_amodel(laion_clap, amodel)
        try:
            self.model = laion_clap.CLAP_Module(
                enable_fusion=enable_fusion, device=self.device, amodel=amodel, tmodel=tmodel
            )
        except (OSError, TypeError) as exc:  # offline hub lookups of the text model
            raise _compat.hub_failure(
                PLUGIN, "'roberta-base' (or the tmodel's repo) weights and tokenizer", exc
            ) from exc
        load_into(
            self.model.model,
            state,
            plugin=PLUGIN,
            where=str(path),
            optional_missing=FRONT_END,
            what=f"amodel={amodel}, tmodel={tmodel}, enable_fusion={enable_fusion}",
        )
        self.model.eval().requires_grad_(False)
        self.enable_fusion = enable_fusion
        self.dim: int = int(self.model.model.joint_embed_shape)
        self.sample_rate: int = int(self.model.model_cfg["audio_cfg"]["sample_rate"])
        # The core crops clips to this before embedding; fusion reads the whole clip.
        self.clip_seconds: float | None = None if enable_fusion else MAX_SAMPLES / self.sample_rate
        self._tokenizer = _tokenizer(tmodel)
        self._identity = (f"laion_clap {importlib.metadata.version('laion_clap')}", amodel, tmodel, str(enable_fusion))
        self._fingerprint: str | None = None

    @property
    def fingerprint(self) -> str:
        """Hash of the loaded weights (computed on first use: it reads every tensor)."""
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self.model.model, *self._identity)
        return self._fingerprint

    def embed_audio(self, waveforms: torch.Tensor) -> torch.Tensor:
        """[B, T] float32 mono at 48 kHz -> [B, 512]. Clips over 10 s: the middle 10 s
        (fusion: the whole clip, with chunks drawn by a fixed seed)."""
        x = waveform_batch(waveforms, self.sample_rate, PLUGIN)
        if x.shape[0] == 0:
            return torch.empty(0, self.dim)
        with torch.no_grad():
            if not self.enable_fusion:
                out = self.model.get_audio_embedding_from_data(center_crop(x, MAX_SAMPLES), use_tensor=True)
            else:  # one row at a time, so that a clip's chunks do not depend on its batch
                rows = []
                for row in x:
                    with _numpy_seed(FUSION_SEED):
                        rows.append(self.model.get_audio_embedding_from_data(row[None], use_tensor=True))
                out = torch.cat(rows)
        return out.float().cpu()

    def embed_text(self, texts: Sequence[str]) -> torch.Tensor:
        """B strings -> [B, 512] (truncated to 77 tokens, as the package does)."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError(f"encoder '{PLUGIN}': embed_text takes a list of strings")
        if len(texts) == 0:
            return torch.empty(0, self.dim)
        with torch.no_grad():
            out = self.model.get_text_embedding(list(texts), tokenizer=self._tokenizer, use_tensor=True)
        return out.float().cpu()


def _released_checkpoint(tag: str, enable_fusion: bool) -> Path:
    """The released checkpoint ``tag``: where the package's own ``load_ckpt()`` saved it, else
    the hub (cached by huggingface_hub)."""
    if ("fusion" in tag) != enable_fusion:
        want = "a fusion" if "fusion" in tag else "a non-fusion"
        raise MatsError(
            f"encoder '{PLUGIN}': tag={tag!r} is {want} checkpoint but enable_fusion={str(enable_fusion).lower()}; "
            f"tags: {', '.join(TAGS)}"
        )
    spec = importlib.util.find_spec("laion_clap")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        local = Path(folder) / f"{tag}.pt"
        if local.is_file():
            return local
    return Path(hub_file(HUB_REPO, f"{tag}.pt", plugin=PLUGIN, param="checkpoint"))


def _check_amodel(laion_clap: Any, amodel: str) -> None:
    folder = Path(laion_clap.__file__).parent / "clap_module" / "model_configs"
    known = sorted(
        p.stem
        for p in folder.glob("*.json")
        if json.loads(p.read_text()).get("audio_cfg", {}).get("model_type") in ("HTSAT", "PANN")
    )
    if amodel not in known:
        raise MatsError(f"encoder '{PLUGIN}': param 'amodel' must be one of {', '.join(known)}; got {amodel!r}")


def _tokenizer(tmodel: str) -> Any:
    """None (CLAP_Module's RoBERTa tokenizer) or the package's tokenizer for ``tmodel``,
    padded and truncated the same way (CLAP_Module always uses RoBERTa's otherwise)."""
    if tmodel == "roberta":
        return None
    from laion_clap.training import data

    tok = {"bert": data.bert_tokenizer, "bart": data.bart_tokenizer}[tmodel]
    return lambda texts: tok(texts, padding="max_length", truncation=True, max_length=TEXT_LEN, return_tensors="pt")


@contextlib.contextmanager
def _numpy_seed(seed: int) -> Iterator[None]:
    """Seed numpy's global RNG (which the package draws from) and restore it afterwards."""
    import numpy as np

    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)

"""Microsoft CLAP (the ``msclap`` package) as a mats-bench encoder: 2023 = 1024-d, 44.1 kHz.

We use the package's model class (``msclap.models.clap.CLAP``) with its shipped config, not
its ``CLAPWrapper``: the wrapper only embeds audio *files* and crops them at random. Audio
is fitted to the config's clip length the way the wrapper does (short clips repeated), with
a centred crop for long clips; text is tokenised the way the wrapper does.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Sequence

import torch

from mats_clap import _compat
from mats_clap._checkpoint import fingerprint, hub_file, load_into, read_checkpoint, state_dict_of
from mats_clap._inputs import center_crop, repeat_to, waveform_batch

PLUGIN = "msclap"
# Front-end buffers computed from the config (STFT kernels, mel filters), not learned.
FRONT_END = (
    "audio_encoder.base.spectrogram_extractor.",
    "audio_encoder.base.logmel_extractor.",
    "audio_encoder.base.htsat.spectrogram_extractor.",
    "audio_encoder.base.htsat.logmel_extractor.",
)


class MsClapEncoder:
    """An MS-CLAP checkpoint (2022 or 2023) behind :class:`mats_core.AlignmentEncoder`.

    ``model`` is the package's ``CLAP`` module. Outputs are raw projections, float32 on the CPU.
    """

    def __init__(
        self, version: str = "2023", model_fp: str | None = None, device: str = "cpu", trust_checkpoint: bool = False
    ):
        import yaml

        from mats_core.hf import resolve_device

        _compat.require("msclap", "msclap", PLUGIN)
        self.device = resolve_device(device)
        msclap = _compat.import_msclap()
        wrapper = msclap.CLAP  # the package's CLAPWrapper: its hub repo and file names
        path = (
            Path(model_fp).expanduser()
            if model_fp
            else Path(hub_file(wrapper.model_repo, wrapper.model_name[version], plugin=PLUGIN, param="model_fp"))
        )
        state = state_dict_of(
            read_checkpoint(path, plugin=PLUGIN, param="model_fp", trust=trust_checkpoint),
            plugin=PLUGIN,
            where=str(path),
            keys=("model",),
        )
        cfg = yaml.safe_load((Path(msclap.__file__).parent / "configs" / f"config_{version}.yml").read_text())

        from msclap.models.clap import CLAP
        from transformers import AutoTokenizer

        text_model = cfg["text_model"]
        try:
            self.model = CLAP(
                audioenc_name=cfg["audioenc_name"],
                sample_rate=cfg["sampling_rate"],
                window_size=cfg["window_size"],
                hop_size=cfg["hop_size"],
                mel_bins=cfg["mel_bins"],
                fmin=cfg["fmin"],
                fmax=cfg["fmax"],
                classes_num=cfg["num_classes"],
                out_emb=cfg["out_emb"],
                text_model=text_model,
                transformer_embed_dim=cfg["transformer_embed_dim"],
                d_proj=cfg["d_proj"],
            )
            self.tokenizer = AutoTokenizer.from_pretrained(text_model)
        except (OSError, TypeError) as exc:  # offline hub lookups of the text model
            raise _compat.hub_failure(PLUGIN, f"{text_model!r} (text encoder and tokenizer)", exc) from exc
        load_into(
            self.model,
            state,
            plugin=PLUGIN,
            where=str(path),
            optional_missing=FRONT_END,
            what=f"MS-CLAP version {version}",
        )
        self.model.to(self.device).eval().requires_grad_(False)

        self._gpt = "gpt" in text_model
        if self._gpt:  # as CLAPWrapper: pad with '!' (id 0 in GPT-2, which the pooling relies on)
            self.tokenizer.add_special_tokens({"pad_token": "!"})
        # CLAPWrapper.load_clap's choice of tokenizer outputs fed to the text model
        self._token_keys = (
            ["input_ids", "attention_mask"]
            if self._gpt or "roberta" in text_model or "clip" in text_model
            else ["input_ids", "token_type_ids", "attention_mask"]
        )
        self._text_len = int(cfg["text_len"])
        self.version = version
        self.dim: int = int(cfg["d_proj"])
        self.sample_rate: int = int(cfg["sampling_rate"])
        self.clip_seconds: float = float(cfg["duration"])
        self._clip_samples = int(cfg["duration"]) * self.sample_rate
        self._identity = (f"msclap {importlib.metadata.version('msclap')}", version)
        self._fingerprint: str | None = None

    @property
    def fingerprint(self) -> str:
        """Hash of the loaded weights (computed on first use: it reads every tensor)."""
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self.model, *self._identity)
        return self._fingerprint

    def embed_audio(self, waveforms: torch.Tensor) -> torch.Tensor:
        """[B, T] float32 mono at 44.1 kHz -> [B, dim], on a fixed-length clip (7 s for 2023,
        5 s for 2022): the middle of longer clips, shorter ones repeated."""
        x = waveform_batch(waveforms, self.sample_rate, PLUGIN)
        if x.shape[0] == 0:
            return torch.empty(0, self.dim)
        x = repeat_to(center_crop(x, self._clip_samples), self._clip_samples)
        with torch.no_grad():
            out = self.model.audio_encoder(x.to(self.device))[0]
        return out.float().cpu()

    def embed_text(self, texts: Sequence[str]) -> torch.Tensor:
        """B strings -> [B, dim], tokenised as CLAPWrapper.preprocess_text does (GPT-2 texts end
        with ``<|endoftext|>``, whose hidden state is the text embedding), truncated to text_len."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError(f"encoder '{PLUGIN}': embed_text takes a list of strings")
        if len(texts) == 0:
            return torch.empty(0, self.dim)
        texts = [t + " <|endoftext|>" for t in texts] if self._gpt else list(texts)
        tok = self.tokenizer(
            texts, padding="max_length", truncation=True, max_length=self._text_len, return_tensors="pt"
        )
        with torch.no_grad():
            out = self.model.caption_encoder({k: tok[k].to(self.device) for k in self._token_keys})
        return out.float().cpu()

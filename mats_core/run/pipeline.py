"""The frozen models of an evaluation: the encoder and the LLM, loaded once and shared by every run.

A sweep evaluates many checkpoints and bridges with the same encoder and LLM, so ``Pipeline``
builds them once (from a checkpoint's config, on the run's device) and each run directory only
loads its checkpoint's mapper and LoRA onto them (``Pipeline.load``). It also holds what every
run draws from those models the same way: the memory bank of caption embeddings (cached per
corpus, seed and size) and the embeddings of a block of evaluation audio. The trained part itself,
``MATSModel``, is in ``mats_core.model.pipeline``; the harness (``mats_core.run.harness``) uses both.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from mats_core.capabilities import capability
from mats_core.config.validation import RunConfig
from mats_core.errors import MatsError
from mats_core.model.audio import load_audio
from mats_core.model.pipeline import MATSModel, read_checkpoint_config
from mats_core.registry.presets import accepted_params, build, resolved_params
from mats_core.run.distributed import Shards
from mats_core.run.results import fingerprint
from mats_core.run.sample_errors import embed_each, sample_error

EMBED_CHUNK = 32  # clips per encoder call (one call per bridge block was slower and holds a big padded tensor)


@dataclass
class Pipeline:
    """The frozen encoder and LLM, built once and shared by every checkpoint and bridge."""

    encoder: Any
    llm: Any
    spec: dict
    registry: str | None = None
    auto_batch_size: int | None = None  # what --batch-size auto found on this model and device
    _bank: dict = field(default_factory=dict)

    @classmethod
    def from_checkpoint(
        cls, checkpoint: str | Path, registry: str | None = None, device: str = "auto", overrides: dict | None = None
    ) -> "Pipeline":
        cfg = read_checkpoint_config(checkpoint)
        overrides = overrides or {}
        enc = cfg["encoder"]
        llm = cfg["llm"]
        # where to run is the run's choice, not the checkpoint's (it stores its training device);
        # an explicit --set encoder.device / llm.device still wins
        enc_params = {
            **enc.get("params", {}),
            **accepted_params("encoder", enc["name"], {"device": device}, registry),
            **overrides.get("encoder", {}),
        }
        llm_params = {
            **llm.get("params", {}),
            **accepted_params("llm", llm["name"], {"device": device}, registry),
            **overrides.get("llm", {}),
        }
        resolved_params("encoder", enc["name"], registry, **enc_params)  # both checked before either loads
        resolved_params("llm", llm["name"], registry, **llm_params)
        shards = Shards.from_env()  # one GPU per process when sharded; the spec (config) keeps the device asked for
        placed = lambda p: {**p, "device": shards.device(p["device"])} if "device" in p else p  # noqa: E731
        encoder = build("encoder", enc["name"], registry, **placed(enc_params))
        lm = build("llm", llm["name"], registry, **placed(llm_params))
        spec = {
            "encoder": {"name": enc["name"], "params": enc_params},
            "llm": {"name": llm["name"], "params": llm_params},
            "corpus": cfg.get("corpus"),
        }
        return cls(encoder, lm, spec, registry)

    def load(self, checkpoint: str | Path) -> tuple[MATSModel, dict]:
        cfg = read_checkpoint_config(checkpoint)
        for kind in ("encoder", "llm"):
            if cfg[kind]["name"] != self.spec[kind]["name"]:
                raise MatsError(
                    f"checkpoint {checkpoint} was trained with {kind} '{cfg[kind]['name']}', not '{self.spec[kind]['name']}'"
                )
        model = MATSModel(self.llm, cfg["dim"], cfg["mapper"])
        if cfg["dim"] != self.encoder.dim:
            raise MatsError(
                f"checkpoint {checkpoint} expects {cfg['dim']}-d embeddings; encoder gives {self.encoder.dim}-d"
            )
        model.load_weights(checkpoint)
        model.eval()
        return model, cfg

    def memory_bank(self, corpus_spec: dict, size: int, seed: int) -> torch.Tensor:
        """Caption embeddings of ``size`` random training texts (seeded), cached per corpus."""
        from mats_core.corpus import load_corpus, memory_bank_draw
        from mats_core.model.embeddings import embed_texts, encoder_identity

        key = (fingerprint(corpus_spec), size, seed)
        if key not in self._bank:
            _, records = load_corpus(corpus_spec["name"], self.registry, **corpus_spec.get("params", {}))
            texts, pick = memory_bank_draw(records, size, seed)
            table, _ = embed_texts(self.encoder, texts, encoder_identity(self.encoder, self.spec["encoder"]))
            self._bank[key] = table[torch.tensor(pick, dtype=torch.long)]
        return self._bank[key]

    def embed_audio(
        self, samples: Sequence[Any], cfg: RunConfig, raw: bool = False
    ) -> tuple[torch.Tensor | None, list[int], dict[int, str]]:
        """Normalised (``raw``: as the encoder gives them) embeddings of the samples whose audio loads; errors by position."""
        import numpy as np

        waves, ok, errors = [], [], {}
        clip = capability(self.encoder, "clip_seconds")
        for i, s in enumerate(samples):
            try:
                rng = np.random.default_rng(cfg.seed + zlib.crc32(str(s.id).encode()))
                waves.append(load_audio(s.audio, self.encoder.sample_rate, s.sample_rate, clip, cfg.crop, rng))
                ok.append(i)
            except Exception as exc:  # noqa: BLE001 - any failure of one file is that sample's error (mats_core.run.sample_errors)
                errors[i] = sample_error(s, exc)
        if not waves:
            return None, ok, errors
        # rows that come out non-finite are errors too
        z, ok, errors = embed_each(self.encoder, waves, ok, errors, samples, chunk=EMBED_CHUNK)
        return (z if raw or z is None else F.normalize(z, dim=-1)), ok, errors

"""The tiny CLAP: a small audio-text contrastive model trained on the tiny world.

It plays the part of a pretrained CLAP (LAION-CLAP, MS-CLAP) offline: a log-mel front end,
a small CNN + transformer audio tower, a small transformer text tower over a BPE tokenizer,
linear projections to a shared space and a symmetric InfoNCE loss.

The temperature is FIXED at CLIP's cap (logit scale 100), on purpose. With a learned
temperature, training on this clean synthetic world closes the modality gap (paired cosine
~0.9) and text-only training would trivially transfer to audio. Real CLAPs keep audio and
text in separate cones; a fixed, low temperature keeps that gap here too (it closes only
slowly with long training, so ``train_clap`` stops early and the build checks the gap).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mats_core import MatsError

SHIPPED_DIR = Path(__file__).resolve().parent / "weights" / "clap"
SPECIALS = ["[PAD]", "[UNK]"]


@dataclass(frozen=True)
class ClapConfig:
    sample_rate: int = 16000
    clip_samples: int = 48000
    n_fft: int = 512
    hop: int = 480
    n_mels: int = 64
    fmin: float = 50.0
    fmax: float = 8000.0
    channels: tuple[int, ...] = (16, 32, 64, 128)
    time_strides: int = 3
    width: int = 128
    text_layers: int = 2
    audio_layers: int = 1
    heads: int = 4
    vocab_size: int = 1200
    max_tokens: int = 64
    dim: int = 256
    logit_scale: float = 100.0
    cone: float = 2.5
    dropout: float = 0.1


class LogMel(nn.Module):
    """torch.stft power spectrum -> slaney mel filters (transformers.audio_utils) -> dB.

    The filters are computed once when a model is first built and saved with the weights,
    so that loading a trained model does not import transformers (seconds)."""

    def __init__(self, cfg: ClapConfig, filters: torch.Tensor | None = None):
        super().__init__()
        if filters is None:
            from transformers.audio_utils import mel_filter_bank

            filters = torch.tensor(
                mel_filter_bank(
                    num_frequency_bins=cfg.n_fft // 2 + 1,
                    num_mel_filters=cfg.n_mels,
                    min_frequency=cfg.fmin,
                    max_frequency=cfg.fmax,
                    sampling_rate=cfg.sample_rate,
                    norm="slaney",
                    mel_scale="slaney",
                )
            )
        self.register_buffer("fb", filters.float())
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        self.n_fft, self.hop = cfg.n_fft, cfg.hop

    def forward(self, wav: torch.Tensor) -> torch.Tensor:  # [B, T] -> [B, mels, frames]
        spec = torch.stft(wav, self.n_fft, self.hop, window=self.window, return_complex=True).abs() ** 2
        mel = torch.einsum("bft,fm->bmt", spec, self.fb)
        return 10.0 * torch.log10(mel.clamp_min(1e-10))


class AudioTower(nn.Module):
    """A strided 2-D CNN over the log-mel image (frequency-shift tolerant: the same class at
    another pitch looks alike), then a small transformer over the remaining time steps so
    that order (A then B) survives the pooling."""

    def __init__(self, cfg: ClapConfig):
        super().__init__()
        self.bn0 = nn.BatchNorm2d(1)
        layers, c_in, mels, steps = [], 1, cfg.n_mels, cfg.clip_samples // cfg.hop + 1
        for i, c in enumerate(cfg.channels):
            stride = (2, 2) if i < cfg.time_strides else (2, 1)
            layers += [nn.Conv2d(c_in, c, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c), nn.GELU()]
            if i >= 2:  # a second convolution once the map is small (cheap, adds depth)
                layers += [nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.GELU()]
            c_in, mels, steps = c, (mels - 1) // 2 + 1, (steps - 1) // stride[1] + 1
        self.cnn = nn.Sequential(*layers)
        self.steps = steps
        self.proj_in = nn.Linear(c_in * mels, cfg.width)
        self.pos = nn.Parameter(torch.zeros(1, steps, cfg.width))
        layer = nn.TransformerEncoderLayer(
            cfg.width, cfg.heads, 2 * cfg.width, cfg.dropout, batch_first=True, norm_first=True
        )
        self.temporal = nn.TransformerEncoder(layer, cfg.audio_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(2 * cfg.width)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:  # [B, mels, frames] -> [B, 2 * width]
        x = self.cnn(self.bn0(mel[:, None]))  # [B, C, mels', steps]
        x = x.flatten(1, 2).transpose(1, 2)  # [B, steps, C * mels']
        x = self.temporal(self.proj_in(x) + self.pos)
        return self.norm(torch.cat([x.mean(1), x.amax(1)], -1))


class TextTower(nn.Module):
    def __init__(self, cfg: ClapConfig):
        super().__init__()
        self.tok = nn.Embedding(cfg.vocab_size, cfg.width, padding_idx=0)
        self.pos = nn.Parameter(torch.zeros(1, cfg.max_tokens, cfg.width))
        layer = nn.TransformerEncoderLayer(
            cfg.width, cfg.heads, 2 * cfg.width, cfg.dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.text_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.width)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # [B, L] -> [B, width]
        mask = ids != 0
        x = self.encoder(self.tok(ids) + self.pos[:, : ids.shape[1]], src_key_padding_mask=~mask)
        x = self.norm(x) * mask[..., None]
        return x.sum(1) / mask.sum(1, keepdim=True).clamp_min(1)


class ClapModel(nn.Module):
    def __init__(self, cfg: ClapConfig, mel_filters: torch.Tensor | None = None):
        super().__init__()
        self.cfg = cfg
        self.mel = LogMel(cfg, mel_filters)
        self.audio = AudioTower(cfg)
        self.text = TextTower(cfg)
        self.audio_proj = nn.Linear(2 * cfg.width, cfg.dim)
        self.text_proj = nn.Linear(cfg.width, cfg.dim)
        if cfg.cone:
            self._init_cones(cfg.cone)

    @torch.no_grad()
    def _init_cones(self, ratio: float) -> None:
        """Start each modality in its own narrow cone, as deep pretrained towers do (the
        "cone effect" behind the modality gap): the projections' biases are orthogonal
        random vectors ``ratio`` times the norm of the input-dependent part."""
        a, t = torch.randn(2, self.cfg.dim)
        t = t - (t @ a) / (a @ a) * a
        for proj, v in ((self.audio_proj, a), (self.text_proj, t)):
            feature_norm = (self.cfg.dim * proj.in_features * proj.weight.var()).sqrt()  # LayerNorm'd inputs
            proj.bias.copy_(v / v.norm() * ratio * feature_norm)

    def encode_audio(self, wav: torch.Tensor) -> torch.Tensor:
        return self.audio_proj(self.audio(self.mel(fit_length(wav, self.cfg.clip_samples))))

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        return self.text_proj(self.text(ids))


def info_nce(audio: torch.Tensor, text: torch.Tensor, logit_scale: float) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of paired raw embeddings, at a fixed logit scale."""
    logits = logit_scale * F.normalize(audio, dim=-1) @ F.normalize(text, dim=-1).T
    target = torch.arange(len(logits))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def fit_length(wav: torch.Tensor, n: int) -> torch.Tensor:
    """Centre-crop or zero-pad [B, T] to [B, n] (the trained clip length)."""
    t = wav.shape[-1]
    if t > n:
        start = (t - n) // 2
        return wav[..., start : start + n]
    if t < n:
        left = (n - t) // 2
        return F.pad(wav, (left, n - t - left))
    return wav


# -- tokenizer ---------------------------------------------------------------------------
def train_tokenizer(texts: Sequence[str], vocab_size: int):
    """A lowercase BPE (``tokenizers``) over the world's texts; any English word still
    tokenizes (into letters at worst), unknown symbols map to [UNK]."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    alphabet = list("abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'\"-()")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, initial_alphabet=alphabet, show_progress=False
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def encode_texts(tokenizer, texts: Sequence[str], max_tokens: int) -> torch.Tensor:
    ids = torch.zeros(len(texts), max_tokens, dtype=torch.long)
    for i, enc in enumerate(tokenizer.encode_batch(list(texts))):
        row = enc.ids[:max_tokens] or [SPECIALS.index("[UNK]")]
        ids[i, : len(row)] = torch.tensor(row)
    return ids[:, : max(1, int((ids != 0).sum(1).max()))]


# -- the plugin object ---------------------------------------------------------------------
class TinyCLAP:
    """AlignmentEncoder over a trained ClapModel: eval mode, no grad, deterministic, raw outputs."""

    sample_rate = 16000

    def __init__(self, model: ClapModel, tokenizer, device: str = "cpu", batch_size: int = 256):
        device = resolve_device(device)
        self.model = model.eval().to(device)
        self.tokenizer, self.device, self.batch_size = tokenizer, device, batch_size
        self.dim = model.cfg.dim
        self.config = model.cfg
        # its trained window (3 s): mats-bench crops / repeats each clip to it, on its own
        self.clip_seconds = model.cfg.clip_samples / model.cfg.sample_rate
        self._fingerprint: str | None = None

    @property
    def fingerprint(self) -> str:
        """sha256 of the config, the weights and the tokenizer (the core keys its embeddings caches
        on it: rebuilt weights never read a stale cache); computed on first use."""
        if self._fingerprint is None:
            import hashlib

            h = hashlib.sha256(json.dumps(asdict(self.config), sort_keys=True).encode() + b"\0")
            for name, tensor in sorted(self.model.state_dict().items()):
                t = tensor.detach().cpu().contiguous()
                h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\0".encode())
                h.update(t.reshape(-1).view(torch.uint8).numpy())
            h.update(self.tokenizer.to_str().encode())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    @torch.no_grad()
    def embed_audio(self, waveforms: torch.Tensor) -> torch.Tensor:
        wav = torch.as_tensor(waveforms, dtype=torch.float32)
        if wav.dim() != 2:
            raise ValueError(f"embed_audio: waveforms must be [B, T] mono at 16 kHz, got shape {tuple(wav.shape)}")
        out = [self.model.encode_audio(chunk.to(self.device)).cpu() for chunk in wav.split(self.batch_size)]
        return torch.cat(out) if out else torch.zeros(0, self.dim)

    @torch.no_grad()
    def embed_text(self, texts: list[str]) -> torch.Tensor:
        if isinstance(texts, str):
            raise TypeError("embed_text: pass a list of strings, not one string")
        out = []
        for i in range(0, len(texts), self.batch_size):
            ids = encode_texts(self.tokenizer, texts[i : i + self.batch_size], self.config.max_tokens)
            out.append(self.model.encode_text(ids.to(self.device)).cpu())
        return torch.cat(out) if out else torch.zeros(0, self.dim)


def resolve_device(device: str) -> str:
    """ "auto" -> cuda when available, else cpu (the core's rule, :func:`mats_core.hf.resolve_device`)."""
    from mats_core.hf import resolve_device as core_resolve

    return str(core_resolve(device))


def save_clap(model: ClapModel, tokenizer, out_dir: str | os.PathLike) -> dict[str, str]:
    """config.json + model.safetensors (float16) + tokenizer.json; returns file -> sha256."""
    import hashlib

    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(model.cfg), indent=1) + "\n")
    state = {
        k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items() if v.is_floating_point()
    }
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt", "dtype": "float16"})
    tokenizer.save(str(out / "tokenizer.json"))
    return {
        f: hashlib.sha256((out / f).read_bytes()).hexdigest()
        for f in ("config.json", "model.safetensors", "tokenizer.json")
    }


def load_tiny_clap(weights: str | os.PathLike | None = None, device: str = "cpu") -> TinyCLAP:
    """Load a saved tiny CLAP (default: the shipped one) as float32, ready to embed."""
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    path = Path(weights) if weights is not None else SHIPPED_DIR
    missing = [f for f in ("config.json", "model.safetensors", "tokenizer.json") if not (path / f).is_file()]
    if missing:
        raise MatsError(
            f"tiny-clap weights: {path} lacks {', '.join(missing)}; "
            "run `mats-bench tiny build` (or pass weights=<dir of a build>)"
        )
    raw = json.loads((path / "config.json").read_text())
    cfg = ClapConfig(**{**raw, "channels": tuple(raw["channels"])})
    state = {k: v.float() for k, v in load_file(str(path / "model.safetensors")).items()}
    model = ClapModel(cfg, mel_filters=state.get("mel.fb"))
    own = model.state_dict()
    own.update(state)  # integer buffers (BatchNorm counters) are not stored
    model.load_state_dict(own)
    return TinyCLAP(model, Tokenizer.from_file(str(path / "tokenizer.json")), device=device)


# -- training ------------------------------------------------------------------------------
def train_clap(
    wavs: torch.Tensor,
    captions: Sequence[Sequence[str]],
    cfg: ClapConfig = ClapConfig(),
    epochs: int = 6,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    log=print,
    tokenizer_texts: Sequence[str] = (),
    monitor=None,
    select=None,
    checks_per_epoch: int = 2,
) -> tuple[ClapModel, object, list[dict]]:
    """Train on (clip, one of its captions, drawn afresh each epoch) pairs.

    ``monitor(model, tokenizer, epoch) -> dict`` is called ``checks_per_epoch`` times per
    epoch (e.g. to watch the gap close); ``select(row) -> float | None`` scores each check
    (None: not eligible) and the best-scoring check's weights are returned. Returns
    (model, tokenizer, history)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tokenizer = train_tokenizer([c for caps in captions for c in caps] + list(tokenizer_texts), cfg.vocab_size)
    cfg = ClapConfig(**{**asdict(cfg), "vocab_size": tokenizer.get_vocab_size()})
    model = ClapModel(cfg)
    with torch.no_grad():
        mels = torch.cat([model.mel(fit_length(w, cfg.clip_samples)) for w in wavs.split(256)])
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "pos" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "pos" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": other, "weight_decay": 0.0}], lr=lr)
    n = len(mels)
    steps_per_epoch = max(1, n // batch_size)
    total = epochs * steps_per_epoch
    warm = max(1, total // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    checks = {round(steps_per_epoch * (i + 1) / checks_per_epoch) for i in range(checks_per_epoch)}
    history, best, start, losses = [], (None, None), time.perf_counter(), []
    for epoch in range(epochs):
        order = rng.permutation(n)
        pick = [caps[int(rng.integers(len(caps)))] for caps in captions]
        for s in range(steps_per_epoch):
            model.train()
            idx = order[s * batch_size : (s + 1) * batch_size]
            ids = encode_texts(tokenizer, [pick[i] for i in idx], cfg.max_tokens)
            audio = model.audio_proj(model.audio(mels[torch.as_tensor(idx)]))
            loss = info_nce(audio, model.encode_text(ids), cfg.logit_scale)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
            if s + 1 not in checks:
                continue
            row = {
                "epoch": round(epoch + (s + 1) / steps_per_epoch, 2),
                "loss": float(np.mean(losses)),
                "seconds": time.perf_counter() - start,
            }
            losses = []
            if monitor is not None:
                model.eval()
                row.update(monitor(model, tokenizer, row["epoch"]))
            score = select(row) if select is not None else row["epoch"]
            if score is not None and (best[0] is None or score >= best[0]):
                best = (score, {k: v.detach().clone() for k, v in model.state_dict().items()})
            history.append(row)
            log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    if best[1] is None:
        raise RuntimeError(
            "train_clap: no checkpoint met the selection rule; see the history: " + json.dumps(history[-3:])
        )
    model.load_state_dict(best[1])
    return model.eval(), tokenizer, history


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

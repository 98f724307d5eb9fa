"""Mappers: a CLAP embedding [B, dim] -> a prefix of LLM input embeddings [B, prefix_length, hidden].

``transformer`` is the paper's (ClipCap/clapcap style): a linear layer makes ``clip_length``
tokens from the embedding, ``prefix_length`` learned constants are appended, an N-layer
transformer mixes them and the outputs at the constants' positions are projected to the
LLM width. ``mlp`` is ClipCap's cheaper alternative. ``published`` is the released MATS
mapper exactly: the same blocks with no bias on the q/k/v projections, ``nn.Linear``'s default
init everywhere and the prefix constants drawn from N(0, 1); ``transformer`` (the default)
uses torch's encoder layer (q/k/v biases, xavier-initialised attention) and constants of std 0.02.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn


class MapperConfig(BaseModel):
    """Paper (MATS-LLaMA): transformer, prefix 40, clip 40, 8 layers, width 1024, 8 heads."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["transformer", "mlp", "published"] = "transformer"
    prefix_length: int = Field(10, ge=1)
    clip_length: int = Field(10, ge=1)
    num_layers: int = Field(2, ge=1)
    width: int = Field(256, ge=8)
    heads: int = Field(4, ge=1)
    mlp_ratio: float = Field(2.0, gt=0)
    mlp_hidden: int | None = Field(
        None, ge=8
    )  # mlp only: its hidden width (None: ClipCap's hidden * prefix_length / 2)
    dropout: float = Field(0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _heads_divide_width(self) -> "MapperConfig":
        if self.type != "mlp" and self.width % self.heads:
            fits = [h for h in range(1, min(self.width, 64) + 1) if self.width % h == 0]
            raise ValueError(
                f"mapper.heads {self.heads} does not divide mapper.width {self.width}: each head gets width/heads "
                f"dimensions; heads that fit width {self.width}: {', '.join(map(str, fits[-6:]))}"
            )
        return self


class TransformerMapper(nn.Module):
    def __init__(self, dim: int, hidden: int, cfg: MapperConfig):
        super().__init__()
        self.cfg = cfg
        self.to_clip = nn.Linear(dim, cfg.clip_length * cfg.width)
        self.prefix_const = nn.Parameter(torch.randn(cfg.prefix_length, cfg.width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d_model=cfg.width,
            nhead=cfg.heads,
            dim_feedforward=int(cfg.width * cfg.mlp_ratio),
            dropout=cfg.dropout,
            activation="relu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, cfg.num_layers, enable_nested_tensor=False)
        self.to_llm = nn.Linear(cfg.width, hidden)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b = z.shape[0]
        clip = self.to_clip(z).view(b, self.cfg.clip_length, self.cfg.width)
        x = torch.cat([clip, self.prefix_const.unsqueeze(0).expand(b, -1, -1)], dim=1)
        x = self.blocks(x)[:, self.cfg.clip_length :]
        return self.to_llm(x)


class _PublishedBlock(nn.Module):
    """Pre-LN self-attention + ReLU MLP; q and k/v projections without bias, output with bias."""

    def __init__(self, cfg: MapperConfig):
        super().__init__()
        w, self.heads = cfg.width, cfg.heads
        self.norm1, self.norm2 = nn.LayerNorm(w), nn.LayerNorm(w)
        self.q = nn.Linear(w, w, bias=False)
        self.kv = nn.Linear(w, 2 * w, bias=False)
        self.out = nn.Linear(w, w)
        self.mlp = nn.Sequential(
            nn.Linear(w, int(w * cfg.mlp_ratio)),
            nn.ReLU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(int(w * cfg.mlp_ratio), w),
            nn.Dropout(cfg.dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, w = x.shape
        h = self.norm1(x)
        q = self.q(h).view(b, n, self.heads, -1).transpose(1, 2)
        k, v = self.kv(h).view(b, n, 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        att = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        x = x + self.out(att.transpose(1, 2).reshape(b, n, w))
        return x + self.mlp(self.norm2(x))


class PublishedTransformerMapper(TransformerMapper):
    """The released MATS mapper (see the module docstring); same forward as ``transformer``."""

    def __init__(self, dim: int, hidden: int, cfg: MapperConfig):
        nn.Module.__init__(self)
        self.cfg = cfg
        self.to_clip = nn.Linear(dim, cfg.clip_length * cfg.width)
        self.prefix_const = nn.Parameter(torch.randn(cfg.prefix_length, cfg.width))
        self.blocks = nn.Sequential(*[_PublishedBlock(cfg) for _ in range(cfg.num_layers)])
        self.to_llm = nn.Linear(cfg.width, hidden)


class MLPMapper(nn.Module):
    def __init__(self, dim: int, hidden: int, cfg: MapperConfig):
        super().__init__()
        self.cfg = cfg
        mid = cfg.mlp_hidden or (hidden * cfg.prefix_length) // 2
        self.net = nn.Sequential(nn.Linear(dim, mid), nn.Tanh(), nn.Linear(mid, hidden * cfg.prefix_length))
        self.hidden = hidden

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], self.cfg.prefix_length, self.hidden)


def build_mapper(dim: int, hidden: int, cfg: MapperConfig | dict | None = None) -> nn.Module:
    cfg = cfg if isinstance(cfg, MapperConfig) else MapperConfig.model_validate(cfg or {})
    return {"transformer": TransformerMapper, "mlp": MLPMapper, "published": PublishedTransformerMapper}[cfg.type](
        dim, hidden, cfg
    )

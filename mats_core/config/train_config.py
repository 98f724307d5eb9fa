"""The training settings (``mats-bench train`` options and ``--set train.*``): their one set of defaults.

Defined without torch, so the command line checks them (and shows their defaults in ``--help``) before a model loads.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: int = Field(1000, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-3, gt=0)
    warmup: int = Field(50, ge=0)
    weight_decay: float = Field(0.05, ge=0)
    grad_accum: int = Field(1, ge=1)
    max_grad_norm: float = Field(1.0, gt=0)
    seed: int = Field(0, ge=0, le=2**32 - 1)  # = mats_core.config.validation.SEED_MAX
    checkpoint_every: int = Field(500, ge=1)
    log_every: int = Field(25, ge=1)
    supervision: Literal["text", "audio"] = "text"
    device: str = "auto"
    task_tokens: dict[str, str] = Field(
        default_factory=dict
    )  # record task -> token before the instruction (published MATS)
    mapper_lr: float | None = Field(None, gt=0)  # the mapper's own rate (None: lr); a pretrained LLM's LoRA wants less
    llm_frozen_steps: int = Field(0, ge=0)  # prefix-only warm-up: the LLM's trainables (LoRA) wait this many steps
    keep_checkpoints: bool = False  # also keep each checkpoint's weights in <output>/steps/<step> (learning curves)
    init_from: str | None = (
        None  # warm start: a checkpoint's mapper (+ adapter) weights, a fresh optimiser (phase 2 of a recipe)
    )

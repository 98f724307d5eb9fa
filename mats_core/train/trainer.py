"""Text-only training (MATS): frozen encoder -> bridge.train (noise) -> mapper -> LLM loss on answers.

The corpus is embedded once (cached); each step only indexes that table, so the data path is
a gather plus the bridge. Built on accelerate: the same code runs on one CPU, one GPU (bf16
autocast) or several processes. Checkpoints are safetensors; ``resume`` restores weights,
optimizer, scheduler and every RNG, so an interrupted run ends exactly where an
uninterrupted one does.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from mats_core.capabilities import capability, llm_modules, set_train_mode
from mats_core.config.train_config import TrainConfig  # noqa: F401 - the training settings, defined with the other configs
from mats_core.errors import MatsError
from mats_core.model.checkpoints import writing
from mats_core.model.context_window import check_context
from mats_core.model.generation import is_out_of_memory
from mats_core.model.mapper import MapperConfig
from mats_core.model.pipeline import MATSModel, read_checkpoint_config
from mats_core.train.batch import check_batch_size, out_of_memory
from mats_core.train.progress import train_progress
from mats_core.train.resume import guard, load_state, save_state, trim_log


def train(
    encoder: Any,
    llm: Any,
    bridge: Any,
    records: list[dict],
    output: str | Path,
    config: TrainConfig,
    *,
    mapper: dict | None = None,
    spec: dict | None = None,
    resume: bool = False,
    progress: bool = True,
    overwrite: bool = False,
    on_checkpoint: Callable[[int, Path], None] | None = None,
    on_log: Callable[[dict], None] | None = None,
) -> Path:
    """Train and save a checkpoint into ``output``; returns it. ``spec`` (names + params of the
    encoder/llm/bridge/corpus) is stored in it so ``run`` can rebuild everything. An existing
    checkpoint is continued only with ``resume`` and the same settings, replaced only with
    ``overwrite``. ``on_checkpoint(step, output)`` runs after each checkpoint (learning curves), ``on_log(row)`` after each log row."""
    out = Path(output)
    check_batch_size(config.batch_size, len(records))
    accel = _accelerator(config.device)
    spec = spec or {}
    spec_full = {**spec, "train": config.model_dump(), "processes": accel.num_processes}
    body = {**spec_full, "mapper": MapperConfig.model_validate(mapper or {}).model_dump(), "dim": encoder.dim}
    # refusals now; --overwrite removes only once all is checked
    guard(out, body, accel, resume=resume, overwrite=overwrite, checked=False)
    z_all = _embed_corpus(encoder, records, config.supervision, spec, accel)
    if capability(bridge, "fit_before_train", False):  # optional: a bridge that trains on text statistics (shift, C3)
        bridge.fit(z_all)
    torch.manual_seed(config.seed)  # mapper init
    model = _warm_start(MATSModel(llm, encoder.dim, mapper), config.init_from)
    context = _context(model, records, accel)
    loop = _Loop.start(model, bridge, records, z_all, config, accel)
    guard(out, body, accel, resume=resume, overwrite=overwrite, checked=True)
    start = _resume(out, loop) if resume else 0
    loop.wrapped, loop.optimizer, loop.scheduler = accel.prepare(_LossModule(model), loop.optimizer, loop.scheduler)
    log_path = trim_log(out, start, accel)
    bar = train_progress(progress and accel.is_main_process, config.steps, start)
    model.mapper.train()
    set_train_mode(llm, True)
    for done in range(start + 1, config.steps + 1):
        mean_loss = _step(loop, done, out)
        if not math.isfinite(mean_loss):
            raise MatsError(f"training diverged at step {done} (loss {mean_loss}); lower --lr or check the corpus")
        loop.log(log_path, done, mean_loss, on_log)
        if bar:
            bar.update(done, loss=mean_loss)
        if done % config.checkpoint_every == 0 or done == config.steps:
            loop.checkpoint(out, done, {**spec_full, "step": done, "context": context}, on_checkpoint)
    if bar:
        bar.close()
    model.mapper.eval()
    set_train_mode(llm, False)
    accel.wait_for_everyone()
    return out


def _step(loop: "_Loop", done: int, out: Path) -> float:
    """One optimiser step; a device out of memory is an error saying what to lower (the checkpoints stay)."""
    try:
        return loop.step()
    except Exception as exc:  # noqa: BLE001 - only out-of-memory is turned into advice; the rest re-raises
        if not is_out_of_memory(exc):
            raise
        raise out_of_memory(exc, step=done, config=loop.config, device=loop.accel.device, output=out) from exc


def _accelerator(device: str) -> Any:
    """The accelerator for ``train.device``: bf16 autocast on CUDA, full precision elsewhere;
    one process or several, as launched."""
    from accelerate import Accelerator

    from mats_core.hf import resolve_device

    resolved = resolve_device(device)
    return Accelerator(cpu=resolved.type == "cpu", mixed_precision="bf16" if resolved.type == "cuda" else "no")


def _warm_start(model: MATSModel, source: str | None) -> MATSModel:
    """``model`` with the weights of another run (``train.init_from``; same mapper shape and LLM)
    when one is named, with an error naming it when they do not fit."""
    if source:
        read_checkpoint_config(source)  # a readable checkpoint, or an error naming what is missing
        try:
            model.load_weights(source)
        except RuntimeError as exc:  # a state dict of another shape
            raise MatsError(
                f"train.init_from {source}: its weights do not fit this model (same mapper.* and llm needed): {str(exc).splitlines()[0]}"
            ) from None
    return model


def _resume(out: Path, loop: "_Loop") -> int:
    """The step a resumed run continues from (0 when ``out`` holds no trainer state yet)."""
    if not (out / "trainer_state.json").exists():
        return 0
    start = load_state(
        out,
        loop.model,
        optimizer=loop.optimizer,
        scheduler=loop.scheduler,
        data_gen=loop.data_gen,
        noise_gen=loop.noise_gen,
    )
    loop.accel.print(f"resuming from step {start} in {out}")
    return start


@dataclass
class _Loop:
    """What one optimiser step needs: the model, its optimiser and schedule, the data and both RNGs."""

    model: MATSModel
    bridge: Any
    config: TrainConfig
    accel: Any
    z_all: torch.Tensor
    texts: tuple[list, list, list]  # instructions, answers, task tokens (by record)
    params: list
    optimizer: Any
    scheduler: Any
    data_gen: torch.Generator
    noise_gen: torch.Generator
    wrapped: Any = None
    grad_norm: float = float("nan")  # before clipping, of the last step
    timer: dict = field(default_factory=lambda: {"data": 0.0, "step": 0.0})

    @classmethod
    def start(
        cls, model: MATSModel, bridge: Any, records: list[dict], z_all: torch.Tensor, config: TrainConfig, accel
    ) -> "_Loop":
        instructions = [r["instruction"] for r in records]
        answers = [r["answer"] for r in records]
        tokens = [
            r.get("task_token") or config.task_tokens.get(r.get("task", "")) for r in records
        ]  # a record's own wins
        params = model.trainable_parameters()
        groups, starts = _param_groups(model, config)
        optimizer = torch.optim.AdamW(groups, lr=config.lr)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, [_cosine(config.warmup, config.steps, s) for s in starts]
        )
        data_gen = torch.Generator().manual_seed(config.seed * 1000 + accel.process_index)
        noise_gen = torch.Generator(device=z_all.device).manual_seed(config.seed * 1000 + 7 + accel.process_index)
        return cls(
            model,
            bridge,
            config,
            accel,
            z_all,
            (instructions, answers, tokens),
            params,
            optimizer,
            scheduler,
            data_gen,
            noise_gen,
        )

    def step(self) -> float:
        """One optimiser step over ``grad_accum`` batches; returns the mean loss."""
        config, accel, timer = self.config, self.accel, self.timer
        instructions, answers, tokens = self.texts
        t0 = time.perf_counter()
        losses = []
        for _ in range(config.grad_accum):
            idx = torch.randint(0, self.z_all.shape[0], (config.batch_size,), generator=self.data_gen)
            z = self.bridge.train(self.z_all[idx], self.noise_gen)
            instr = [instructions[i] for i in idx.tolist()]
            ans = [answers[i] for i in idx.tolist()]
            toks = [tokens[i] for i in idx.tolist()]
            t1 = time.perf_counter()
            timer["data"] += t1 - t0
            with accel.autocast():
                loss = self.wrapped(z, instr, ans, toks) / config.grad_accum
            accel.backward(loss)
            losses.append(loss.item() * config.grad_accum)
            t0 = time.perf_counter()
            timer["step"] += t0 - t1
        t2 = time.perf_counter()
        norm = accel.clip_grad_norm_(self.params, config.max_grad_norm)  # None under some backends (DeepSpeed)
        self.grad_norm = float("nan") if norm is None else float(norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        timer["step"] += time.perf_counter() - t2
        return sum(losses) / len(losses)

    def log(self, log_path: Path, done: int, mean_loss: float, then: Callable[[dict], None] | None = None) -> None:
        if self.accel.is_main_process and (done % self.config.log_every == 0 or done == self.config.steps):
            lrs = self.scheduler.get_last_lr()  # [mapper, mapper(no decay), llm, llm] when the LLM has its own rate
            row = {
                "step": done,
                "loss": round(mean_loss, 5),
                "lr": lrs[0],
                **({"lr_llm": lrs[2]} if len(lrs) > 2 else {}),
                "grad_norm": round(self.grad_norm, 5),
                **{f"{k}_seconds": round(v, 3) for k, v in self.timer.items()},
            }
            with open(log_path, "a") as fh:
                fh.write(json.dumps(row) + "\n")
            if then is not None:  # experiment trackers (mats_core.bench.tracking)
                then(row)

    def checkpoint(self, out: Path, done: int, config: dict, then: Callable[[int, Path], None] | None = None) -> None:
        self.accel.wait_for_everyone()
        if self.accel.is_main_process:
            with writing(out) as stage:  # one unit: a kill inside leaves the previous checkpoint whole
                self.model.save(stage, config)
                save_state(
                    stage,
                    done,
                    optimizer=self.optimizer,
                    scheduler=self.scheduler,
                    data_gen=self.data_gen,
                    noise_gen=self.noise_gen,
                )
            if self.config.keep_checkpoints:
                _keep(out, done)
            if then is not None:
                then(done, out)


def _keep(out: Path, step: int) -> None:
    """A copy of the checkpoint just written, without optimizer state: <output>/steps/<step>."""
    import shutil

    keep = out / "steps" / str(step)
    with writing(keep) as stage:
        for f in out.iterdir():
            if f.is_file() and not f.name.startswith("trainer_state") and f.name != "train_log.jsonl":
                shutil.copy2(f, stage / f.name)


def _param_groups(model: MATSModel, config: TrainConfig) -> tuple[list[dict], list[int]]:
    """AdamW groups and the step each starts learning at. No decay on biases / norms / 1-D
    constants, as the paper. Mapper and LLM get groups of their own only when their rates or
    starts differ (so an older run's optimizer state still resumes)."""

    def split(ps: list, lr: float) -> list[dict]:
        return [
            {"params": [p for p in ps if p.ndim >= 2], "weight_decay": config.weight_decay, "lr": lr},
            {"params": [p for p in ps if p.ndim < 2], "weight_decay": 0.0, "lr": lr},
        ]

    mapper, llm = list(model.mapper.parameters()), list(model.llm.trainable_parameters())
    mapper_lr = config.mapper_lr or config.lr
    if not llm:
        return split(mapper, mapper_lr), [0, 0]
    if mapper_lr == config.lr and not config.llm_frozen_steps:
        return split(mapper + llm, config.lr), [0, 0]
    wait = config.llm_frozen_steps
    return split(mapper, mapper_lr) + split(llm, config.lr), [0, 0, wait, wait]


def _cosine(warmup: int, total: int, start: int = 0) -> Callable[[int], float]:
    """transformers' cosine-with-warmup factor, shifted to begin at ``start`` (0 before it)."""

    def factor(step: int) -> float:
        step -= start
        if step < 0:
            return 0.0
        if step < warmup:
            return float(step) / float(max(1, warmup))
        progress = float(step - warmup) / float(max(1, total - start - warmup))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))

    return factor


def _context(model: MATSModel, records: list[dict], accel) -> dict | None:
    """Refuses prompts past the LLM's context; counts (and says) the answers cut."""
    context = check_context(model, records)
    if context and context["truncated_answers"]:
        accel.print(
            f"{context['truncated_answers']} of {len(records)} answers are longer than the LLM's context ({context['max_length']}): truncated"
        )
    return context


class _LossModule(torch.nn.Module):
    """What accelerate wraps: the mapper and the LLM (LoRA) as one module whose forward is the loss."""

    def __init__(self, model: MATSModel):
        super().__init__()
        self.model = model
        self.backbone = torch.nn.ModuleList(llm_modules(model.llm))  # the LLM's modules (LoRA), for accelerate

    def forward(self, z, instructions, answers, task_tokens=None):
        return self.model.loss(z, instructions, answers, task_tokens)


def _embed_corpus(encoder: Any, records: list[dict], supervision: str, spec: dict, accel) -> torch.Tensor:
    from mats_core.model.embeddings import embed_texts, encoder_identity

    identity = encoder_identity(encoder, spec.get("encoder", {}))
    if supervision == "text":
        texts = [r["text"] for r in records]
        uniq = sorted(set(texts))
        with accel.main_process_first():
            table, _ = embed_texts(encoder, uniq, identity)
        pos = {t: i for i, t in enumerate(uniq)}
        return table[torch.tensor([pos[t] for t in texts])]
    return _embed_audio_records(encoder, records, identity, accel)


def _embed_audio_records(encoder: Any, records: list[dict], identity: str, accel) -> torch.Tensor:
    """MATS-Audio (the audio-supervised reference): embeddings of each record's paired audio."""
    import hashlib

    import numpy as np

    from mats_core.model.audio import load_audio
    from mats_core.model.clips import embed_clips
    from mats_core.model.embeddings import cached_embeddings

    if any("audio" not in r for r in records):
        raise MatsError(
            "--supervision audio needs a paired corpus: every record must have an 'audio' field (path or array)"
        )
    clip = capability(encoder, "clip_seconds")

    def wave(r):
        return load_audio(r["audio"], encoder.sample_rate, source_sr=r.get("sample_rate"), clip_seconds=clip)

    h = hashlib.sha256()
    for r in records:
        a = r["audio"]
        h.update(a.tobytes() if isinstance(a, np.ndarray) else str(a).encode())

    def compute():
        out = []
        with torch.no_grad():
            for i in range(0, len(records), 64):
                out.append(
                    embed_clips(encoder, [wave(r) for r in records[i : i + 64]], 64).cpu()
                )  # no cross-clip padding
        return F.normalize(torch.cat(out), dim=-1)

    with accel.main_process_first():
        table, _ = cached_embeddings([identity, "audio", h.hexdigest()], compute)
    return table

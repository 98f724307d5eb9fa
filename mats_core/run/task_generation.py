"""Generating a run's rows: each task's samples in bridge blocks, this process's share, resumably.

Bridge noise is seeded per fixed block of samples (by task and block start), never per
generation batch, so predictions do not depend on ``batch_size`` nor on how many processes
share the run: each process generates the blocks it owns (``mats_core.run.distributed``) and
rows already written (by this process or any earlier one) are skipped, so a killed run resumes.
A sample whose audio fails is written with its error and generation goes on. Scoring the rows
is the harness's (``mats_core.run.harness``).
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from mats_core.capabilities import capability, llm_device
from mats_core.config.validation import RunConfig
from mats_core.model.generation import BatchSizer, merged_weights
from mats_core.model.pipeline import MATSModel
from mats_core.run.bridge_stats import AudioStatistics
from mats_core.run.distributed import Shards, earlier_rows
from mats_core.run.pipeline import Pipeline
from mats_core.run.results import SamplesWriter, sample_row


@dataclass(kw_only=True)
class RunParts:
    """One ``evaluate`` call's parts, shared by the helpers that generate and score it."""

    pipe: Pipeline
    model: MATSModel
    bridge: Any
    cfg: RunConfig
    shards: Shards
    out: Path
    writer: SamplesWriter
    timings: dict[str, float]
    sizer: BatchSizer
    decoding: dict
    on_progress: Callable[[str, int, int], None] | None = None


def generate_tasks(
    run: RunParts, task_samples: dict[str, list], *, audio_stats: AudioStatistics, tokens: dict
) -> list[tuple[int, int]]:
    """Every task's rows this process owns and lacks, into ``run.writer``. Returns, once every
    process has written its shard, each one's (largest batch it generated, rows it wrote now)."""
    block, generated = 0, 0
    with merged_weights(run.pipe.llm):  # optional llm capability: decode with LoRA merged, weights restored after
        # other shards' files, e.g. of a run with another process count
        earlier = earlier_rows(run.out, skip=run.writer.path.name)
        try:
            for name, samples in task_samples.items():
                t0 = time.perf_counter()
                audio_stats.before_task(name, samples)
                done = {i for (t, i) in [*earlier, *run.writer.records] if t == name}
                generated += _run_task(run, name, samples, done, block, tokens[name])
                block += -(-len(samples) // run.cfg.bridge_block)
                run.timings[f"{name}_seconds"] = time.perf_counter() - t0
        finally:
            run.writer.close()
    return run.shards.gather((run.sizer.used, generated))  # a barrier too: every shard is written


def _run_task(run: RunParts, name: str, samples: list, done: set, first_block: int, token: str | None = None) -> int:
    """Generate this process's blocks of one task (all of them in a single process); returns rows written."""
    pipe, model, bridge, writer, cfg, on_progress, sizer, decoding, shards = (
        run.pipe,
        run.model,
        run.bridge,
        run.writer,
        run.cfg,
        run.on_progress,
        run.sizer,
        run.decoding,
        run.shards,
    )
    starts = [b0 for k, b0 in enumerate(range(0, len(samples), cfg.bridge_block)) if shards.owns(first_block + k)]
    mine = [s for b0 in starts for s in samples[b0 : b0 + cfg.bridge_block]]
    total = len(mine)
    finished = skipped = sum(1 for s in mine if str(s.id) in done)
    if on_progress:
        on_progress(name, finished, total)
    for b0 in starts:
        block = samples[b0 : b0 + cfg.bridge_block]
        if all(str(s.id) in done for s in block):
            continue
        z, ok, errs = pipe.embed_audio(
            block, cfg, raw=bool(capability(bridge, "raw_input", False))
        )  # optional bridge capability
        gen = torch.Generator(device=llm_device(pipe.llm)).manual_seed(
            cfg.seed * 1_000_003 + zlib.crc32(f"{name}:{b0}".encode())
        )
        bridged = bridge.infer(z.to(llm_device(pipe.llm)), gen) if z is not None else None
        pos = {i: j for j, i in enumerate(ok)}
        todo = [i for i, s in enumerate(block) if str(s.id) not in done]
        c0 = 0
        while c0 < len(todo):
            chunk = todo[c0 : c0 + sizer.size]
            gen_idx = [i for i in chunk if i in pos]
            texts = sizer.run(
                lambda part: _generate(
                    model, bridged[[pos[i] for i in part]], [block[i] for i in part], token, decoding
                ),
                gen_idx,
            )
            preds = dict(zip(gen_idx, texts))
            writer.write(sample_row(name, block[i], prediction=preds.get(i), error=errs.get(i)) for i in chunk)
            c0 += len(chunk)
            finished += len(chunk)
            if on_progress:
                on_progress(name, finished, total)
    return finished - skipped


def _generate(model: MATSModel, z: torch.Tensor, samples: list, token: str | None, decoding: dict) -> list[str]:
    """``model.generate``; task tokens (a sample's ``meta["task_token"]``, else the task's) only when there are some."""
    tokens = [s.meta.get("task_token", token) for s in samples]
    extra = {"task_tokens": tokens} if any(tokens) else {}
    return model.generate(z, [s.instruction for s in samples], **extra, **decoding)

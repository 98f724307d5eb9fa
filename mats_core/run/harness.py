"""Evaluation: audio -> encoder -> bridge.infer -> mapper -> LLM -> text -> task.score -> results.

One ``evaluate`` call is one run directory (results.json + samples.jsonl). Samples already in
samples.jsonl are skipped, so a killed run resumes; a sample whose audio fails is recorded
with its error and the run goes on. Bridge noise is drawn per fixed block of samples (not per
generation batch) so results do not depend on ``batch_size`` nor on how many processes share
the run (see ``mats_core.run.distributed``). ``batch_size="auto"`` halves the generation batch on
out-of-memory; on CUDA, decoding defaults to a static KV cache where the model supports it.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from mats_core.capabilities import capability, llm_device
from mats_core.config.validation import RunConfig  # the run's settings (defined without torch: checked before it loads)
from mats_core.errors import MatsError
from mats_core.model.audio import load_audio
from mats_core.model.generation import BatchSizer, generation_settings, merged_weights, resolve_decoding
from mats_core.model.pipeline import MATSModel, read_checkpoint_config
from mats_core.registry.presets import accepted_params, build, resolved_params
from mats_core.run.bridge_stats import AudioStatistics
from mats_core.run.controls import apply_control
from mats_core.run.distributed import Shards, earlier_rows, merge_shards, shard_files
from mats_core.run.results import (
    RunResults,
    SamplesWriter,
    atomic_write_text,
    collect_versions,
    data_fingerprint,
    fingerprint,
    read_results,
    write_results,
)
from mats_core.run.sample_errors import embed_each, sample_error
from mats_core.scoring import task_declarations
from mats_core.stats.intervals import describe, score_task

EMBED_CHUNK = 32  # clips per encoder call (one call per bridge block was slower and holds a big padded tensor)


def limited(samples: list, limit: int | float | None) -> list:
    """The first ``limit`` samples, or the first ``ceil(limit * n)`` when ``limit`` is a fraction."""
    if not limit:
        return samples
    import math

    return samples[: limit if isinstance(limit, int) else max(1, math.ceil(round(limit * len(samples), 6)))]


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
        z, ok, errors = embed_each(
            self.encoder, waves, ok, errors, samples, chunk=EMBED_CHUNK
        )  # non-finite rows: errors
        return (z if raw or z is None else F.normalize(z, dim=-1)), ok, errors


@dataclass
class _Run:
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


def evaluate(
    pipe: Pipeline,
    checkpoint: str | Path,
    bridge_name: str,
    tasks: Sequence[str],
    output: str | Path,
    cfg: RunConfig,
    *,
    bridge_params: dict | None = None,
    overwrite: bool = False,
    on_progress: Callable[[str, int, int], None] | None = None,
    task_params: dict | None = None,
) -> RunResults:
    """One run directory. Under a multi-process launch every process calls this with the same
    arguments: each generates its shard, rank 0 merges, scores and writes results.json."""
    t_start = time.perf_counter()
    out = Path(output)
    shards = Shards.from_env()
    model, ckpt_cfg = pipe.load(checkpoint)
    bridge, bridge_params, bank, timings = _bridge(pipe, bridge_name, bridge_params, ckpt_cfg, cfg, shards)
    task_objs = {
        n: build("task", n, pipe.registry, **params_for_task(task_params, n, tasks, pipe.registry)) for n in tasks
    }
    task_samples = {n: limited(list(t.samples()), cfg.limit) for n, t in task_objs.items()}
    task_samples = {
        n: apply_control(ss, cfg.control, pipe.encoder, cfg.seed, n) for n, ss in task_samples.items()
    }  # no-audio rows
    oracle = None
    if cfg.oracle_bank or cfg.oracle_paraphrase:  # DIAGNOSIS ONLY: test captions into the bank (mats_core.run.oracle)
        from mats_core.run.oracle import extend_bank

        bank, oracle = extend_bank(pipe, bridge, bank, task_objs, task_samples, cfg)
    audio_stats = AudioStatistics(pipe, bridge, cfg, pipe.registry)  # optional fit_audio capability (shift)
    audio_stats.before_run()
    tokens = {
        n: cfg.task_tokens.get(n) or capability(t, "task_token") for n, t in task_objs.items()
    }  # optional task capability
    config = {
        "checkpoint": str(checkpoint),
        "encoder": pipe.spec["encoder"],
        "llm": pipe.spec["llm"],
        "bridge": {
            "name": bridge_name,
            **resolved_params("bridge", bridge_name, pipe.registry, **bridge_params),
            "effective": capability(bridge, "config")() if capability(bridge, "config") else None,
            "memory_size": None if bank is None else int(bank.shape[0]),
        },
        "tasks": list(tasks),
        "task_params": dict(task_params or {}),
        "run": cfg.recorded(),
        "checkpoint_config": {k: ckpt_cfg.get(k) for k in ("bridge", "corpus", "supervision", "step", "train")},
        **({"task_tokens": {n: t for n, t in tokens.items() if t}} if any(tokens.values()) else {}),
        **({"oracle_bank": oracle} if oracle else {}),
    }
    _guard_config(
        out, config, overwrite, shards, {n: data_fingerprint(t, task_samples[n]) for n, t in task_objs.items()}
    )
    run = _Run(
        pipe,
        model,
        bridge,
        cfg,
        shards,
        out,
        SamplesWriter(out / shards.samples_file()),
        timings,
        BatchSizer(cfg.batch_size, pipe),
        generation_settings(pipe.llm, resolve_decoding(cfg.decoding)),
        on_progress,
    )
    with merged_weights(pipe.llm):  # optional llm capability: decode with LoRA merged, weights restored after
        generated = _generate_tasks(run, task_samples, audio_stats, tokens)
    work = shards.gather((run.sizer.used, generated))  # a barrier too: every shard is written
    if shards.is_main:
        execution = {
            "processes": shards.world,
            "generated": [g for _, g in work],  # rows each process wrote now
            "batch_size": max(u for u, _ in work) or None,
            "decoding": run.decoding,  # largest batch generated
            **({"decoding_preset": cfg.decoding["preset"]} if "preset" in cfg.decoding else {}),
        }
        res = _finish(
            run, config, task_objs, task_samples, t_start, execution=execution, statistics=audio_stats.record()
        )
    shards.barrier()  # results.json is written
    return res if shards.is_main else read_results(out / "results.json")


def _bridge(
    pipe: Pipeline, name: str, params: dict | None, ckpt_cfg: dict, cfg: RunConfig, shards: Shards
) -> tuple[Any, dict, Any, dict]:
    """The run's bridge, fitted on the memory bank: (bridge, its params, the bank or None, timings)."""
    params = dict(params or {})
    train_var = ckpt_cfg.get("bridge", {}).get("params", {}).get("noise_variance")
    if train_var is not None:  # retrieval noise = the training noise, for bridges that take one
        params = {**accepted_params("bridge", name, {"noise_variance": train_var}, pipe.registry), **params}
    bridge = build("bridge", name, pipe.registry, **params)
    t0 = time.perf_counter()
    bank = None
    if capability(bridge, "uses_memory", True):  # optional bridge attribute: False skips embedding the bank
        with shards.main_first():  # rank 0 fills the embeddings cache, the others read it
            bank = pipe.memory_bank(ckpt_cfg["corpus"], cfg.memory_size, cfg.seed)
        bridge.fit(bank.to(llm_device(pipe.llm)))
    return bridge, params, bank, {"memory_bank_seconds": time.perf_counter() - t0}


def _generate_tasks(run: _Run, task_samples: dict[str, list], audio_stats: AudioStatistics, tokens: dict) -> int:
    """Every task's rows this process owns and lacks, into ``run.writer``; returns rows written."""
    earlier = earlier_rows(
        run.out, skip=run.writer.path.name
    )  # other shards' files, e.g. of a run with another process count
    block, generated = 0, 0
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
    return generated


def _finish(
    run: _Run,
    config: dict,
    task_objs: dict,
    task_samples: dict,
    t_start: float,
    *,
    execution: dict,
    statistics: dict | None = None,
) -> RunResults:
    """Merge the shards (if any), score every task and write results.json."""
    pipe, out, cfg, timings = run.pipe, run.out, run.cfg, run.timings
    rows_by_key = run.writer.records
    if shard_files(out):  # sharded now, or resuming a sharded run: one samples.jsonl in single-process order
        rows_by_key = merge_shards(out, [(n, str(s.id)) for n, ss in task_samples.items() for s in ss])
    results, notes, counts, errors, prints, kinds = {}, {}, {}, 0, {}, {}
    cis, stats = {}, describe(cfg.resamples, cfg.seed)
    for name, task in task_objs.items():
        samples = task_samples[name]
        t0 = time.perf_counter()
        prints[name] = fingerprint([name, capability(task, "fingerprint"), [s.id for s in samples]])
        rows = [rows_by_key[(name, str(s.id))] for s in samples]
        kinds[name] = task.kind
        if not cfg.predict_only:
            scored = score_task(task, name, rows, {"encoder": pipe.encoder}, resamples=cfg.resamples, seed=cfg.seed)
            results[name], cis[name], stats["no_ci"][name] = scored.metrics, scored.intervals, scored.no_ci
            if scored.notes is not None:
                notes[name] = scored.notes
            timings["intervals_seconds"] = timings.get("intervals_seconds", 0.0) + scored.interval_seconds
        counts[name] = len(rows)  # every sample has its row here: expected_count == samples_count
        errors += sum(1 for r in rows if r.get("error"))
        timings[f"{name}_seconds"] += time.perf_counter() - t0
    timings["total_seconds"] = time.perf_counter() - t_start
    res = RunResults(
        config=config,
        versions=collect_versions(),
        seed=cfg.seed,
        results=results,
        notes=notes,
        errors_count=errors,
        samples_count=counts,
        expected_count=dict(counts),
        fingerprints={"config": fingerprint(config), **{f"task:{k}": v for k, v in prints.items()}},
        timings={k: round(v, 3) for k, v in timings.items()},
        task_kinds=kinds,
        **task_declarations(task_objs),  # what tables show, which way is better
        execution=execution,  # how it ran; not in the config, since a resume may run otherwise with the same results
        bridge_statistics=statistics,  # text-only or unpaired-audio (mats_core.run.bridge_stats)
        intervals=cis,
        stats=stats,
    )
    write_results(out / "results.json", res)
    return res


def _run_task(run: _Run, name: str, samples: list, done: set, first_block: int, token: str | None = None) -> int:
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
            writer.write(_row(name, block[i], preds.get(i), errs.get(i)) for i in chunk)
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


def _row(task: str, s: Any, prediction: str | None, error: str | None) -> dict:
    return {
        "task": task,
        "id": str(s.id),
        "prediction": prediction,
        "references": list(s.references),
        "label": s.label,
        "error": error,
    }


def params_for_task(task_params: dict | None, name: str, tasks: Sequence[str], registry: str | None) -> dict:
    """A task's params: ``task_params`` maps task name -> its params (runner, suites), or is one
    flat set (older callers and run_config.json files) of which each task takes what it accepts."""
    given = dict(task_params or {})
    if given and all(k in tasks and isinstance(v, dict) for k, v in given.items()):
        return dict(given.get(name, {}))
    return accepted_params("task", name, given, registry)


def _guard_config(out: Path, config: dict, overwrite: bool, shards: Shards, data: dict | None = None) -> None:
    """A rerun into the same directory resumes only with the same config and the same task data
    (``data``: task -> fingerprint of its samples). Every process checks (so all fail alike);
    rank 0 clears and stamps; the others wait for it."""
    import json

    from mats_core.config.validation import config_diff

    stamp = out / "run_config.json"
    new = fingerprint(config)
    held = json.loads(stamp.read_text()) if stamp.exists() else {"fingerprint": new, "config": config, "data": data}
    changed = [] if held.get("fingerprint") == new else config_diff(held.get("config", {}), config) or ["(config)"]
    old_data = held.get("data") or {}  # absent in stamps older than the data check
    moved = [t for t in (data or {}) if t in old_data and old_data[t] != data[t]]
    if (changed or moved) and not overwrite:
        why = [f"config differs: {'; '.join(changed[:8])}"] if changed else []
        why += [
            f"the data of task '{t}' changed since (its samples' ids, labels, references or instructions)"
            for t in moved
        ]
        raise MatsError(
            f"{out} holds a run with a different config: {'; '.join(why)}; "
            "use another --output or pass --overwrite to re-run it"
        )
    shards.barrier()  # everyone has read the old stamp
    if shards.is_main:
        if changed or moved:
            for f in [out / "samples.jsonl", out / "results.json", *shard_files(out)]:
                f.unlink(missing_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            stamp, json.dumps({"fingerprint": new, "config": config, "data": data}, indent=2, default=str)
        )
    shards.barrier()

"""Evaluation: audio -> encoder -> bridge.infer -> mapper -> LLM -> text -> task.score -> results.

One ``evaluate`` call is one run directory (results.json + samples.jsonl). Samples already in
samples.jsonl are skipped, so a killed run resumes; a sample whose audio fails is recorded
with its error and the run goes on. Bridge noise is drawn per fixed block of samples (not per
generation batch) so results do not depend on ``batch_size`` nor on how many processes share
the run (see ``mats_core.distributed``). ``batch_size="auto"`` halves the generation batch on
out-of-memory; on CUDA, decoding defaults to a static KV cache where the model supports it.
"""
from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Sequence

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, field_validator

from mats_core.audio import AudioError, load_audio
from mats_core.distributed import Shards, earlier_rows, merge_shards, shard_files
from mats_core.generation import BatchSizer, generation_settings
from mats_core.model import MATSModel, read_checkpoint_config
from mats_core.registry import MatsError, accepted_params, build, resolved_params
from mats_core.results import RunResults, SamplesWriter, atomic_write_text, collect_versions, fingerprint, read_results, write_results

EMBED_CHUNK = 32  # clips per encoder call (one call per bridge block was slower and holds a big padded tensor)


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int | float | None = None  # N samples per task, or a fraction (0, 1) of each task's samples
    batch_size: Annotated[int, Field(ge=1)] | Literal["auto"] = 32
    seed: int = 0
    memory_size: int = Field(5172, ge=1)  # the paper's bank: 0.1% of its training texts
    bridge_block: int = Field(256, ge=1)
    crop: str = "center"
    decoding: dict[str, Any] = Field(default_factory=dict)
    device: str = "auto"
    predict_only: bool = False  # write predictions; score later with `mats-bench score`

    @field_validator("limit")
    @classmethod
    def _count_or_fraction(cls, v: int | float | None) -> int | float | None:
        from pydantic_core import PydanticCustomError

        if v is None or (isinstance(v, int) and v >= 1) or (isinstance(v, float) and 0 < v < 1):
            return v
        if isinstance(v, float) and v >= 1 and v == int(v):
            return int(v)
        raise PydanticCustomError("limit", "Input should be greater than or equal to 1, or a fraction between 0 and 1")


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
    def from_checkpoint(cls, checkpoint: str | Path, registry: str | None = None, device: str = "auto", overrides: dict | None = None) -> "Pipeline":
        cfg = read_checkpoint_config(checkpoint)
        overrides = overrides or {}
        enc = cfg["encoder"]
        llm = cfg["llm"]
        # where to run is the run's choice, not the checkpoint's (it stores its training device);
        # an explicit --set encoder.device / llm.device still wins
        enc_params = {**enc.get("params", {}), **accepted_params("encoder", enc["name"], {"device": device}, registry), **overrides.get("encoder", {})}
        llm_params = {**llm.get("params", {}), "device": device, **overrides.get("llm", {})}
        shards = Shards.from_env()  # one GPU per process when sharded; the spec (config) keeps the device asked for
        placed = lambda p: {**p, "device": shards.device(p["device"])} if "device" in p else p  # noqa: E731
        encoder = build("encoder", enc["name"], registry, **placed(enc_params))
        lm = build("llm", llm["name"], registry, **placed(llm_params))
        spec = {"encoder": {"name": enc["name"], "params": enc_params}, "llm": {"name": llm["name"], "params": llm_params}, "corpus": cfg.get("corpus")}
        return cls(encoder, lm, spec, registry)

    def load(self, checkpoint: str | Path) -> tuple[MATSModel, dict]:
        cfg = read_checkpoint_config(checkpoint)
        for kind in ("encoder", "llm"):
            if cfg[kind]["name"] != self.spec[kind]["name"]:
                raise MatsError(f"checkpoint {checkpoint} was trained with {kind} '{cfg[kind]['name']}', not '{self.spec[kind]['name']}'")
        model = MATSModel(self.llm, cfg["dim"], cfg["mapper"])
        if cfg["dim"] != self.encoder.dim:
            raise MatsError(f"checkpoint {checkpoint} expects {cfg['dim']}-d embeddings; encoder gives {self.encoder.dim}-d")
        model.load_weights(checkpoint)
        model.eval()
        return model, cfg

    def memory_bank(self, corpus_spec: dict, size: int, seed: int) -> torch.Tensor:
        """Caption embeddings of ``size`` random training texts (seeded), cached per corpus."""
        from mats_core.corpus import load_corpus
        from mats_core.embeddings import embed_texts, encoder_identity

        key = (fingerprint(corpus_spec), size, seed)
        if key not in self._bank:
            _, records = load_corpus(corpus_spec["name"], self.registry, **corpus_spec.get("params", {}))
            texts = sorted({r["text"] for r in records})
            table, _ = embed_texts(self.encoder, texts, encoder_identity(self.encoder, self.spec["encoder"]))
            pick = torch.randperm(len(texts), generator=torch.Generator().manual_seed(seed))[:size]
            self._bank[key] = table[pick.sort().values]
        return self._bank[key]

    def embed_audio(self, samples: Sequence[Any], cfg: RunConfig) -> tuple[torch.Tensor | None, list[int], dict[int, str]]:
        """Normalised embeddings of the samples whose audio loads; errors by position."""
        import numpy as np

        waves, ok, errors = [], [], {}
        clip = getattr(self.encoder, "clip_seconds", None)
        for i, s in enumerate(samples):
            try:
                rng = np.random.default_rng(cfg.seed + zlib.crc32(str(s.id).encode()))
                waves.append(load_audio(s.audio, self.encoder.sample_rate, s.sample_rate, clip, cfg.crop, rng))
                ok.append(i)
            except AudioError as exc:
                errors[i] = str(exc)
        if not waves:
            return None, ok, errors
        n = max(w.shape[-1] for w in waves)
        z = []
        for c in range(0, len(waves), EMBED_CHUNK):  # fixed chunks: fast, and the same whatever --batch-size
            batch = torch.stack([torch.from_numpy(np.pad(w, (0, n - w.shape[-1]))) for w in waves[c : c + EMBED_CHUNK]])
            with torch.no_grad():
                z.append(self.encoder.embed_audio(batch).float())
        return F.normalize(torch.cat(z), dim=-1), ok, errors


def evaluate(
    pipe: Pipeline,
    checkpoint: str | Path,
    bridge_name: str,
    tasks: Sequence[str],
    output: str | Path,
    cfg: RunConfig,
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
    bridge_params = dict(bridge_params or {})
    train_var = ckpt_cfg.get("bridge", {}).get("params", {}).get("noise_variance")
    if train_var is not None:  # retrieval noise = the training noise, for bridges that take one
        bridge_params = {**accepted_params("bridge", bridge_name, {"noise_variance": train_var}, pipe.registry), **bridge_params}
    bridge = build("bridge", bridge_name, pipe.registry, **bridge_params)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    bank = None
    if getattr(bridge, "uses_memory", True):  # optional bridge attribute: False skips embedding the bank
        with shards.main_first():  # rank 0 fills the embeddings cache, the others read it
            bank = pipe.memory_bank(ckpt_cfg["corpus"], cfg.memory_size, cfg.seed)
        bridge.fit(bank.to(pipe.llm.device))
    timings["memory_bank_seconds"] = time.perf_counter() - t0
    task_objs = {n: build("task", n, pipe.registry, **accepted_params("task", n, task_params or {}, pipe.registry)) for n in tasks}
    config = {
        "checkpoint": str(checkpoint),
        "encoder": pipe.spec["encoder"],
        "llm": pipe.spec["llm"],
        "bridge": {"name": bridge_name, **resolved_params("bridge", bridge_name, pipe.registry, **bridge_params),
                   "effective": bridge.config() if hasattr(bridge, "config") else None, "memory_size": None if bank is None else int(bank.shape[0])},
        "tasks": list(tasks),
        "task_params": dict(task_params or {}),
        "run": cfg.model_dump(exclude={"device", "batch_size"}),  # neither changes results: the batch used is in execution
        "checkpoint_config": {k: ckpt_cfg.get(k) for k in ("bridge", "corpus", "supervision", "step", "train")},
    }
    _guard_config(out, config, overwrite, shards)
    writer = SamplesWriter(out / shards.samples_file())
    earlier = earlier_rows(out, skip=writer.path.name)  # other shards' files, e.g. of a run with another process count
    sizer = BatchSizer(cfg.batch_size, pipe)
    decoding = generation_settings(pipe.llm, cfg.decoding)
    task_samples, block, generated = {}, 0, 0
    try:
        for name, task in task_objs.items():
            t0 = time.perf_counter()
            samples = limited(list(task.samples()), cfg.limit)
            task_samples[name] = samples
            done = {i for (t, i) in [*earlier, *writer.records] if t == name}
            generated += _run_task(pipe, model, bridge, name, samples, writer, cfg, on_progress, sizer, decoding, done, block, shards)
            block += -(-len(samples) // cfg.bridge_block)
            timings[f"{name}_seconds"] = time.perf_counter() - t0
    finally:
        writer.close()
    work = shards.gather((sizer.used, generated))  # a barrier too: every shard is written
    if shards.is_main:
        execution = {"processes": shards.world, "generated": [g for _, g in work],  # rows each process wrote now
                     "batch_size": max(u for u, _ in work) or None, "decoding": decoding}  # largest batch generated
        res = _finish(pipe, out, config, cfg, task_objs, task_samples, writer, timings, t_start, execution)
    shards.barrier()  # results.json is written
    return res if shards.is_main else read_results(out / "results.json")


def _finish(pipe, out, config, cfg, task_objs, task_samples, writer, timings, t_start, execution) -> RunResults:
    """Merge the shards (if any), score every task and write results.json."""
    rows_by_key = writer.records
    if shard_files(out):  # sharded now, or resuming a sharded run: one samples.jsonl in single-process order
        rows_by_key = merge_shards(out, [(n, str(s.id)) for n, ss in task_samples.items() for s in ss])
    results, notes, counts, errors, prints, kinds = {}, {}, {}, 0, {}, {}
    for name, task in task_objs.items():
        samples = task_samples[name]
        t0 = time.perf_counter()
        prints[name] = fingerprint([name, getattr(task, "fingerprint", None), [s.id for s in samples]])
        rows = [rows_by_key[(name, str(s.id))] for s in samples]
        kinds[name] = task.kind
        if not cfg.predict_only:
            results[name] = task.score(rows, encoder=pipe.encoder)
            if getattr(task, "notes", None):
                notes[name] = dict(task.notes)
        counts[name] = len(rows)
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
        fingerprints={"config": fingerprint(config), **{f"task:{k}": v for k, v in prints.items()}},
        timings={k: round(v, 3) for k, v in timings.items()},
        task_kinds=kinds,
        execution=execution,  # how it ran; not in the config, since a resume may run otherwise with the same results
    )
    write_results(out / "results.json", res)
    return res


def rescore(run_dir: str | Path, registry: str | None = None, with_encoder: bool = True) -> RunResults:
    """Score an existing samples.jsonl again without regenerating (the infer/score split)."""
    import json

    from mats_core.results import read_samples

    run_dir = Path(run_dir)
    stamp = run_dir / "run_config.json"
    if not stamp.exists() or not (run_dir / "samples.jsonl").exists():
        raise MatsError(f"{run_dir} is not a run directory (needs run_config.json and samples.jsonl)")
    config = json.loads(stamp.read_text())["config"]
    rows = read_samples(run_dir / "samples.jsonl")
    encoder = None
    if with_encoder:
        enc = config["encoder"]
        encoder = build("encoder", enc["name"], registry, **enc.get("params", {}))
    results, notes, kinds, errors = {}, {}, {}, 0
    for name in config["tasks"]:
        task = build("task", name, registry, **accepted_params("task", name, config.get("task_params", {}), registry))
        task_rows = [r for r in rows if r["task"] == name]
        kinds[name] = task.kind
        results[name] = task.score(task_rows, encoder=encoder)
        if getattr(task, "notes", None):
            notes[name] = dict(task.notes)
        errors += sum(1 for r in task_rows if r.get("error"))
    old = read_results(run_dir / "results.json") if (run_dir / "results.json").exists() else None
    res = RunResults(
        config=config, versions=collect_versions(), seed=config["run"]["seed"], results=results, notes=notes,
        errors_count=errors, samples_count={t: sum(1 for r in rows if r["task"] == t) for t in config["tasks"]},
        fingerprints=old.fingerprints if old else {"config": fingerprint(config)}, timings=old.timings if old else {},
        task_kinds=kinds, execution=old.execution if old else None,
    )
    write_results(run_dir / "results.json", res)
    return res


def _run_task(pipe, model, bridge, name, samples, writer, cfg, on_progress, sizer, decoding, done, first_block, shards) -> int:
    """Generate this process's blocks of one task (all of them in a single process); returns rows written."""
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
        z, ok, errs = pipe.embed_audio(block, cfg)
        gen = torch.Generator(device=pipe.llm.device).manual_seed(cfg.seed * 1_000_003 + zlib.crc32(f"{name}:{b0}".encode()))
        bridged = bridge.infer(z.to(pipe.llm.device), gen) if z is not None else None
        pos = {i: j for j, i in enumerate(ok)}
        todo = [i for i, s in enumerate(block) if str(s.id) not in done]
        c0 = 0
        while c0 < len(todo):
            chunk = todo[c0 : c0 + sizer.size]
            gen_idx = [i for i in chunk if i in pos]
            texts = sizer.run(lambda part: model.generate(bridged[[pos[i] for i in part]], [block[i].instruction for i in part], **decoding), gen_idx)
            preds = dict(zip(gen_idx, texts))
            writer.write(_row(name, block[i], preds.get(i), errs.get(i)) for i in chunk)
            c0 += len(chunk)
            finished += len(chunk)
            if on_progress:
                on_progress(name, finished, total)
    return finished - skipped


def _row(task: str, s: Any, prediction: str | None, error: str | None) -> dict:
    return {"task": task, "id": str(s.id), "prediction": prediction, "references": list(s.references), "label": s.label, "error": error}


def zero_shot(pipe: Pipeline, task_name: str, cfg: RunConfig, task_params: dict | None = None) -> dict[str, float | None]:
    """The CLAP zero-shot classifier (audio vs label-text cosine): the reference row."""
    task = build("task", task_name, pipe.registry, **(task_params or {}))
    if task.kind != "classification":
        return {}
    samples = limited(list(task.samples()), cfg.limit)
    labels = list(samples[0].labels) if samples else []
    prompt = getattr(task, "label_prompt", "{label}")
    with torch.no_grad():
        lab = F.normalize(pipe.encoder.embed_text([prompt.format(label=l) for l in labels]).float(), dim=-1)
    correct = n = 0
    for b0 in range(0, len(samples), cfg.bridge_block):  # audio read a block at a time, as in generation
        block = samples[b0 : b0 + cfg.bridge_block]
        z, ok, _ = pipe.embed_audio(block, cfg)
        n += len(block)
        if z is None:
            continue
        pred = (z @ lab.to(z.device).T).argmax(-1).tolist()
        correct += sum(labels[p] == block[i].label for p, i in zip(pred, ok))
    return {"accuracy": correct / n if n else None, "n": n}


def _guard_config(out: Path, config: dict, overwrite: bool, shards: Shards) -> None:
    """A rerun into the same directory resumes only with the same config. Every process checks
    (so all fail alike); rank 0 clears and stamps; the others wait for it."""
    import json

    stamp = out / "run_config.json"
    new = fingerprint(config)
    old = json.loads(stamp.read_text()).get("fingerprint") if stamp.exists() else new
    if old != new and not overwrite:
        raise MatsError(f"{out} holds a run with a different config; use another --output or pass --overwrite")
    shards.barrier()  # everyone has read the old stamp
    if shards.is_main:
        if old != new:
            for f in [out / "samples.jsonl", out / "results.json", *shard_files(out)]:
                f.unlink(missing_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(stamp, json.dumps({"fingerprint": new, "config": config}, indent=2, default=str))
    shards.barrier()

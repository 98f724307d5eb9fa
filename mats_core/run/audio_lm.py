"""Audio-supervised audio LMs (API v1.2 kind ``audio_lm``) as rows of a run, beside the MATS rows.

An ``audio_lm`` plugin (:class:`mats_core.AudioLanguageModel`: ``sample_rate`` and
``generate(waveforms, prompts, **decoding) -> texts``) is a whole model trained on audio
(Qwen2-Audio, SALMONN, LTU, ...): no encoder, bridge or mapper of ours takes part. Its row is
an ordinary run directory made by the same machinery as a bridge's: the same samples (task,
``--limit``), the same ``run_config.json`` guard (a rerun resumes only with the same config
and data), ``samples.jsonl`` written batch by batch (a killed run resumes where it stopped), a
clip that fails to load is that sample's error and the run goes on, and the same scoring,
bootstrap intervals and results.json (``mats_core.run.harness``), so the comparison table pairs
it with the reference row like any other. The run's alignment encoder is passed to the tasks'
scoring only (the LTU protocol: answers mapped to labels by text-embedding cosine), never to
the model. Task tokens (MATS training tokens) are not used; each task's own prompt is. The
model decodes with its own settings (its ``generation`` capability: the model card's, changed
with ``--set audio_lm.generation.<key>=...``); the run's ``decoding`` (the MATS rows', e.g. the
published beam search) does not reach it, so each model runs as its authors evaluate it.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from mats_core.run.results import sample_row

ROW_PREFIX = "audio-lm-"  # a row's directory: <output>/audio-lm-<name>
SUPERVISION_LABELS = {"audio": "audio-supervised"}


def row_label(name: str, lm_supervision: str = "audio") -> str:
    """The table's name for an audio LM's row: ``qwen2-audio (audio-supervised)``."""
    return f"{name} ({SUPERVISION_LABELS.get(lm_supervision, lm_supervision + '-supervised')})"


def check_audio_lms(names: Sequence[str], registry: str | None, params: dict | None = None) -> list[str]:
    """``names``, once every name and param resolves (a typo fails before any model loads)."""
    from mats_core.registry.presets import resolved_params

    for name in names:
        resolved_params("audio_lm", name, registry, **(params or {}))
    return list(names)


@dataclass
class _Holder:
    """What BatchSizer and the harness's ``_finish`` read off a pipeline, for an audio LM's run."""

    llm: Any
    encoder: Any = None
    auto_batch_size: int | None = None


@dataclass
class _AudioRun:
    pipe: _Holder
    cfg: Any
    out: Path
    writer: Any
    sizer: Any
    decoding: dict
    timings: dict[str, float] = field(default_factory=dict)
    on_progress: Callable[[str, int, int], None] | None = None


def build_audio_lm(name: str, *, registry: str | None, device: str, params: dict | None = None) -> Any:
    """The plugin's object, with the run's device where its factory takes one (``--set audio_lm.device`` wins)."""
    from mats_core.registry.presets import accepted_params, build

    given = {**accepted_params("audio_lm", name, {"device": device}, registry), **(params or {})}
    return build("audio_lm", name, registry, **given)


def evaluate_audio_lm(
    name: str,
    tasks: Sequence[str],
    output: str | Path,
    cfg: Any,
    *,
    registry: str | None = None,
    params: dict | None = None,
    overwrite: bool = False,
    task_params: dict | None = None,
    encoder: Any = None,
    encoder_spec: dict | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> Any:
    """One audio LM's run directory (results.json + samples.jsonl), resumable; returns RunResults."""
    from mats_core.capabilities import capability
    from mats_core.model.generation import BatchSizer
    from mats_core.registry.presets import build
    from mats_core.run.config_guard import guard_config
    from mats_core.run.distributed import Shards
    from mats_core.run.harness import _finish, limited, params_for_task
    from mats_core.run.results import SamplesWriter, data_fingerprint

    t_start = time.perf_counter()
    out = Path(output)
    params = dict(params or {})
    lm = build_audio_lm(name, registry=registry, device=cfg.device, params=params)
    task_objs = {n: build("task", n, registry, **params_for_task(task_params, n, tasks, registry)) for n in tasks}
    task_samples = {n: limited(list(t.samples()), cfg.limit) for n, t in task_objs.items()}
    config = _config_record(
        name=name,
        lm=lm,
        params=params,
        registry=registry,
        encoder_spec=encoder_spec,
        tasks=tasks,
        task_params=task_params,
        cfg=cfg,
    )
    data = {n: data_fingerprint(t, task_samples[n]) for n, t in task_objs.items()}
    guard_config(out, config, overwrite=overwrite, shards=Shards(), data=data)  # one process generates this row
    holder = _Holder(llm=lm, encoder=encoder)
    decoding = dict(capability(lm, "generation", {}))  # its own (model card) decoding, not the MATS rows' run.decoding
    run = _AudioRun(
        pipe=holder,
        cfg=cfg,
        out=out,
        writer=SamplesWriter(out / "samples.jsonl"),
        sizer=BatchSizer(cfg.batch_size, holder),
        decoding=decoding,
        on_progress=on_progress,
    )
    generated = _generate_tasks(run, lm, task_samples)
    execution = {"processes": 1, "generated": [generated], "batch_size": run.sizer.used or None, "decoding": decoding}
    return _finish(run, config, task_objs, task_samples, t_start, execution=execution)


def _config_record(
    *,
    name: str,
    lm: Any,
    params: dict,
    registry: str | None,
    encoder_spec: dict | None,
    tasks: Sequence[str],
    task_params: dict | None,
    cfg: Any,
) -> dict:
    """An audio LM row's recorded config (what ``run_config.json`` guards, as ``mats_core.run.run_record``
    is for a bridge's row): the model as built, and the encoder that only scores its answers."""
    from mats_core.capabilities import capability
    from mats_core.registry.presets import resolved_params

    effective = capability(lm, "config")
    return {
        "audio_lm": {
            "name": name,
            **resolved_params("audio_lm", name, registry, **params),
            "fingerprint": capability(lm, "fingerprint"),
            "sample_rate": int(lm.sample_rate),
            "supervision": capability(lm, "supervision", "audio"),
            "effective": effective() if callable(effective) else None,
        },
        "scoring_encoder": encoder_spec,  # the LTU protocol's text embeddings; the model never sees it
        "tasks": list(tasks),
        "task_params": dict(task_params or {}),
        "run": cfg.recorded(),
    }


def _generate_tasks(run: _AudioRun, lm: Any, task_samples: dict[str, list]) -> int:
    """Every task's rows that samples.jsonl lacks, timed per task; returns rows written."""
    generated = 0
    try:
        for task_name, samples in task_samples.items():
            t0 = time.perf_counter()
            generated += _generate_task(run, lm, task_name, samples)
            run.timings[f"{task_name}_seconds"] = time.perf_counter() - t0
    finally:
        run.writer.close()
    return generated


def _generate_task(run: _AudioRun, lm: Any, task: str, samples: list) -> int:
    """Rows of one task that samples.jsonl lacks, a batch at a time; returns rows written."""
    done = run.writer.done(task)
    todo = [s for s in samples if str(s.id) not in done]
    finished = len(samples) - len(todo)
    if run.on_progress:
        run.on_progress(task, finished, len(samples))
    step = run.sizer.size
    for b0 in range(0, len(todo), step):
        batch = todo[b0 : b0 + step]
        waves, errors = _load_batch(run, lm, batch)
        ok = [i for i in range(len(batch)) if i not in errors]
        texts = run.sizer.run(
            lambda part: _answer(lm, [waves[i] for i in part], [batch[i].instruction for i in part], run.decoding), ok
        )
        preds = dict(zip(ok, texts))
        run.writer.write(sample_row(task, s, prediction=preds.get(i), error=errors.get(i)) for i, s in enumerate(batch))
        finished += len(batch)
        if run.on_progress:
            run.on_progress(task, finished, len(samples))
    return len(todo)


def _load_batch(run: _AudioRun, lm: Any, batch: list) -> tuple[dict[int, Any], dict[int, str]]:
    """Each clip at the model's rate (cropped to its optional ``clip_seconds``); errors by position."""
    import numpy as np

    from mats_core.capabilities import capability
    from mats_core.model.audio import AudioError, load_audio

    waves, errors = {}, {}
    clip = capability(lm, "clip_seconds")
    for i, s in enumerate(batch):
        try:
            rng = np.random.default_rng(run.cfg.seed + zlib.crc32(str(s.id).encode()))
            waves[i] = load_audio(s.audio, int(lm.sample_rate), s.sample_rate, clip, run.cfg.crop, rng)
        except AudioError as exc:
            errors[i] = str(exc)
    return waves, errors


def _answer(lm: Any, waves: list, prompts: list[str], decoding: dict) -> list[str]:
    from mats_core.errors import MatsError

    if not waves:
        return []
    texts = list(lm.generate(waves, prompts, **decoding))
    if len(texts) != len(waves):
        raise MatsError(f"audio_lm {type(lm).__name__}.generate returned {len(texts)} texts for {len(waves)} clips")
    return [str(t) for t in texts]

"""Conformance checks for mats-bench plugins, to call from a plugin package's own tests.

Each ``check_*`` runs one object through the API v1 contract and raises ``AssertionError``
saying exactly what is wrong, so a plain pytest test is a full conformance test.
``plugin_host`` registers a plugin object in-process for the duration of a ``with`` block.

    # tests/test_my_plugin.py of a third-party package
    from mats_core import build
    from mats_core.testing import check_bridge, check_encoder, plugin_host

    import my_plugin  # a module with @hookimpl register_bridges / register_encoders

    def test_my_plugin_conforms():
        with plugin_host(my_plugin, "my-plugin"):
            check_bridge(build("bridge", "my-bridge", strength=0.5))
            check_encoder(build("encoder", "my-clap"), atol=1e-3)

The checks of the tensor-model plugins live in their own modules (``encoder``, ``llm``,
``audio_lm``), those of data and scoring plugins and the bridge here; all are public from here.
torch and numpy are imported inside the checks, so importing this module stays instant.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping
from itertools import islice
from pathlib import Path
from typing import Any

from mats_core.interfaces import Corpus, GapBridge, Metric, Sample, Task
from mats_core.testing.asserts import _call, _conforms, _nonempty_str, _positive_int, _require, _tensor
from mats_core.testing.audio_lm import check_audio_lm  # noqa: F401 - public here (API v1.2)
from mats_core.testing.encoder import check_encoder, tones  # noqa: F401 - public here
from mats_core.testing.host import plugin_host  # noqa: F401 - public here (mats_core.testing.plugin_host)
from mats_core.testing.llm import check_llm  # noqa: F401 - public here
from mats_core.testing.optional import check_declared_keys, check_direction, check_optional

__all__ = [
    "check_audio_lm",
    "check_bridge",
    "check_corpus",
    "check_encoder",
    "check_llm",
    "check_metric",
    "check_task",
    "plugin_host",
    "tones",
]

TASK_KINDS = ("caption", "classification", "qa")
CORPUS_KEYS = ("text", "instruction", "answer", "task")


# -- scores (task, metric) ----------------------------------------------------------------
def _check_scores(what: str, scores: Any) -> dict[str, float | None]:
    _require(isinstance(scores, dict), f"{what} must return a dict {{name: float | None}}, got {type(scores).__name__}")
    for key, value in scores.items():
        _require(isinstance(key, str) and key, f"{what} returned a non-string key {key!r}")
        ok = value is None or (isinstance(value, (float, int)) and not isinstance(value, bool))
        _require(
            ok,
            f"{what}[{key!r}] must be a float or None, got {type(value).__name__} {value!r} "
            "(numpy scalars: return float(x))",
        )
        _require(value is None or math.isfinite(value), f"{what}[{key!r}] is {value}; report None when undefined")
    return scores


# -- bridge -------------------------------------------------------------------------------
def check_bridge(bridge: Any, dim: int = 16, bank: Any = None, n_bank: int = 64, batch: int = 8, seed: int = 0) -> None:
    """fit / train / infer of a :class:`GapBridge` on random unit vectors (or ``bank``): shape,
    dtype, unit norm, identical output for the same seeded generator, inputs left untouched."""
    import torch
    import torch.nn.functional as F

    _conforms(bridge, GapBridge)
    data = torch.Generator().manual_seed(1234)
    if bank is None:
        bank = F.normalize(torch.randn(n_bank, dim, generator=data), dim=-1)
    _require(isinstance(bank, torch.Tensor) and bank.dim() == 2, "bank must be a [N, dim] tensor")
    bank_copy = bank.clone()
    _call("bridge.fit(memory)", bridge.fit, bank)
    _require(torch.equal(bank, bank_copy), "bridge.fit modified the memory bank in place; clone it before changing it")
    if callable(getattr(bridge, "fit_audio", None)):  # the optional audio-statistics capability
        unpaired = F.normalize(torch.randn(2 * batch, bank.shape[1], generator=data), dim=-1)
        _call("bridge.fit_audio(unpaired)", bridge.fit_audio, unpaired.clone())
    x = F.normalize(torch.randn(batch, bank.shape[1], generator=data), dim=-1)
    for method in ("train", "infer"):
        out = _run_bridge(bridge, method, x, seed)
        again = _run_bridge(bridge, method, x, seed)
        _require(
            torch.equal(out, again),
            f"bridge.{method} is not deterministic under a seeded generator: two calls with torch.Generator()"
            f".manual_seed({seed}) differ by {float((out - again).abs().max()):.3g}; draw all randomness from "
            "the generator argument",
        )
        _run_bridge(bridge, method, x[:1], seed)
    check_optional("bridge", bridge)


def _run_bridge(bridge: Any, method: str, x: Any, seed: int) -> Any:
    import torch

    what, given = f"bridge.{method}", x.clone()
    out = _call(f"{what}(x, generator)", getattr(bridge, method), given, torch.Generator().manual_seed(seed))
    _require(torch.equal(given, x), f"{what} modified its input in place; clone it before changing it")
    _tensor(what, out, tuple(x.shape))
    _require(out.dtype == x.dtype, f"{what} returned dtype {out.dtype} for {x.dtype} input; keep the input dtype")
    norms = out.norm(dim=-1)
    _require(
        bool(((norms - 1).abs() <= 1e-4).all()),
        f"{what} output rows are not L2-normalised: norms range "
        f"{float(norms.min()):.6g}..{float(norms.max()):.6g}, must be 1 "
        "within 1e-4",
    )
    return out


# -- task, metric, corpus -------------------------------------------------------------------
def _check_audio(where: str, sample: Sample) -> None:
    import numpy as np

    audio = sample.audio
    if isinstance(audio, (str, os.PathLike)):
        _require(Path(audio).is_file(), f"{where}.audio = {str(audio)!r} is not an existing file")
        return
    _require(
        isinstance(audio, np.ndarray), f"{where}.audio must be a file path or a numpy array, got {type(audio).__name__}"
    )
    _require(
        audio.ndim == 1 and audio.size > 0 and audio.dtype == np.float32,
        f"{where}.audio must be a non-empty 1-D float32 array, got shape {audio.shape} dtype {audio.dtype}",
    )
    _require(bool(np.isfinite(audio).all()), f"{where}.audio has non-finite samples")
    _positive_int(f"{where}.sample_rate (required with array audio)", sample.sample_rate)


def _check_sample(where: str, s: Any, kind: str) -> None:
    _require(isinstance(s, Sample), f"{where} is a {type(s).__name__}, expected mats_core.Sample")
    _nonempty_str(f"{where}.id", s.id)
    _nonempty_str(f"{where}.instruction", s.instruction)
    _check_audio(where, s)
    if kind == "caption" or (kind == "qa" and s.label is None):
        _require(isinstance(s.references, list) and s.references, f"{where} ({kind}) has no references")
        for r in s.references:
            _nonempty_str(f"{where}.references item", r)
    if kind == "classification":
        _nonempty_str(f"{where}.label", s.label)
        _require(s.label in s.labels, f"{where}.label {s.label!r} is not in its labels {s.labels[:10]!r}")


def check_task(
    task: Any, limit: int = 3, split: str | None = None, score_context: Mapping[str, Any] | None = None
) -> None:
    """The first ``limit`` samples of a :class:`Task`, and ``score`` on perfect predictions (each
    sample's own label or first reference). With the optional ``higher_is_better`` declaration,
    every declared score must be at least as good on perfect predictions as on wrong ones (each
    sample given another's answer); declared keys must be keys ``score`` returns. Scoring a
    caption task usually runs the Java caption metrics (seconds)."""
    _conforms(task, Task)
    _nonempty_str("task.name", task.name)
    _require(task.kind in TASK_KINDS, f"task.kind must be one of {TASK_KINDS}, got {task.kind!r}")

    def first() -> list[Any]:
        it = _call("task.samples", task.samples) if split is None else _call("task.samples", task.samples, split)
        return list(islice(it, limit))

    samples = first()
    _require(samples, "task.samples() yielded no samples")
    for i, s in enumerate(samples):
        _check_sample(f"sample {i}", s, task.kind)
    ids = [s.id for s in samples]
    _require(len(set(ids)) == len(ids), f"sample ids are not unique: {ids}")
    _require(
        [s.id for s in first()] == ids,
        "task.samples() is not repeatable: a second call yields other ids or "
        "order (resuming a run matches samples by id)",
    )
    answers = [s.label if s.label is not None else s.references[0] for s in samples]

    def score(preds: list[str]) -> dict[str, float | None]:
        rows = [
            {"id": s.id, "prediction": p, "references": list(s.references), "label": s.label, "error": None}
            for s, p in zip(samples, preds)
        ]
        return _check_scores("task.score", _call("task.score", task.score, rows, **dict(score_context or {})))

    perfect = score(answers)
    check_optional("task", task)
    check_declared_keys("task", task, perfect)
    rotated = answers[1:] + answers[:1]
    if getattr(task, "higher_is_better", None) and rotated != answers:
        check_direction("task.score", task, perfect, score(rotated))


def check_metric(
    metric: Any, predictions: list[str] | None = None, references: list[Any] | None = None, **context: Any
) -> None:
    """A :class:`Metric` returns finite floats / None, deterministically, without mutating its
    inputs, and refuses mismatched lengths. Defaults: two captions with one reference each;
    ``context`` is passed to ``compute`` (e.g. ``labels=`` for classification)."""
    _conforms(metric, Metric)
    _nonempty_str("metric.name", metric.name)
    _require((predictions is None) == (references is None), "pass both predictions and references, or neither")
    if predictions is None:
        predictions, references = ["a dog barks", "rain falls on a roof"], [["a dog is barking"], ["rain on a roof"]]
    kept = copy.deepcopy((predictions, references))
    scores = _call("metric.compute", metric.compute, predictions, references, **context)
    _check_scores("metric.compute", scores)
    check_optional("metric", metric)
    check_declared_keys("metric", metric, scores)
    _require((predictions, references) == kept, "metric.compute modified its predictions or references")
    again = _call("metric.compute", metric.compute, *copy.deepcopy(kept), **context)
    _require(again == scores, f"metric.compute is not deterministic: {scores} then {again}")
    try:
        metric.compute(predictions + predictions[:1], references, **context)
    except Exception:  # noqa: BLE001 - any error is the right answer here
        return
    raise AssertionError(
        f"metric.compute accepted {len(predictions) + 1} predictions with {len(references)} "
        "references; it must raise, not silently drop or misalign items"
    )


def check_corpus(corpus: Any, limit: int = 100) -> None:
    """The first ``limit`` records of a :class:`Corpus`: dicts whose text, instruction, answer
    and task are non-empty strings; ``records()`` is re-iterable and stable."""
    _conforms(corpus, Corpus)
    _nonempty_str("corpus.name", corpus.name)
    records = list(islice(_call("corpus.records", corpus.records), limit))
    _require(records, "corpus.records() yielded no records")
    for i, record in enumerate(records):
        _require(isinstance(record, dict), f"record {i} is a {type(record).__name__}, expected a dict")
        _require(all(isinstance(k, str) for k in record), f"record {i} has non-string keys: {list(record)}")
        for key in CORPUS_KEYS:
            _require(
                key in record, f"record {i} has no {key!r} key (records need {', '.join(CORPUS_KEYS)}): {record!r:.200}"
            )
            _nonempty_str(f"record {i}[{key!r}]", record[key])
    again = list(islice(_call("corpus.records", corpus.records), len(records)))
    _require(
        again == records,
        "corpus.records() is not re-iterable: a second call yields other records (return a "
        "fresh iterator each call; the trainer reads a corpus more than once)",
    )

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

torch and numpy are imported inside the checks, so importing this module stays instant.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

from mats_core.interfaces import AlignmentEncoder, Corpus, GapBridge, LanguageModel, Metric, Sample, Task
from mats_core.testing.audio_lm import check_audio_lm  # noqa: F401 - public here (API v1.2)
from mats_core.testing.host import plugin_host  # noqa: F401 - public here (mats_core.testing.plugin_host)
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
TEXTS = ["a dog barks", "rain falls on a tin roof", "a man speaks", "birds chirp", "a car passes by", "music plays"]


# -- small assertion helpers ------------------------------------------------------------
def _require(ok: Any, message: str) -> None:
    if not ok:
        raise AssertionError(message)


def _call(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a plugin method; a crash becomes a conformance failure naming the call."""
    try:
        return fn(*args, **kwargs)
    except AssertionError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise AssertionError(f"{what} raised {type(exc).__name__}: {exc}") from exc


def _conforms(obj: Any, protocol: type) -> None:
    """isinstance against a runtime protocol, naming the missing members when it fails."""
    if isinstance(obj, protocol):
        return
    members = set(getattr(protocol, "__annotations__", {}))
    members |= {k for k, v in vars(protocol).items() if callable(v) and not k.startswith("_")}
    missing = sorted(m for m in members if not hasattr(obj, m))
    raise AssertionError(f"{type(obj).__name__} does not implement {protocol.__name__}: missing {', '.join(missing)}")


def _positive_int(what: str, value: Any) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    _require(ok, f"{what} must be a positive int, got {value!r}")
    return value


def _nonempty_str(what: str, value: Any) -> str:
    _require(isinstance(value, str) and value.strip(), f"{what} must be a non-empty string, got {value!r}")
    return value


def _tensor(what: str, value: Any, shape: tuple[int, ...]) -> Any:
    import torch

    _require(isinstance(value, torch.Tensor), f"{what} must return a torch.Tensor, got {type(value).__name__}")
    _require(tuple(value.shape) == shape, f"{what} returned shape {list(value.shape)}, expected {list(shape)}")
    _require(value.is_floating_point(), f"{what} returned dtype {value.dtype}, expected a floating dtype")
    _require(bool(torch.isfinite(value).all()), f"{what} returned non-finite values (NaN or inf)")
    return value


def _max_diff_normalized(a: Any, b: Any) -> float:
    import torch.nn.functional as F

    a, b = (F.normalize(t.detach().float().cpu(), dim=-1) for t in (a, b))
    return float((a - b).abs().max())


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


# -- encoder ------------------------------------------------------------------------------
def tones(n: int, sample_rate: int, seconds: float = 1.0) -> Any:
    """[n, T] float32 deterministic test signals: a different tone plus its third harmonic per row."""
    import torch

    t = torch.arange(int(seconds * sample_rate), dtype=torch.float64) / sample_rate
    freqs = [110.0 * (2 + i % 16) for i in range(n)]
    rows = [0.4 * torch.sin(2 * math.pi * f * t) + 0.1 * torch.sin(2 * math.pi * 3 * f * t) for f in freqs]
    return torch.stack(rows).float()


def check_encoder(encoder: Any, n: int = 2, seconds: float = 1.0, atol: float = 1e-4) -> None:
    """Shapes, finiteness, determinism and batch consistency of an :class:`AlignmentEncoder`.

    Embeddings are compared after L2 normalisation (what the core uses) with ``atol``; the
    encoder is put in eval mode first when it has ``eval()``.
    """
    import torch

    _conforms(encoder, AlignmentEncoder)
    dim = _positive_int("encoder.dim", encoder.dim)
    sr = _positive_int("encoder.sample_rate", encoder.sample_rate)
    if callable(getattr(encoder, "eval", None)):
        encoder.eval()
    waves = tones(n, sr, seconds)
    texts = [TEXTS[i % len(TEXTS)] + (f" {i}" if i >= len(TEXTS) else "") for i in range(n)]
    with torch.no_grad():
        _check_embedder("embed_audio", encoder.embed_audio, lambda rows: waves[rows], n, dim, atol)
        _check_embedder("embed_text", encoder.embed_text, lambda rows: [texts[i] for i in rows], n, dim, atol)
    check_optional("encoder", encoder)


def _check_embedder(
    name: str, fn: Callable[[Any], Any], make: Callable[[list[int]], Any], n: int, dim: int, atol: float
) -> None:
    import torch

    def embed(rows: list[int]) -> Any:
        given = make(rows)
        kept = given.clone() if isinstance(given, torch.Tensor) else list(given)
        out = _tensor(f"{name} on a batch of {len(rows)}", _call(name, fn, given), (len(rows), dim))
        same = torch.equal(given, kept) if isinstance(given, torch.Tensor) else given == kept
        _require(same, f"{name} modified its input in place")
        return out

    every = list(range(n))
    first = embed(every)
    diff = _max_diff_normalized(first, embed(every))
    _require(
        diff <= atol,
        f"{name} is not deterministic: the same input twice differs by {diff:.3g} after L2 "
        f"normalisation (atol={atol}); is dropout active outside eval mode?",
    )
    if n >= 2:
        _require(
            not torch.equal(first[0], first[1]),
            f"{name} returned identical embeddings for two different inputs: the output ignores its input",
        )
    for i in every:
        diff = _max_diff_normalized(embed([i]), first[i : i + 1])
        _require(
            diff <= atol,
            f"{name} is not batch-consistent: row {i} of a batch of {n} differs from the same "
            f"input embedded alone by {diff:.3g} after L2 normalisation (atol={atol}); look for "
            "batch statistics or padding leaking into the result",
        )


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


# -- language model ------------------------------------------------------------------------
def check_llm(
    llm: Any, prefix_len: int = 4, decoding: Mapping[str, Any] | None = None, padding_invariance: bool = False
) -> None:
    """Template, tokenize / embed shapes, a differentiable loss through a soft prefix, and
    left-padded batched generation (``decoding`` defaults to ``max_new_tokens=4``).

    ``padding_invariance=True`` also requires greedy output of a prompt to be the same alone
    and left-padded in a batch (off by default: near-tied logits of random models may flip).
    """
    import torch

    decoding = dict(decoding or {"max_new_tokens": 4})
    _conforms(llm, LanguageModel)
    hidden = _positive_int("llm.hidden_size", llm.hidden_size)
    template = llm.template
    _require(isinstance(template, str), f"llm.template must be a string, got {type(template).__name__}")
    _require(
        template.count("{audio}") == 1,
        f"llm.template must contain '{{audio}}' exactly once (where the prefix goes), got {template!r}",
    )
    _require("{instruction}" in template, f"llm.template must contain '{{instruction}}', got {template!r}")
    short = _call("llm.tokenize", llm.tokenize, "a dog barks")
    long = _call("llm.tokenize", llm.tokenize, "what is making the sound in this recording")
    for ids in (short, long):
        _require(
            isinstance(ids, list) and ids,
            f"llm.tokenize must return a non-empty list of ints, got {type(ids).__name__} {ids!r:.80}",
        )
        _require(
            all(isinstance(i, int) and not isinstance(i, bool) for i in ids),
            f"llm.tokenize must return python ints, got {[type(i).__name__ for i in ids][:3]}",
        )
    _require(isinstance(_call("llm.tokenize('')", llm.tokenize, ""), list), "llm.tokenize('') must return a list")
    from mats_core.capabilities import llm_device

    device = llm_device(llm)

    def embed(ids: list[list[int]]) -> Any:
        out = _call("llm.embed", llm.embed, torch.tensor(ids, device=device))
        return _tensor("llm.embed", out, (len(ids), len(ids[0]), hidden))

    embed([short, short[::-1]])
    long_emb = embed([long]).detach()
    _check_loss(llm, long_emb, long, prefix_len)
    params = _call("llm.trainable_parameters", llm.trainable_parameters)
    _require(isinstance(params, list), f"llm.trainable_parameters must return a list, got {type(params).__name__}")
    for i, p in enumerate(params):
        _require(
            isinstance(p, torch.Tensor) and p.requires_grad,
            f"llm.trainable_parameters()[{i}] is not a tensor that requires grad",
        )
        p.grad = None  # leave no gradients from this check behind

    with torch.no_grad():
        a, b = sorted((embed([short]), long_emb), key=lambda e: e.shape[1])
        pad = b.shape[1] - a.shape[1]
        batch = torch.cat([torch.cat([a.new_zeros(1, pad, hidden), a], dim=1), b])
        mask = torch.ones(2, batch.shape[1], dtype=torch.long, device=batch.device)
        mask[0, :pad] = 0
        texts = _call("llm.generate", llm.generate, batch, mask, **decoding)
        ok = isinstance(texts, list) and len(texts) == 2 and all(isinstance(t, str) for t in texts)
        _require(ok, f"llm.generate must return a list of 2 strings for a batch of 2, got {texts!r:.120}")
        if padding_invariance:
            alone = _call("llm.generate", llm.generate, a, torch.ones_like(mask[:1, pad:]), **decoding)
            _require(
                alone == texts[:1],
                f"llm.generate depends on left padding: alone {alone[0]!r}, left-padded in a "
                f"batch {texts[0]!r}; honour attention_mask (and position ids)",
            )
    check_optional("llm", llm)


def _check_loss(llm: Any, emb: Any, ids: list[int], prefix_len: int) -> None:
    """The loss of ``ids`` after a random soft prefix must be a finite scalar that back-propagates to the prefix."""
    import torch

    prefix = (torch.randn(1, prefix_len, emb.shape[-1], device=emb.device) * emb.float().std()).to(emb.dtype)
    prefix.requires_grad_(True)
    labels = torch.tensor([[-100] * prefix_len + ids], device=emb.device)
    mask = torch.ones(labels.shape, dtype=torch.long, device=emb.device)
    loss = _tensor("llm.loss", _call("llm.loss", llm.loss, torch.cat([prefix, emb], dim=1), mask, labels), ())
    _require(
        loss.requires_grad, "llm.loss returned a tensor without grad: it must stay differentiable w.r.t. inputs_embeds"
    )
    _call("llm.loss(...).backward()", loss.backward)
    _require(
        prefix.grad is not None and bool(prefix.grad.abs().sum() > 0),
        "no gradient reached the prefix in inputs_embeds through llm.loss",
    )
    _require(bool(torch.isfinite(prefix.grad).all()), "the gradient of llm.loss w.r.t. inputs_embeds is not finite")


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

"""``mats-bench regime``: the retrieval regime of a corpus, a caption task and the bank a run draws.

Text measures (always; :mod:`mats_core.regime`): verbatim and near-duplicate coverage of the
clips' references by the bank, lengths, the corpus's vocabulary and twin share. With audio (a
task whose samples have audio, unless ``text_only``) and the encoder:

- audio -> bank retrieval R@k: the share of clips whose k bank captions nearest to the clip's
  unit audio embedding include a verbatim / near (BLEU-4 >= near_bleu) match of its references,
  beside the same retrieval from the mean embedding of the references themselves (the text
  ceiling: what a gap-free audio embedding would retrieve);
- the memory-only upper bound (CIDEr-D of the bank caption nearest to the references in text
  space, :func:`mats_core.regime.memory_only_bound`; needs the caption metric);
- per Santa preset, the effective mixing weight given the encoder's raw audio norms: Santa's output
  is ``normalize((1-lam) s + lam t)`` with ``|t| <= 1``, so the retrieved text's share of the sum is
  at most ``lam / (lam + (1-lam) |s|)``: ``lam`` itself with unit audio, about lam/|z| with the raw
  vector (``normalize_audio: false``); and the softmax's mean top weight and entropy over the
  exact top-k (k-means search picks its top-k inside one cluster; the weights are of the same scores).

The bank is the run's (:func:`mats_core.corpus.memory_bank_draw` with the run's seed and size,
embedded by ``Pipeline.memory_bank``), plus the oracle additions when ``run.oracle_*`` is set.
"""

from __future__ import annotations

from typing import Any, Sequence

from mats_core.regime import NEAR_BLEU, normalize_caption, sentence_bleu4, text_regime

SANTA_PRESETS = ("santa", "santa-kmeans", "santa-published")
KS = (1, 5, 10)
MAX_CLIPS = 2000


def measure_regime(
    *,
    encoder: str,
    corpus: str,
    task: str | None,
    heldout: str | None = None,
    registry: str | None = None,
    options: dict | None = None,
) -> dict[str, Any]:
    """The report of the module docstring; ``options``: the ``--set`` kinds (corpus, task, heldout,
    encoder, bridge, run) and memory_size, seed, limit, near_bleu, text_only, bound, device."""
    from mats_core.corpus import load_corpus, memory_bank_draw
    from mats_core.errors import MatsError
    from mats_core.run.oracle import oracle_settings, oracle_texts

    o = options or {}
    if (task is None) == (heldout is None):
        raise MatsError(
            "regime: name exactly one of --task (a caption task) or --heldout (a corpus of held-out captions)"
        )
    corpus_spec = {"name": corpus, "params": o.get("corpus", {})}
    _, records = load_corpus(corpus, registry, **corpus_spec["params"])
    size, seed = o.get("memory_size", 5172), o.get("seed", 0)
    texts, pick = memory_bank_draw(records, size, seed)
    bank = [texts[i] for i in pick]
    samples, task_obj = _references(task, heldout, registry, o)
    refs = [list(s.references) for s in samples]
    settings = oracle_settings(o.get("run", {}))
    # named by the task as a run names it, so the added captions are the very ones a run with this seed adds
    extra = oracle_texts(samples, task_obj, settings, seed, task or "") if settings else []
    report: dict[str, Any] = {
        "corpus": corpus_spec,
        "task": task,
        "heldout": heldout,
        "memory_size": len(bank),
        "seed": seed,
        **({"oracle_bank": {**settings, "added": len(extra)}} if settings else {}),
        "text": text_regime(
            bank=bank + extra,
            references=refs,
            corpus=[r["text"] for r in records],
            near_bleu=o.get("near_bleu", NEAR_BLEU),
        ),
    }
    has_audio = any(
        getattr(s, "audio", None) is not None and not (isinstance(s.audio, str) and not s.audio) for s in samples
    )
    if o.get("text_only") or heldout or not has_audio:
        report["audio"] = None
        return report
    report.update(_with_audio(encoder, corpus_spec, samples, bank + extra, drawn=len(bank), registry=registry, o=o))
    return report


def _references(task: str | None, heldout: str | None, registry: str | None, o: dict) -> tuple[list[Any], Any]:
    """The clips (samples with references) of the task, or a held-out corpus's captions grouped by
    each record's ``id`` (a record without one is its own clip)."""
    from types import SimpleNamespace

    from mats_core.corpus import load_corpus
    from mats_core.errors import MatsError
    from mats_core.registry.presets import accepted_params, build
    from mats_core.run.harness import limited

    if heldout is not None:
        _, records = load_corpus(heldout, registry, **o.get("heldout", {}))
        groups: dict[str, list[str]] = {}
        for i, r in enumerate(records):
            groups.setdefault(str(r.get("id", f"#{i}")), []).append(r["text"])
        clips = [SimpleNamespace(id=k, references=v, audio=None) for k, v in groups.items()]
        return limited(clips, o.get("limit")), None
    task_obj = build("task", task, registry, **accepted_params("task", task, o.get("task", {}), registry))
    samples = [s for s in limited(list(task_obj.samples()), o.get("limit") or MAX_CLIPS) if s.references]
    if not samples:
        raise MatsError(
            f"regime: task '{task}' has no samples with reference captions; use a caption task (e.g. tiny-caption)"
        )
    return samples, task_obj


def _with_audio(
    encoder_name: str, corpus_spec: dict, samples: list, bank: list[str], *, drawn: int, registry: str | None, o: dict
) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    from mats_core.bench.gap import _pipeline
    from mats_core.model.embeddings import embed_texts, encoder_identity

    pipe, cfg = _pipeline(encoder_name, registry, o)
    table = pipe.memory_bank(corpus_spec, o.get("memory_size", 5172), o.get("seed", 0))
    if len(bank) > drawn:  # the oracle additions
        added, _ = embed_texts(pipe.encoder, bank[drawn:], encoder_identity(pipe.encoder, pipe.spec["encoder"]))
        table = torch.cat([table, added.to(table)])
    raw, kept = _raw_audio(pipe, samples, cfg)
    refs = [list(samples[i].references) for i in kept]
    unit = F.normalize(raw.float(), dim=-1)
    with torch.no_grad():
        ref_rows = F.normalize(pipe.encoder.embed_text([r for rs in refs for r in rs]).float(), dim=-1)
        ref_means = F.normalize(torch.stack([p.mean(0) for p in ref_rows.split([len(rs) for rs in refs])]), dim=-1)
    near = o.get("near_bleu", NEAR_BLEU)
    out: dict[str, Any] = {
        "audio": {
            "clips": len(kept),
            "raw_norm_mean": float(raw.norm(dim=-1).mean()),
            **retrieval_recall(unit, table, bank, refs, near_bleu=near, prefix="audio"),
            **retrieval_recall(ref_means.to(table), table, bank, refs, near_bleu=near, prefix="text"),
        },
        "santa": santa_weights(raw, table, registry, o.get("presets", SANTA_PRESETS)),
    }
    out["memory_only_bound_cider"] = _bound(pipe.encoder, bank, refs, o) if o.get("bound", True) else None
    return out


def _raw_audio(pipe: Any, samples: Sequence[Any], cfg: Any) -> tuple[Any, list[int]]:
    import torch

    from mats_core.errors import MatsError

    chunks, kept = [], []
    for b0 in range(0, len(samples), cfg.bridge_block):
        z, ok, _ = pipe.embed_audio(samples[b0 : b0 + cfg.bridge_block], cfg, raw=True)
        if z is not None:
            chunks.append(z.detach().cpu())
            kept += [b0 + i for i in ok]
    if not kept:
        raise MatsError("regime: no clip of the task could be loaded (use --text-only for the text measures)")
    return torch.cat(chunks), kept


def retrieval_recall(
    queries: Any,
    bank: Any,
    texts: Sequence[str],
    refs: Sequence[Sequence[str]],
    *,
    near_bleu: float = NEAR_BLEU,
    ks: Sequence[int] = KS,
    prefix: str = "audio",
) -> dict[str, float]:
    """R@k of unit ``queries`` [N, d] against the unit ``bank`` rows: the share of clips whose k nearest
    bank captions hold a verbatim (``_verbatim_r@k``) or near (``_near_r@k``) match of their references."""
    top = (queries @ bank.T).topk(min(max(ks), bank.shape[0]), dim=1).indices.tolist()
    verbatim, near = [], []
    for found, rs in zip(top, refs):
        norm = {normalize_caption(r) for r in rs}
        verbatim.append([normalize_caption(texts[j]) in norm for j in found])
        near.append([sentence_bleu4(texts[j], rs) >= near_bleu for j in found])
    out: dict[str, float] = {}
    for k in ks:
        out[f"{prefix}_verbatim_r@{k}"] = sum(any(v[:k]) for v in verbatim) / len(verbatim)
        out[f"{prefix}_near_r@{k}"] = sum(any(v[:k]) for v in near) / len(near)
    out[f"{prefix}_top1_bleu4_mean"] = sum(sentence_bleu4(texts[f[0]], rs) for f, rs in zip(top, refs)) / len(refs)
    return out


def santa_weights(raw: Any, bank: Any, registry: str | None, presets: Sequence[str] = SANTA_PRESETS) -> dict[str, dict]:
    """Per Santa preset: lam, normalize_audio, the effective mixing weight lam / (lam + (1-lam)|s|)
    (mean over clips; |s| the raw norm or 1) and the softmax's mean top weight and entropy."""
    import torch
    import torch.nn.functional as F

    from mats_core.registry.presets import resolved_params

    out = {}
    for name in presets:
        p = resolved_params("bridge", name, registry)["params"]
        lam, temp, k = float(p["lam"]), float(p["temperature"]), int(p["k"])
        s = F.normalize(raw.float(), dim=-1) if p.get("normalize_audio", True) else raw.float()
        norms = s.norm(dim=-1)
        w = torch.softmax(temp * (s.to(bank) @ bank.T).topk(min(k, bank.shape[0]), dim=1).values, dim=1)
        out[name] = {
            "lam": lam,
            "normalize_audio": bool(p.get("normalize_audio", True)),
            "search": p.get("search"),
            "effective_lam": float((lam / (lam + (1 - lam) * norms)).mean()),
            "top_weight_mean": float(w.max(1).values.mean()),
            "weight_entropy_mean": float(-(w * w.clamp_min(1e-30).log()).sum(1).mean()),
        }
    return out


def _bound(encoder: Any, bank: list[str], refs: list[list[str]], o: dict) -> float | None:
    from mats_core.regime import memory_only_bound
    from mats_core.scoring import shared_metric

    return memory_only_bound(
        encoder=encoder, bank=bank, references=refs, metric=shared_metric(o.get("metric", "caption"))
    )


def as_rich_table(report: dict) -> Any:
    """One row per measure; the title names corpus, task and bank (and says ORACLE BANK when the dial is set)."""
    from rich.table import Table

    what = report["task"] or f"held-out {report['heldout']}"
    oracle = report.get("oracle_bank")
    label = (
        f" · ORACLE BANK ({', '.join(f'{k} {v}' for k, v in oracle.items() if k != 'added')}, +{oracle['added']})"
        if oracle
        else ""
    )
    table = Table(
        title=f"retrieval regime · corpus {report['corpus']['name']} · {what} · bank {report['memory_size']} (seed {report['seed']}){label}"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in report["text"].items():
        table.add_row(key, _num(value))
    if report.get("audio"):
        table.add_section()
    for key, value in (report.get("audio") or {}).items():
        table.add_row(key, _num(value))
    if report.get("audio"):
        table.add_row("memory_only_bound_cider", _num(report.get("memory_only_bound_cider")))
        table.add_section()
    for name, entry in (report.get("santa") or {}).items():
        table.add_row(f"{name}: effective lam (of {entry['lam']:g})", _num(entry["effective_lam"]))
        table.add_row(
            f"{name}: softmax top weight / entropy",
            f"{entry['top_weight_mean']:.3f} / {entry['weight_entropy_mean']:.2f}",
        )
    return table


def _num(x: Any) -> str:
    return "—" if x is None else (str(x) if isinstance(x, (int, str)) else f"{x:.4g}")

"""``mats-bench gap``: measure an encoder's modality gap on paired audio + captions.

The statistics say how far audio embeddings sit from their captions' and in what way:

- ``paired_cosine``: mean cos(a_i, t_i) over clips and their first reference caption;
- ``centroid_distance`` ||mu_a - mu_t|| and ``centroid_cosine`` cos(mu_a, mu_t): the shared
  offset (C3's "collapse": most of the gap is a constant shift);
- ``centred_residual``: E||(a - mu_a) - (t - mu_t)||^2 / dim, what is left once the means go;
- ``gap_variance``: E||a - t||^2 / dim, the per-dimension Gaussian variance whose noise is as
  large as the gap (``--set bridge.noise_variance=auto`` on ``train`` uses it);
- a linear probe trained on TEXT embeddings, tested on held-out text and on the paired audio
  (labels: the task's, or k-means clusters of the captions): the transfer gap;
- audio -> text retrieval R@1 / R@5 among the task's captions;
- per bridge: mean cos(bridge.infer(a_i), t_i) against the raw cos(a_i, t_i).

Everything is computed on L2-normalised embeddings made exactly as ``run`` makes them.
"""

from __future__ import annotations

from typing import Any, Sequence

from mats_core.capabilities import capability

DEFAULT_BRIDGES = ("none", "noise", "memory", "santa", "shift", "nearest", "project")
PROBE_CLUSTERS = 8
MAX_CLIPS = 2000  # enough for stable means; --limit lowers it


def paired_embeddings(pipe: Any, samples: Sequence[Any], cfg: Any) -> tuple[Any, Any, list[str], list[str | None]]:
    """(audio [N, d], text [N, d], captions, labels) for the samples with audio and a reference."""
    import torch
    import torch.nn.functional as F

    from mats_core.errors import MatsError

    samples = [s for s in samples if s.references]
    if not samples:
        raise MatsError(
            "gap: the task has no samples with reference captions; use a captioning task (e.g. tiny-caption)"
        )
    chunks, kept = [], []
    for b0 in range(0, len(samples), cfg.bridge_block):
        block = samples[b0 : b0 + cfg.bridge_block]
        z, ok, _ = pipe.embed_audio(block, cfg)
        if z is not None:
            chunks.append(z)
            kept += [block[i] for i in ok]
    if not kept:
        raise MatsError("gap: no clip of the task could be loaded")
    captions = [s.references[0] for s in kept]
    with torch.no_grad():
        text = F.normalize(pipe.encoder.embed_text(captions).float(), dim=-1).to(chunks[0].device)
    return torch.cat(chunks), text, captions, [s.label for s in kept]


def gap_statistics(
    audio: Any, text: Any, captions: Sequence[str], labels: Sequence[Any] | None = None, seed: int = 0
) -> dict[str, Any]:
    """The statistics of the module docstring (all floats); ``audio``/``text`` are unit rows."""
    import torch

    a, t = audio.double(), text.double()
    n, dim = a.shape
    mu_a, mu_t = a.mean(0), t.mean(0)
    ca, ct = a - mu_a, t - mu_t
    stats = {
        "clips": n,
        "dim": dim,
        "paired_cosine": float((a * t).sum(-1).mean()),
        "centroid_distance": float((mu_a - mu_t).norm()),
        "centroid_cosine": float(mu_a @ mu_t / (mu_a.norm() * mu_t.norm())),
        "centred_paired_cosine": float(torch.nn.functional.cosine_similarity(ca, ct, dim=-1).mean()),
        "centred_residual": float(((ca - ct) ** 2).sum(-1).mean() / dim),
        "gap_variance": float(((a - t) ** 2).sum(-1).mean() / dim),
    }
    stats |= retrieval(a, t, captions)
    stats |= probe(a, t, labels, seed)
    return stats


def retrieval(a: Any, t: Any, captions: Sequence[str], ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Audio -> text recall@k among the N captions; a hit is any caption with the clip's own text."""
    import torch

    order = (a @ t.T).argsort(dim=1, descending=True)
    ids = {c: i for i, c in enumerate(dict.fromkeys(captions))}
    cid = torch.tensor([ids[c] for c in captions])
    hits = cid[order] == cid[:, None]  # [N, N]: does the j-th retrieved caption have the clip's text
    return {f"r@{k}": float(hits[:, :k].any(dim=1).double().mean()) for k in ks}


def probe(a: Any, t: Any, labels: Sequence[Any] | None, seed: int = 0) -> dict[str, Any]:
    """A linear (softmax) probe trained on even-indexed TEXT rows, scored on odd-indexed text and
    audio. Labels: the task's when every clip has one, else k-means clusters of the captions."""
    import torch

    source = "task labels"
    if labels is None or any(lab is None for lab in labels):
        y, source = _clusters(t, min(PROBE_CLUSTERS, max(2, len(t) // 10)), seed), "k-means clusters of the captions"
    else:
        names = {lab: i for i, lab in enumerate(sorted(set(labels), key=str))}
        y = torch.tensor([names[lab] for lab in labels])
    train, test = torch.arange(0, len(t), 2), torch.arange(1, len(t), 2)
    torch.manual_seed(seed)
    w = torch.zeros(t.shape[1], int(y.max()) + 1, dtype=t.dtype, requires_grad=True)
    b = torch.zeros(int(y.max()) + 1, dtype=t.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(t[train] @ w + b, y[train]) + 1e-3 * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        acc = {
            m: float(((x[test] @ w + b).argmax(1) == y[test]).double().mean()) for m, x in (("text", t), ("audio", a))
        }
    return {
        "probe_text_accuracy": acc["text"],
        "probe_audio_accuracy": acc["audio"],
        "probe_transfer_gap": acc["text"] - acc["audio"],
        "probe_labels": source,
    }


def _clusters(x: Any, k: int, seed: int) -> Any:
    """Plain seeded k-means labels (Lloyd, 20 rounds)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    centres = x[torch.randperm(len(x), generator=g)[:k]].clone()
    for _ in range(20):
        labels = torch.cdist(x, centres).argmin(1)
        for c in range(k):
            if (labels == c).any():
                centres[c] = x[labels == c].mean(0)
    return torch.cdist(x, centres).argmin(1)


def bridge_outputs(
    names: Sequence[str],
    audio: Any,
    text: Any,
    bank: Any,
    registry: str | None,
    *,
    seed: int,
    params: dict | None = None,
) -> dict[str, tuple[str, Any]]:
    """Per bridge: (what its points are, [N, d]): its ``gap_points`` capability (``noise`` shows its
    TRAINING input, noisy text: its inference is the identity), else ``infer(audio)``. A bridge
    with the audio-statistics capability gets this audio."""
    import torch

    from mats_core.registry.presets import accepted_params, build

    out = {}
    for name in names:
        bridge = build("bridge", name, registry, **accepted_params("bridge", name, params or {}, registry))
        if capability(bridge, "uses_memory", True):
            bridge.fit(bank)
        fit_audio = capability(bridge, "fit_audio")
        if callable(fit_audio):
            fit_audio(audio)
        g = torch.Generator(device=audio.device).manual_seed(seed)
        points = capability(bridge, "gap_points")
        with torch.no_grad():
            out[name] = points(text, audio, g) if callable(points) else (f"{name}(audio)", bridge.infer(audio, g))
    return out


def bridge_cosines(text: Any, audio: Any, outputs: dict[str, tuple[str, Any]]) -> dict[str, dict[str, float]]:
    before = float((audio.double() * text.double()).sum(-1).mean())
    return {
        n: {"before": before, "after": float((pts.double() * text.double()).sum(-1).mean()), "points": what}
        for n, (what, pts) in outputs.items()
    }


def draw(audio: Any, text: Any, panels: dict[str, tuple[str, Any]], path: Any, title: str) -> None:
    """One 2-D PCA (fitted on the clean audio + text) per bridge: captions vs the bridge's points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    both = torch.cat([audio, text]).double().cpu()
    mean = both.mean(0)
    _, _, v = torch.pca_lowrank(both - mean, q=2, center=False, niter=8)
    xy = lambda x: ((x.double().cpu() - mean) @ v).numpy()  # noqa: E731
    text_xy = xy(text)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.2), sharex=True, sharey=True, squeeze=False)
    for ax, (name, (label, points)) in zip(axes[0], panels.items()):
        pts = xy(points)
        cos = float((points.double() * text.double()).sum(-1).mean())
        ax.scatter(text_xy[:, 0], text_xy[:, 1], s=7, c="#1f77b4", alpha=0.55, label="text (captions)", lw=0)
        ax.scatter(pts[:, 0], pts[:, 1], s=7, c="#ff7f0e", alpha=0.55, label=label, lw=0)
        ax.set_title(f"{name}: cos to caption {cos:.2f}", fontsize=9)
        ax.legend(fontsize=7, loc="lower left", markerscale=2, framealpha=0.8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def measure(
    encoder_name: str,
    tasks: Sequence[str],
    corpus: str = "tiny",
    bridges: Sequence[str] = DEFAULT_BRIDGES,
    registry: str | None = None,
    options: dict | None = None,
) -> dict[str, Any]:
    """The whole command: per task, statistics + bridge cosines (+ a figure if ``figure`` is set).

    ``options``: limit, memory_size, seed, device, figure (a path, or a dict task -> path),
    encoder / task / bridge params (``--set``)."""
    from pathlib import Path

    o = options or {}
    pipe, cfg = _pipeline(encoder_name, registry, o)
    bank = (
        pipe.memory_bank({"name": corpus, "params": o.get("corpus", {})}, o.get("memory_size", 5172), o.get("seed", 0))
        if bridges
        else None
    )
    report: dict[str, Any] = {
        "encoder": pipe.spec["encoder"],
        "corpus": corpus,
        "memory_size": None if bank is None else int(bank.shape[0]),
        "tasks": {},
    }
    for name in tasks:
        audio, text, captions, labels = task_embeddings(pipe, name, registry, cfg, o)
        entry = gap_statistics(audio, text, captions, labels, o.get("seed", 0))
        if bridges:
            outputs = bridge_outputs(
                bridges, audio, text, bank.to(audio.device), registry, seed=o.get("seed", 0), params=o.get("bridge")
            )
            entry["bridges"] = bridge_cosines(text, audio, outputs)
            figure = o.get("figure")
            path = figure.get(name) if isinstance(figure, dict) else (figure if name == tasks[0] else None)
            if path:
                draw(
                    audio,
                    text,
                    outputs,
                    Path(path),
                    f"{encoder_name} encoder, {name}, 2-D PCA: text vs what each bridge feeds the mapper",
                )
                entry["figure"] = str(path)
        report["tasks"][name] = entry
    return report


def task_embeddings(pipe: Any, name: str, registry: str | None, cfg: Any, o: dict) -> tuple[Any, Any, list[str], list]:
    from mats_core.registry.presets import accepted_params, build

    task = build("task", name, registry, **accepted_params("task", name, o.get("task", {}), registry))
    samples = list(task.samples())[: o.get("limit") or MAX_CLIPS]
    return paired_embeddings(pipe, samples, cfg)


def _pipeline(encoder_name: str, registry: str | None, o: dict) -> tuple[Any, Any]:
    from mats_core.registry.presets import accepted_params, build
    from mats_core.run.harness import Pipeline, RunConfig

    params = {
        **accepted_params("encoder", encoder_name, {"device": o.get("device", "cpu")}, registry),
        **o.get("encoder", {}),
    }
    encoder = build("encoder", encoder_name, registry, **params)
    pipe = Pipeline(encoder, None, {"encoder": {"name": encoder_name, "params": params}}, registry)
    return pipe, RunConfig(seed=o.get("seed", 0))


def noise_variance_from(
    encoder: Any,
    encoder_spec: dict,
    task: str,
    registry: str | None,
    task_params: dict | None = None,
    limit: int | None = None,
) -> tuple[float, dict[str, Any]]:
    """``--set bridge.noise_variance=auto``: E||a - t||^2 / dim on a paired task the user names."""
    from mats_core.run.harness import Pipeline, RunConfig

    pipe = Pipeline(encoder, None, {"encoder": encoder_spec}, registry)
    audio, text, captions, _ = task_embeddings(
        pipe, task, registry, RunConfig(), {"task": task_params or {}, "limit": limit}
    )
    value = float(((audio.double() - text.double()) ** 2).sum(-1).mean() / audio.shape[1])
    return value, {
        "task": task,
        "task_params": dict(task_params or {}),
        "clips": int(audio.shape[0]),
        "gap_variance": value,
    }


def as_rich_table(report: dict) -> Any:
    """The statistics (rows) per task (columns), then each bridge's cosine before -> after."""
    from rich.table import Table

    names = list(report["tasks"])
    table = Table(title=f"modality gap · encoder {report['encoder']['name']}")
    table.add_column("statistic")
    for n in names:
        table.add_column(n, justify="right")
    first = report["tasks"][names[0]]
    for key in [k for k, v in first.items() if isinstance(v, (int, float))]:
        table.add_row(key, *[_num(report["tasks"][n].get(key)) for n in names])
    table.add_row("probe labels", *[str(report["tasks"][n].get("probe_labels")) for n in names])
    for b in first.get("bridges", {}):
        table.add_row(
            f"cos to caption: {b}",
            *[
                f"{_num(e['bridges'][b]['before'])} -> {_num(e['bridges'][b]['after'])}"
                for e in report["tasks"].values()
            ],
        )
    return table


def _num(x) -> str:
    return "—" if x is None else (str(x) if isinstance(x, int) else f"{x:.4g}")

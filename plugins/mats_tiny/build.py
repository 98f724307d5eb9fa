"""`mats-bench tiny build`: regenerate the tiny world's data, CLAP and LM from one seed,
measure their quality and write ``metadata.json``.

The CLAP's quality report holds what MATS needs to be measurable here: zero-shot
classification, audio->text retrieval, and the modality gap, both as geometry (paired
cosine, centroid distance) and as its practical effect, the gap probe: a classifier
trained on clean TEXT embeddings must do clearly worse on AUDIO embeddings, and noise
injection at training (the paper's remedy) must recover part of the loss.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from mats_core import MatsError
from mats_tiny import data, text  # noqa: E402
from mats_tiny.regime import world_regime  # noqa: E402
from mats_tiny.world import CLASSES, FAMILIES, content_hash, render  # noqa: E402

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
FULL = {"sizes": dict(data.SIZES), "epochs": 12, "batch": 64, "lr": 1e-3}
QUICK = {"sizes": {"clap-pairs": 128, "text-train": 400, "val": 32, "test": 48}, "epochs": 1, "batch": 32, "lr": 1e-3}
GAP_LIMITS = {"paired_cosine_max": 0.6, "centroid_distance_min": 0.5}
# Checkpoint selection on val keeps a margin inside GAP_LIMITS, so that test lands inside too.
SELECT_LIMITS = {"paired_cosine_max": 0.56, "centroid_distance_min": 0.56}
ZERO_SHOT_TEMPLATES = ("the sound of {}.", "{} can be heard.", "you can hear {}.", "{}.")
NOISE_VARIANCE = 0.005  # the probe's noise: about the tiny CLAP's measured gap, E|a - t|^2 / d (0.0044 on val);
# the paper's 0.015 is for 1024-d MS-CLAP and drowns a 256-d unit vector


def render_all(scenes, progress: Callable | None = None, workers: int | None = None) -> torch.Tensor:
    """[N, T] float32 audio of the scenes, rendered in ``workers`` processes on Linux (default:
    one per CPU, up to 4) for big splits; each clip depends on its own seed only, so the
    result is identical to a serial render."""
    import multiprocessing as mp
    import sys

    scenes = list(scenes)
    workers = min(4, os.cpu_count() or 1) if workers is None else workers
    # fork (Linux) does not re-run the caller's __main__, unlike spawn; the workers run
    # numpy only, so torch's threads in the parent do not matter.
    parallel = workers > 1 and len(scenes) >= 256 and sys.platform.startswith("linux")
    out: list[np.ndarray] = []
    if parallel:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
            for wav in pool.map(render, scenes, chunksize=32):
                out.append(wav)
                if progress:
                    progress(len(out))
    else:
        for s in scenes:
            out.append(render(s))
            if progress:
                progress(len(out))
    return torch.from_numpy(np.stack(out)) if out else torch.zeros(0)


# -- quality --------------------------------------------------------------------------------
def class_prompts(cls: str) -> list[str]:
    """Zero-shot prompts of a class: templates around its label phrase plus its names and
    verbs (CLIP-style prompt ensembling over the class's synonyms; no scene attributes)."""
    lex = text.LEXICON[cls]
    return [t.format(text.LABEL_PHRASE[cls]) for t in ZERO_SHOT_TEMPLATES] + [
        f"{np_} {verb}." for np_ in lex["np"] for verb, _ in lex["vb"]
    ]


def zero_shot_weights(encoder) -> torch.Tensor:
    """[classes, dim] normalised text prototypes: the mean of each class's prompt embeddings."""
    protos = []
    for c in CLASSES:
        emb = F.normalize(encoder.embed_text(class_prompts(c)), dim=-1)
        protos.append(F.normalize(emb.mean(0), dim=-1))
    return torch.stack(protos)


def clap_quality(encoder, scenes, wavs: torch.Tensor) -> dict[str, float]:
    """Zero-shot accuracy (single-source clips), a2t/t2a R@1/R@5 over 5 captions per clip,
    and the gap: mean paired audio-caption cosine and audio/text centroid distance."""
    a = F.normalize(encoder.embed_audio(wavs), dim=-1)
    caps = [text.captions(s, k=5) for s in scenes]
    t = F.normalize(encoder.embed_text([c for cs in caps for c in cs]), dim=-1).view(len(scenes), 5, -1)
    single = [i for i, s in enumerate(scenes) if len(s.sources) == 1]
    gold = torch.tensor([CLASSES.index(scenes[i].sources[0].cls) for i in single])
    pred = (a[single] @ zero_shot_weights(encoder).T).argmax(1)
    sim = a @ t.reshape(-1, t.shape[-1]).T  # [N, 5N]
    owner = torch.arange(len(scenes)).repeat_interleave(5)
    ranked = owner[sim.argsort(1, descending=True)]  # clip ids by rank, per audio query
    first_hit = (ranked == torch.arange(len(scenes))[:, None]).float().argmax(1)
    t2a_rank = (sim.T.argsort(1, descending=True) == owner[:, None]).float().argmax(1)
    tc = F.normalize(t.mean(1), dim=-1)
    return {
        "zero_shot_accuracy": float((pred == gold).float().mean()) if single else float("nan"),
        "zero_shot_clips": float(len(single)),
        "a2t_R1": float((first_hit < 1).float().mean()),
        "a2t_R5": float((first_hit < 5).float().mean()),
        "t2a_R1": float((t2a_rank < 1).float().mean()),
        "t2a_R5": float((t2a_rank < 5).float().mean()),
        "paired_cosine": float((a[:, None] * t).sum(-1).mean()),
        "centroid_distance": float((a.mean(0) - t.reshape(-1, t.shape[-1]).mean(0)).norm()),
        "audio_text_cosine_to_own_caption_mean": float((a * tc).sum(-1).mean()),
    }


def gap_probe(
    encoder,
    train_scenes,
    test_scenes,
    test_wavs: torch.Tensor,
    seed: int = 0,
    audio_scenes=None,
    audio_wavs: torch.Tensor | None = None,
    steps: int = 2000,
) -> dict[str, float]:
    """The gap's practical effect, measured like MATS meets it. A small MLP is trained to
    convergence on clean TEXT embeddings of single-source captions -> class, then tested on
    held-out text and on AUDIO embeddings; then again with noise-injected text training (the
    paper's noise). With ``audio_scenes``/``audio_wavs`` an audio-trained MLP gives the ceiling."""
    single = [s for s in train_scenes if len(s.sources) == 1]
    x = F.normalize(encoder.embed_text([c for s in single for c in text.captions(s, k=2)]), dim=-1)
    y = torch.tensor([CLASSES.index(s.sources[0].cls) for s in single]).repeat_interleave(2)
    idx = [i for i, s in enumerate(test_scenes) if len(s.sources) == 1]
    gold = torch.tensor([CLASSES.index(test_scenes[i].sources[0].cls) for i in idx])
    audio = F.normalize(encoder.embed_audio(test_wavs[idx]), dim=-1)
    txt = F.normalize(encoder.embed_text([text.captions(test_scenes[i], k=1)[0] for i in idx]), dim=-1)
    out = {"noise_variance": NOISE_VARIANCE}
    for name, var in (("clean", 0.0), ("noise", NOISE_VARIANCE)):
        clf = _fit_mlp(x, y, var, seed, steps)
        with torch.no_grad():
            out[f"{name}_text_accuracy"] = float((clf(txt).argmax(1) == gold).float().mean())
            out[f"{name}_audio_accuracy"] = float((clf(audio).argmax(1) == gold).float().mean())
    if audio_scenes is not None and audio_wavs is not None:
        keep = [i for i, s in enumerate(audio_scenes) if len(s.sources) == 1]
        xa = F.normalize(encoder.embed_audio(audio_wavs[keep]), dim=-1)
        ya = torch.tensor([CLASSES.index(audio_scenes[i].sources[0].cls) for i in keep])
        clf = _fit_mlp(xa, ya, 0.0, seed, steps)
        with torch.no_grad():
            out["audio_trained_audio_accuracy"] = float((clf(audio).argmax(1) == gold).float().mean())
    return out


def _fit_mlp(x: torch.Tensor, y: torch.Tensor, noise_var: float, seed: int, steps: int = 2000):
    """Full-batch Adam to convergence: a decoder fitted to its training distribution, as a
    MATS mapper is (an under-trained, smoother one would hide the gap)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny MLP: extra threads only wait on each other
    try:
        return _fit(x, y, noise_var, seed, steps)
    finally:
        torch.set_num_threads(threads)


def _fit(x: torch.Tensor, y: torch.Tensor, noise_var: float, seed: int, steps: int):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    clf = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 128), torch.nn.ReLU(), torch.nn.Linear(128, len(CLASSES)))
    opt = torch.optim.Adam(clf.parameters(), lr=3e-3)
    for _ in range(steps):
        xb = x if not noise_var else F.normalize(x + noise_var**0.5 * torch.randn(x.shape, generator=g), dim=-1)
        loss = F.cross_entropy(clf(xb), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return clf.eval()


# -- the pipeline ---------------------------------------------------------------------------
def build_all(
    out: str | os.PathLike | None = None,
    quick: bool = False,
    seed: int = 0,
    log: Callable = None,
    threads: int | None = None,
    lm: bool = True,
) -> dict:
    """Data -> tiny CLAP (+ quality) -> tiny LM (if ``mats_tiny.lm`` exists) -> metadata.json.

    ``out`` defaults to the package's ``weights/`` (what ships); ``quick`` uses tiny sizes
    for a smoke test of the whole pipeline; ``threads`` caps torch's threads (1 is faster
    on a busy machine, where threads wait on each other); ``lm=False`` keeps the LM that is
    already in ``out/lm`` (its file hashes are still recorded)."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _build(Path(out) if out is not None else WEIGHTS_DIR, quick, seed, log, lm)
    finally:
        torch.set_num_threads(before)


def _build(root: Path, quick: bool, seed: int, log: Callable | None, train_lm_too: bool) -> dict:
    from rich.console import Console
    from rich.progress import Progress

    from mats_tiny.clap import ClapConfig, TinyCLAP, param_count, save_clap, train_clap

    console = Console(stderr=True)
    log = log or (lambda msg: console.log(msg))
    recipe = QUICK if quick else FULL
    sizes = recipe["sizes"]
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    timings: dict[str, float] = {}

    scenes = {split: data.make_scenes(split, sizes[split], seed=seed) for split in data.SPLITS}
    wavs = {}
    with Progress(console=console, transient=True) as bar:
        for split in ("clap-pairs", "val", "test"):
            job = bar.add_task(f"rendering {split}", total=len(scenes[split]))
            wavs[split] = render_all(scenes[split], lambda i, job=job: bar.update(job, completed=i))
    records = data.text_records("text-train", sizes["text-train"], seed=seed)
    captions = [text.captions(s, k=5) for s in scenes["clap-pairs"]]
    timings["data_s"] = time.perf_counter() - started
    data_hash = content_hash(
        [w.numpy() for split in ("clap-pairs", "val", "test") for w in wavs[split]],
        [c for cs in captions for c in cs] + [json.dumps(r, sort_keys=True) for r in records],
    )
    log(f"data: {', '.join(f'{k} {len(v)}' for k, v in scenes.items())}; hash {data_hash[:16]}")

    # the probe's text has every class equally often (the CLAP pairs' captions): it measures the
    # gap, not the training text's long tail
    probe_scenes = data.make_scenes("clap-pairs", min(3000, sizes["clap-pairs"]), seed=seed)

    def monitor(model, tokenizer, epoch):
        enc = TinyCLAP(model, tokenizer)
        q = clap_quality(enc, scenes["val"], wavs["val"])
        return {
            f"val_{k}": v
            for k, v in q.items()
            if k in ("zero_shot_accuracy", "a2t_R5", "paired_cosine", "centroid_distance")
        }

    def select(row):  # best val zero-shot among checkpoints whose gap is still real-CLAP-like
        if quick:
            return row["epoch"]
        ok = (
            row["val_paired_cosine"] <= SELECT_LIMITS["paired_cosine_max"]
            and row["val_centroid_distance"] >= SELECT_LIMITS["centroid_distance_min"]
        )
        return row["val_zero_shot_accuracy"] if ok else None

    t0 = time.perf_counter()
    model, tokenizer, history = train_clap(
        wavs["clap-pairs"],
        captions,
        ClapConfig(),
        epochs=recipe["epochs"],
        batch_size=recipe["batch"],
        lr=recipe["lr"],
        seed=seed,
        log=log,
        monitor=monitor,
        select=select,
        tokenizer_texts=[r["text"] for r in records[:2000]] + [p for c in CLASSES for p in class_prompts(c)],
    )
    timings["clap_train_s"] = time.perf_counter() - t0
    encoder = TinyCLAP(model, tokenizer)
    quality = clap_quality(encoder, scenes["test"], wavs["test"])
    quality["gap_probe"] = gap_probe(
        encoder,
        probe_scenes,
        scenes["test"],
        wavs["test"],
        seed=seed,
        audio_scenes=scenes["clap-pairs"],
        audio_wavs=wavs["clap-pairs"],
    )
    hashes = {f"clap/{k}": v for k, v in save_clap(model, tokenizer, root / "clap").items()}
    log(f"clap: {json.dumps(quality)}")
    regime = world_regime(encoder, records, scenes["test"], quality, metric=_caption_metric(log))
    log(f"regime: {json.dumps(regime)}")

    lm_result = None
    try:
        from mats_tiny.lm import train_lm
    except ImportError:
        train_lm = None
        log("mats_tiny.lm not found: the tiny LM is not rebuilt")
    if train_lm is not None and train_lm_too:
        t0 = time.perf_counter()
        lm_result = train_lm(records, root / "lm", quick, seed)
        timings["lm_train_s"] = time.perf_counter() - t0
    hashes.update({f"lm/{f.name}": _sha256(f) for f in sorted((root / "lm").glob("*")) if f.is_file()})

    timings["total_s"] = time.perf_counter() - started
    meta = {
        "seed": seed,
        "quick": quick,
        "sizes": sizes,
        "classes": list(CLASSES),
        "families": FAMILIES,
        "heldout_pairs": data.HELDOUT_PAIRS,
        "heldout_attrs": data.HELDOUT_ATTRS,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "timings": timings,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "data_hash": data_hash,
        "fingerprint": data.fingerprint(seed),
        "clap": {
            "params": param_count(model),
            "config": model.cfg.__dict__ | {"channels": list(model.cfg.channels)},
            "epochs": recipe["epochs"],
            "history": history,
            "test": quality,
            "gap_limits": GAP_LIMITS,
        },
        "regime": regime,
        "lm": lm_result,
        "files": hashes,
    }
    (root / "metadata.json").write_text(json.dumps(meta, indent=1, default=_jsonable) + "\n")
    log(f"built in {timings['total_s']:.0f} s -> {root}")
    return meta


def _caption_metric(log: Callable):
    """The registered caption metric (CIDEr-D of the regime's memory-only bound), or None
    when it cannot start here (it needs Java); the bound is then left out, and said so."""
    from mats_core.scoring import shared_metric

    try:
        return shared_metric("caption")
    except Exception as e:  # noqa: BLE001 - an optional measurement, never a failed build
        log(f"regime: no caption metric ({e}); oracle_bank_cider left out")
        return None


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _jsonable(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, (Path, tuple, set)):
        return str(x) if isinstance(x, Path) else list(x)
    raise TypeError(f"not JSON-serialisable: {type(x).__name__}")


def print_info(weights: str | os.PathLike | None = None) -> None:
    """Print a build's sizes, timings and quality numbers (from its metadata.json)."""
    from rich.console import Console
    from rich.table import Table

    path = Path(weights) if weights is not None else WEIGHTS_DIR
    meta_file = path / "metadata.json"
    if not meta_file.is_file():
        raise MatsError(f"{meta_file} not found: run `mats-bench tiny build` first")
    meta = json.loads(meta_file.read_text())
    table = Table(title=f"tiny world (seed {meta['seed']}, built {meta['built_at']})")
    table.add_column("what")
    table.add_column("value", justify="right")
    for k, v in meta["sizes"].items():
        table.add_row(f"size {k}", str(v))
    for k, v in (meta.get("regime") or {}).items():
        table.add_row(f"regime {k}", f"{v:.3f}" if isinstance(v, float) else str(v))
    test = meta["clap"]["test"]
    for k, v in test.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                table.add_row(f"clap {k} {k2}", f"{v2:.3f}")
        else:
            table.add_row(f"clap {k}", f"{v:.3f}")
    table.add_row("clap params", str(meta["clap"]["params"]))
    for k, v in (meta.get("lm") or {}).items():
        if isinstance(v, (int, float)):
            table.add_row(f"lm {k}", f"{v:.4g}")
    for k, v in meta["timings"].items():
        table.add_row(k, f"{v:.1f}")
    Console().print(table)

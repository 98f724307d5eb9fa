"""Draw the modality-gap figure of the Concepts page from real tiny-world embeddings.

    python docs/scripts/gap_figure.py                      # -> docs/img/modality-gap.png

The shipped tiny CLAP embeds held-out test clips (audio) and one reference caption of each
(text); a memory bank of training captions is embedded the same way. Each panel is the same
2-D PCA (fitted on the clean audio and text embeddings) of the text and of what one bridge
makes of the audio: ``none`` (raw audio), ``noise`` (the noise-injected TEXT the mapper is
trained on), ``memory`` and ``santa`` (bridged audio), each with its preset params. Panel
titles give the mean cosine between each point and its own clip's caption. Uses only the
public API (``mats_core.build``), so it also documents how to get at embeddings.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

OUT = Path(__file__).resolve().parents[1] / "img" / "modality-gap.png"
COLORS = {"text": "#1f77b4", "audio": "#ff7f0e"}


def embeddings(encoder_params: dict, clips: int, memory: int, seed: int):
    """(audio [N, d], paired captions [N, d], memory bank [M, d]), all L2-normalised."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from mats_core import build

    encoder = build("encoder", "tiny", **encoder_params)
    samples = list(build("task", "tiny-caption", split="test", limit=clips).samples())
    rate = samples[0].sample_rate
    assert rate == encoder.sample_rate, f"tiny clips are {rate} Hz, the encoder wants {encoder.sample_rate} Hz"
    longest = max(len(s.audio) for s in samples)
    waves = torch.from_numpy(np.stack([np.pad(s.audio, (0, longest - len(s.audio))) for s in samples]))
    # Each training record is an independent random scene, so the first ``memory`` records are
    # a random sample of the training text, as the run's memory bank is.
    texts = sorted({r["text"] for r in build("corpus", "tiny", n=memory).records()})
    with torch.no_grad():
        audio = F.normalize(encoder.embed_audio(waves).float(), dim=-1)
        captions = F.normalize(encoder.embed_text([s.references[0] for s in samples]).float(), dim=-1)
        bank = F.normalize(encoder.embed_text(texts).float(), dim=-1)
    return audio, captions, bank


def bridged(audio, captions, bank, seed: int) -> dict[str, tuple[str, object]]:
    """Per bridge: (what the points are, [N, d] points)."""
    import torch

    from mats_core import build

    out = {}
    for name in ("none", "noise", "memory", "santa"):
        bridge = build("bridge", name)
        bridge.fit(bank)
        gen = torch.Generator().manual_seed(seed)
        if name == "noise":
            out[name] = ("text + training noise", bridge.train(captions, gen))
        else:
            out[name] = ("audio" if name == "none" else f"{name}(audio)", bridge.infer(audio, gen))
    return out


def draw(audio, captions, panels: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    both = torch.cat([audio, captions])
    mean = both.mean(0)
    _, _, v = torch.pca_lowrank(both - mean, q=2, center=False)

    def xy(x):
        return ((x - mean) @ v).numpy()

    text_xy = xy(captions)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.1 * len(panels), 3.2), sharex=True, sharey=True)
    for ax, (name, (label, points)) in zip(axes, panels.items()):
        pts = xy(points)
        cos = float((points * captions).sum(-1).mean())
        ax.scatter(text_xy[:, 0], text_xy[:, 1], s=7, c=COLORS["text"], alpha=0.55, label="text (captions)", lw=0)
        ax.scatter(pts[:, 0], pts[:, 1], s=7, c=COLORS["audio"], alpha=0.55, label=label, lw=0)
        ax.set_title(f"{name}: cos to own caption {cos:.2f}", fontsize=9)
        ax.legend(fontsize=7, loc="lower left", markerscale=2, framealpha=0.8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("tiny CLAP, 2-D PCA: text vs what each bridge feeds the mapper", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", help="a tiny-world build's clap/ folder (default: the shipped one)")
    ap.add_argument("--clips", type=int, default=200, help="test clips (and captions) drawn")
    ap.add_argument("--memory", type=int, default=2000, help="training records whose captions form the memory bank")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    import torch

    torch.manual_seed(args.seed)
    audio, captions, bank = embeddings({"weights": args.weights} if args.weights else {}, args.clips, args.memory,
                                       args.seed)
    draw(audio, captions, bridged(audio, captions, bank, args.seed), args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()

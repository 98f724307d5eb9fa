"""How separable the tiny world's 48 classes are from the audio alone, with no CLAP.

Renders N single-source clips per class through ``mats_tiny.world.render`` (random count,
loudness, pitch, distance; the real path), summarises each by 64-band log-mel mean + std
over time, and reports 5-fold cross-validated logistic-regression accuracy overall, per
family and for the weakest classes. A class this cannot tell apart, a CLAP will struggle
with too; prints Markdown for benchmarks/RESULTS.md.

    python benchmarks/bench_world_classes.py [--clips 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def features(x: np.ndarray, bands: int = 64) -> np.ndarray:
    frames = x[: len(x) // 512 * 512].reshape(-1, 512) * np.hanning(512)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    edges = np.unique(np.geomspace(2, 257, bands + 1).astype(int))
    logmel = np.log(np.stack([power[:, a:b].sum(1) for a, b in zip(edges[:-1], edges[1:])], 1) + 1e-10)
    return np.concatenate([logmel.mean(0), logmel.std(0)])


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mats_tiny import data
    from mats_tiny.world import CLASSES, FAMILY, Scene, render

    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    x, y = [], []
    for k, c in enumerate(CLASSES):
        for i in range(args.clips):
            scene = Scene((data._source(c, rng),), seed=10**6 * (args.seed + 1) + 1000 * k + i)
            x.append(features(render(scene)))
            y.append(k)
    x, y = np.stack(x), np.array(y)
    render_s = time.perf_counter() - t0
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.5))
    pred = cross_val_predict(clf, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=args.seed))
    per = {c: float((pred[y == k] == k).mean()) for k, c in enumerate(CLASSES)}
    print(f"{len(CLASSES)} classes x {args.clips} clips, rendered + featurised in {render_s:.1f} s")
    print(
        f"| measure | accuracy |\n|---|---:|\n| all classes (5-fold logistic regression) | {(pred == y).mean():.3f} |"
    )
    for fam in dict.fromkeys(FAMILY.values()):
        print(f"| family {fam} | {np.mean([v for c, v in per.items() if FAMILY[c] == fam]):.3f} |")
    weakest = sorted(per, key=per.get)[:6]
    print("| weakest classes | " + ", ".join(f"{c} {per[c]:.2f}" for c in weakest) + " |")


if __name__ == "__main__":
    main()

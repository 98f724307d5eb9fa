"""How much of the tiny world's class identity the tiny CLAP's audio embedding carries: a
linear probe (multinomial logistic regression on the unit-norm embedding) trained on the
single-source clips of the `clap-pairs` split and scored on the single-source test clips,
beside a run's classification accuracy.

It separates the two things a low MATS-Audio ceiling can mean: an embedding that does not
hold the class (the probe is low too), or a mapper + LLM path that does not read it out (the
probe is far above the row). Issue 16's measurements are in benchmarks/RESULTS.md.

    python benchmarks/probe_audio.py [--train 5000,20000] [--steps 500] [--run RUN_DIR --row mats-audio]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def single_source(split: str, n: int | None, encoder, batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit-norm audio embeddings and class indices of the single-source scenes among the first n of split."""
    from mats_tiny import data
    from mats_tiny.world import CLASSES, render

    scenes = [s for s in data.make_scenes(split, n) if len(s.sources) == 1]
    zs = []
    with torch.no_grad():
        for i in range(0, len(scenes), batch):
            wav = torch.stack([torch.from_numpy(render(s)) for s in scenes[i : i + batch]])
            zs.append(torch.nn.functional.normalize(encoder.embed_audio(wav), dim=-1))
    return torch.cat(zs), torch.tensor([list(CLASSES).index(s.sources[0].cls) for s in scenes])


SCALE = 10.0  # unit-norm inputs: a wider logit range than the raw embedding gives


def predict(probe: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return probe(x * SCALE)


def fit_probe(x: torch.Tensor, y: torch.Tensor, classes: int, steps: int, seed: int = 0) -> torch.nn.Linear:
    torch.manual_seed(seed)
    probe = torch.nn.Linear(x.shape[1], classes)
    opt = torch.optim.Adam(probe.parameters(), lr=0.05)
    for _ in range(steps):  # full batch: a few thousand 256-d points
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(predict(probe, x), y) + 1e-4 * probe.weight.pow(2).sum()
        loss.backward()
        opt.step()
    return probe


def run_accuracy(run: Path, row: str) -> float:
    """The row's own scored tiny-classify accuracy_exact (results.json), not a re-scoring."""
    path = run / row / "results.json"
    path = path if path.exists() else run / "results.json"  # a one-row run keeps its files at the top
    return json.loads(path.read_text())["results"]["tiny-classify"]["accuracy_exact"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", default="5000,20000", help="clap-pairs scenes to train the probe on, comma-separated")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--run", type=Path, help="a run dir, to print its row's classification accuracy beside the probe")
    ap.add_argument("--row", default="mats-audio")
    args = ap.parse_args()

    from mats_core import build
    from mats_tiny.world import CLASSES

    encoder = build("encoder", "tiny")
    x_test, y_test = single_source("test", None, encoder)
    for n in map(int, args.train.split(",")):
        started = time.perf_counter()
        x, y = single_source("clap-pairs", n, encoder)
        probe = fit_probe(x, y, len(CLASSES), args.steps)
        with torch.no_grad():
            train_acc = (predict(probe, x).argmax(1) == y).float().mean().item()
            test_acc = (predict(probe, x_test).argmax(1) == y_test).float().mean().item()
        print(
            f"probe on {len(y)} single-source clips of {n} clap-pairs scenes: train {train_acc:.3f}, "
            f"test {test_acc:.3f} (n={len(y_test)}), {time.perf_counter() - started:.0f} s"
        )
    if args.run:
        print(f"{args.run}/{args.row} tiny-classify accuracy_exact: {run_accuracy(args.run, args.row):.3f}")


if __name__ == "__main__":
    main()

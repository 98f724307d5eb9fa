"""The text oracle of a tiny-world checkpoint: its scores when the CLAP *text* embedding of an
unseen caption of each clip's scene replaces the audio embedding.

It splits what a text-only MATS row loses into two parts. The text oracle reads text, the
modality the model was trained on, so it measures what the mapper and LM can decode. The
distance from the oracle down to the `none` row is what the modality gap costs. A grammar
caption scored against a clip's five references sets the scale: one human-like caption
reaches about 1.0 CIDEr-D.

The input caption of each scene uses salt 7, so it is never one of the five references
(salt 0) and, as a rule, not a training text either (training scenes are disjoint). QA gets a
caption that states every attribute, as the question records in training do. Scoring goes
through each task's own `score()`: QA's per-kind accuracies come with it. Issue 16's numbers
are in benchmarks/RESULTS.md.

    python benchmarks/text_oracle.py CHECKPOINT... [--split val|test] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

TASKS = {"tiny-caption": "caption", "tiny-classify": "classification", "tiny-qa": "qa"}


def oracle_text(sample, kind: str) -> str:
    """The unseen caption of the sample's own scene (its ``meta["scene"]``)."""
    from mats_tiny import text as T
    from mats_tiny.world import Scene

    return T.captions(Scene.from_dict(sample.meta["scene"]), k=1, salt=7, omit=0.0 if kind == "qa" else 1.0)[0]


def score_checkpoint(checkpoint: str, split: str, batch: int = 64) -> dict[str, dict]:
    from mats_core.run.harness import Pipeline
    from mats_tiny.tasks import TinyTask

    pipe = Pipeline.from_checkpoint(checkpoint, device="cpu")
    model, _ = pipe.load(checkpoint)
    out = {}
    for name, kind in TASKS.items():
        task = TinyTask(name, kind, split=split)
        samples = task.samples()
        texts = [oracle_text(s, kind) for s in samples]
        z = pipe.encoder.embed_text(texts)
        preds: list[str] = []
        for i in range(0, len(samples), batch):
            preds += model.generate(z[i : i + batch], [s.instruction for s in samples[i : i + batch]])
        rows = [
            {"id": s.id, "prediction": p, "references": s.references, "label": s.label, "error": None}
            for s, p in zip(samples, preds)
        ]
        out[name] = task.score(rows, encoder=pipe.encoder)
    return out


def human_cider(split: str) -> dict[str, float]:
    """One grammar caption against the five references, and reference 0 against references 1-4."""
    from mats_core.scoring import shared_metric
    from mats_tiny.tasks import TinyTask

    metric = shared_metric("caption")
    samples = TinyTask("tiny-caption", "caption", split=split).samples()
    refs = [s.references for s in samples]
    other = [oracle_text(s, "caption") for s in samples]
    return {
        "unseen_caption_vs_5_refs": float(metric.compute(other, refs)["cider"]),
        "ref0_vs_refs_1_4": float(metric.compute([r[0] for r in refs], [r[1:] for r in refs])["cider"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--split", default="test", choices=["val", "test"])
    ap.add_argument("--json", type=Path, help="write every score here")
    args = ap.parse_args()
    t0 = time.time()
    result = {"split": args.split, "human": human_cider(args.split)}
    print(f"one unseen grammar caption vs the 5 references: CIDEr-D {result['human']['unseen_caption_vs_5_refs']:.3f}")
    for ck in args.checkpoints:
        s = result[ck] = score_checkpoint(ck, args.split)
        qa = s["tiny-qa"]
        kinds = " ".join(f"{k[9:]} {v:.2f}" for k, v in qa.items() if k.startswith("accuracy_"))
        print(
            f"{ck}: caption CIDEr-D {s['tiny-caption']['cider']:.3f}, classify {s['tiny-classify']['accuracy_exact']:.3f}, "
            f"QA {qa['accuracy']:.3f} ({kinds})"
        )
    print(f"{time.time() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

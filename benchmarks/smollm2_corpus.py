"""A class-balanced classification corpus for SmolLM2's prefix-only phase (issue 17).

The tiny world's training text is Zipf-distributed over its 48 classes (the head, "buzzer", is 27%
of the classification records): a frozen pretrained LLM trained on it learns to answer the head
and ignores the prefix (benchmarks/RESULTS.md, issue 17). This writes the classification records
of a larger draw of the same training text (split text-train, so no test scene), ``--per-class``
of each class (drawn with replacement where a class has fewer), shuffled, as a user JSONL corpus.
``--caption N`` / ``--qa N`` add N caption / QA records of the same draw (as drawn, not balanced:
a caption names no single class), for a second phase that learns to describe and answer.

    python benchmarks/smollm2_corpus.py OUT.jsonl [--per-class 60] [--caption 0] [--qa 0] [--draw 200000] [--seed 0]
"""

from __future__ import annotations

import argparse
import collections
import json
import random


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--per-class", type=int, default=60)
    ap.add_argument("--caption", type=int, default=0, help="caption records to add")
    ap.add_argument("--qa", type=int, default=0, help="QA records to add")
    ap.add_argument(
        "--draw", type=int, default=200_000, help="training-text records to draw the classification ones from"
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from mats_core.corpus import load_corpus

    by_class, by_task = collections.defaultdict(list), collections.defaultdict(list)
    _, records = load_corpus("tiny", n=args.draw, seed=args.seed)  # the registered corpus, validated
    for r in records:
        by_task[r["task"]].append(r)
        if r["task"] == "classification":
            by_class[r["answer"]].append(r)
    rng = random.Random(args.seed)
    out = []
    for _, rows in sorted(by_class.items()):
        out += (
            rng.sample(rows, args.per_class)
            if len(rows) >= args.per_class
            else [rng.choice(rows) for _ in range(args.per_class)]
        )
    for task, n in (("caption", args.caption), ("qa", args.qa)):
        if n:
            out += rng.sample(by_task[task], n)
    rng.shuffle(out)
    with open(args.out, "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in out)
    fewest = min(len(v) for v in by_class.values())
    extra = "".join(f" + {n} {t}" for t, n in (("caption", args.caption), ("qa", args.qa)) if n)
    print(
        f"{len(out)} records: {len(by_class)} classes x {args.per_class}{extra} (the rarest class has {fewest} distinct records) -> {args.out}"
    )


if __name__ == "__main__":
    main()

"""Where a SmolLM2-135M training step's time goes on CPU, and what each speed-up buys (issue 17).

One process, the same tiny-corpus records for every variant, rounds interleaved (A B C ... A B C)
so that load from other processes hits all variants alike. Prints one row per variant:
records/s, its ratio to the baseline (the recipe before issue 17: the LM head over every
position, fp32), and the forward share of a step.

    python benchmarks/bench_smollm2_step.py [--rounds 3] [--batch-size 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from contextlib import nullcontext


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--batches", type=int, default=4, help="batches per variant per round")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None, help="also write the rows here")
    ap.add_argument(
        "--skip", default="", help="comma-separated variant numbers to leave out (1-based; the baseline always runs)"
    )
    args = ap.parse_args()

    import torch

    from mats_core import build
    from mats_core.corpus import load_corpus
    from mats_core.model.pipeline import MATSModel

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    encoder = build("encoder", "tiny")
    llm = build("llm", "smollm2", lora={"r": 8, "alpha": 32, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]})
    mapper = {"type": "transformer", "prefix_length": 8, "clip_length": 8, "num_layers": 2, "width": 128, "heads": 4}
    model = MATSModel(llm, encoder.dim, mapper)
    _, records = load_corpus("tiny")
    rng = random.Random(0)
    pool = rng.sample(records, args.batch_size * args.batches)
    with torch.no_grad():
        z_pool = torch.nn.functional.normalize(encoder.embed_text([r["text"] for r in pool]), dim=-1)
    lora = [p for p in llm.trainable_parameters()]
    opt = torch.optim.AdamW(model.trainable_parameters(), lr=0.0)  # lr 0: every round sees the same weights

    def batches(grouped: bool):
        order = list(range(len(pool)))
        if grouped:  # length bucketing: similar answer lengths share a batch (less padding)
            order.sort(key=lambda i: len(llm.tokenize(pool[i]["answer"])))
        for s in range(0, len(order), args.batch_size):
            idx = order[s : s + args.batch_size]
            yield z_pool[idx], [pool[i]["instruction"] for i in idx], [pool[i]["answer"] for i in idx]

    variants = {
        "baseline: head at every position, fp32": dict(keep=False),
        "head at labelled positions only": dict(keep=True),
        "+ bf16 autocast": dict(keep=True, bf16=True),
        "+ length-grouped batches": dict(keep=True, grouped=True),
        "+ LoRA frozen (prefix-only warm-up)": dict(keep=True, frozen=True),
        "head at labelled positions, 1 thread": dict(keep=True, threads=1),
    }
    skip = {int(i) for i in args.skip.split(",") if i.strip()}
    variants = {name: v for i, (name, v) in enumerate(variants.items(), 1) if i == 1 or i not in skip}
    stats = {name: {"seconds": 0.0, "forward": 0.0, "records": 0, "tokens": 0} for name in variants}

    def run(name: str, v: dict) -> None:
        llm.answer_logits_only = v.get("keep", True)
        torch.set_num_threads(v.get("threads", args.threads))
        for p in lora:
            p.requires_grad_(not v.get("frozen", False))
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if v.get("bf16") else nullcontext()
        for z, instr, ans in batches(v.get("grouped", False)):
            t0 = time.perf_counter()
            with autocast:
                emb, mask, labels = model.assemble(model.mapper(z), instr, ans)
                loss = llm.loss(emb, mask, labels)
            t1 = time.perf_counter()
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            t2 = time.perf_counter()
            s = stats[name]
            s["seconds"] += t2 - t0
            s["forward"] += t1 - t0
            s["records"] += len(instr)
            s["tokens"] += int(mask.numel())

    for name, v in variants.items():  # warm-up: first calls allocate and pick kernels
        run(name, v)
        stats[name] = {"seconds": 0.0, "forward": 0.0, "records": 0, "tokens": 0}
    for _ in range(args.rounds):
        for name, v in variants.items():
            run(name, v)
    base = stats["baseline: head at every position, fp32"]
    base_rate = base["records"] / base["seconds"]
    rows = []
    print(
        f"SmolLM2-135M + LoRA r 8 (q, v) + mapper, batch {args.batch_size}, {args.threads} threads, {args.rounds} rounds"
    )
    print(f"{'variant':44s} {'records/s':>9s} {'x base':>7s} {'fwd share':>9s} {'padded tokens/row':>17s}")
    for name, s in stats.items():
        rate = s["records"] / s["seconds"]
        row = {
            "variant": name,
            "records_per_s": round(rate, 3),
            "ratio": round(rate / base_rate, 3),
            "forward_share": round(s["forward"] / s["seconds"], 3),
            "tokens_per_row": round(s["tokens"] / s["records"], 1),
        }
        rows.append(row)
        print(
            f"{name:44s} {rate:9.2f} {rate / base_rate:7.2f} {row['forward_share']:9.2f} {row['tokens_per_row']:17.1f}"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()

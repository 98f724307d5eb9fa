"""One prepared GPU check (run it whole on a lent GPU; each part reports even if another fails).

1. the tiny pipeline (bridge comparison) on CUDA vs the same on CPU;
2. bf16 training steps of a Vicuna-7B-shaped random LLaMA + the paper's mapper + LoRA r 8 on q,v;
3. harness generation vs raw ``generate`` on the same model and batch (overhead target <= 5%),
   and our batched static-cache path vs the published path (one clip at a time, eager dynamic cache,
   same decoding: beam 4, no_repeat_ngram_size 2, repetition_penalty 2.0) (target >= 2x);
4. Santa search on 1M / 5M banks (benchmarks/bench_santa.py).

    python benchmarks/gpu_check.py --out gpu_results.md            # on the GPU machine
    python benchmarks/gpu_check.py --device cpu --small             # smoke test of the code paths on CPU
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]


def sync(device):
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def tiny_pipeline(device: str, limit: int) -> list[str]:
    from mats_core.bench.runner import run_comparison

    lines = []
    for dev in (device, "cpu") if device != "cpu" else ("cpu",):
        t = time.perf_counter()
        rows, _, _ = run_comparison(
            "tiny",
            "tiny",
            ["none", "noise", "memory", "santa"],
            ["tiny-caption", "tiny-classify", "tiny-qa"],
            checkpoint=None,
            output=Path(f"/tmp/gpu-check-tiny-{dev}"),
            run_params={"limit": limit, "batch_size": 64, "device": dev},
            overrides={},
            overwrite=True,
            reference=False,
        )
        dt = time.perf_counter() - t
        santa = dict(rows)["santa"]
        lines.append(
            f"- tiny bridge comparison, {limit} samples/task x 4 bridges on **{dev}**: {dt:.1f}s; santa classify "
            f"acc {santa['tiny-classify'].get('accuracy_exact'):.3f}, caption CIDEr {santa['tiny-caption'].get('cider'):.3f}"
        )
    return lines


def big_llama(device: str, small: bool):
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        ["USER: <Speech> </Speech> Describe the audio ASSISTANT: a dog barks twice"] * 20,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<unk>", "<s>", "</s>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        model_input_names=["input_ids", "attention_mask"],
    )
    if small:
        cfg = LlamaConfig(
            vocab_size=32000,
            hidden_size=256,
            intermediate_size=688,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
        )
    else:  # Vicuna-7B v1.5 shape
        cfg = LlamaConfig(
            vocab_size=32000,
            hidden_size=4096,
            intermediate_size=11008,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=32,
            max_position_embeddings=4096,
        )
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        prev = torch.get_default_dtype()
        torch.set_default_dtype(dtype)
        try:
            model = LlamaForCausalLM(cfg)
        finally:
            torch.set_default_dtype(prev)
    return model, fast


def train_steps(device: str, small: bool, steps: int) -> list[str]:
    import torch

    from mats_core.hf import HFCausalLM
    from mats_core.train.trainer import TrainConfig, train

    sys.path.insert(0, str(ROOT / "tests"))
    from fakes import CORPUS, HashEncoder

    model, tok = big_llama(device, small)
    llm = HFCausalLM.from_model(
        model,
        tok,
        "USER: <Speech>{audio}</Speech> {instruction}\nASSISTANT:",
        lora={"r": 8, "alpha": 32, "dropout": 0.1, "target_modules": ["q_proj", "v_proj"]},
        device=device,
    )
    mapper = {
        "type": "transformer",
        "prefix_length": 40,
        "clip_length": 40,
        "num_layers": 8 if not small else 1,
        "width": 1024 if not small else 128,
        "heads": 8,
    }
    enc = HashEncoder(dim=1024)
    from mats_core import build

    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    cfg = TrainConfig(steps=steps, batch_size=8, lr=3e-5, warmup=1, device=device, checkpoint_every=10**6, log_every=1)
    out = Path("/tmp/gpu-check-train")
    t = time.perf_counter()
    train(
        enc,
        llm,
        build("bridge", "noise", noise_variance=0.015),
        CORPUS * 4,
        out,
        cfg,
        mapper=mapper,
        spec={"encoder": {"name": "hash"}},
        progress=False,
    )
    sync(device)
    dt = time.perf_counter() - t
    import json

    log = [json.loads(l) for l in (out / "train_log.jsonl").read_text().splitlines()]
    per_step = (log[-1]["step_seconds"] - log[0]["step_seconds"]) / max(1, len(log) - 1)
    mem = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    n_train = sum(p.numel() for p in llm.trainable_parameters())
    return [
        f"- {'7B-shaped' if not small else 'small'} LLaMA + mapper + LoRA, bf16 autocast on {device}: {steps} steps batch 8 in "
        f"{dt:.1f}s (incl. setup), **{per_step * 1000:.0f} ms/step** after the first, peak memory {mem:.1f} GiB, "
        f"LoRA params {n_train / 1e6:.2f}M, loss {log[0]['loss']:.3f} -> {log[-1]['loss']:.3f}"
    ], llm


def generation(device: str, llm, batch: int, new_tokens: int) -> list[str]:
    import statistics

    import torch

    from mats_core.model.pipeline import MATSModel

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_harness import greedy, interleaved, raw_generate

    model = MATSModel(
        llm,
        1024,
        {"type": "transformer", "prefix_length": 40, "clip_length": 40, "num_layers": 2, "width": 256, "heads": 4},
    )
    model.eval()
    z = torch.nn.functional.normalize(torch.randn(batch, 1024, device=device), dim=-1)
    instr = ["Describe the following audio in a caption."] * batch
    fixed = greedy(new_tokens, fixed_length=True)
    wait = lambda: sync(device)  # noqa: E731
    with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
        emb, mask, _ = model.assemble(model.mapper(z), instr)
        t = interleaved(
            {"raw": lambda: raw_generate(llm, emb, mask, **fixed), "ours": lambda: model.generate(z, instr, **fixed)},
            3,
            wait,
        )
        t_raw, t_ours = (statistics.median(t[k]["wall"]) for k in ("raw", "ours"))
        paper = {
            "max_new_tokens": new_tokens,
            "num_beams": 4,
            "no_repeat_ngram_size": 2,
            "repetition_penalty": 2.0,
            "do_sample": False,
        }

        def published():  # one clip at a time, default dynamic cache
            for i in range(batch):
                model.generate(z[i : i + 1], instr[:1], **paper)

        def batched_static():
            model.generate(z, instr, **paper, cache_implementation="static")

        t = interleaved({"published": published, "static": batched_static}, 1, wait)
        t_pub, t_static = t["published"]["wall"][0], t["static"]["wall"][0]
    return [
        f"- generation, batch {batch}, {new_tokens} new tokens, greedy: raw generate {t_raw:.3f}s, harness path {t_ours:.3f}s "
        f"(medians of 3 interleaved reps) -> overhead **{100 * (t_ours - t_raw) / t_raw:+.1f}%** (target <= 5%; "
        "benchmarks/bench_harness.py measures the whole harness on CPU)",
        f"- paper decoding (beam 4, no-repeat 2, rep. penalty 2.0), {batch} clips: published-style per-clip dynamic cache "
        f"{t_pub:.2f}s vs batched static cache {t_static:.2f}s -> **{t_pub / t_static:.1f}x** (target >= 2x)",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--small", action="store_true", help="small shapes: a CPU smoke test of the code paths")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--skip", default="", help="comma list of parts to skip: tiny,train,generate,santa")
    args = ap.parse_args()
    import torch

    skip = set(args.skip.split(","))
    name = torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU"
    lines = [f"## GPU check ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {name}, torch {torch.__version__})", ""]
    llm = None
    parts = [("tiny", lambda: tiny_pipeline(args.device, 50 if args.small else 300))]
    for part, fn in parts:
        if part not in skip:
            lines += _safe(part, fn)
    if "train" not in skip:
        try:
            out, llm = train_steps(args.device, args.small, 3 if args.small else 10)
            lines += out
        except Exception:  # noqa: BLE001 - report and go on
            lines.append(f"- train: FAILED\n```\n{traceback.format_exc()[-2000:]}\n```")
    if "generate" not in skip and llm is not None:
        lines += _safe(
            "generate", lambda: generation(args.device, llm, 4 if args.small else 16, 8 if args.small else 64)
        )
    if "santa" not in skip and args.device == "cuda":
        cmd = [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_santa.py"),
            "--device",
            "cuda",
            "--sizes",
            "1000000,5000000",
            "--methods",
            "kmeans,exact",
            "--queries",
            "256",
        ]
        res = subprocess.run(cmd, capture_output=True, text=True)
        lines += ["", "Santa search on GPU:", "", res.stdout[-6000:] or res.stderr[-3000:]]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


def _safe(part, fn) -> list[str]:
    try:
        return fn()
    except Exception:  # noqa: BLE001
        return [f"- {part}: FAILED\n```\n{traceback.format_exc()[-2000:]}\n```"]


if __name__ == "__main__":
    main()

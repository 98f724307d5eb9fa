"""Harness vs raw ``generate``: what ``mats_core.run.harness.evaluate`` costs over the loop a user would write.

Target (issue #5): the harness adds <= 5% over raw generate on the same model, samples, batch
size and decoding. Both sides get the shipped tiny-world checkpoint (``noise``), the first N
clips of ``tiny-caption`` rendered before any timing (dataset I/O is not what is measured),
greedy decoding with a fixed ``max_new_tokens``, one torch thread.

- raw: per batch, CLAP audio embedding -> L2 normalise -> mapper -> ``MATSModel.assemble`` ->
  ``llm.model.generate(inputs_embeds=..., attention_mask=...)`` -> ``batch_decode``.
- harness: ``evaluate(..., bridge "none", RunConfig(predict_only=True, batch_size=B))`` into a
  fresh output directory per rep (it writes run_config.json, samples.jsonl and results.json),
  progress callback off. Its predictions must equal raw's (asserted).

Reps are interleaved (raw harness, harness raw, ...) after one warm-up of each; medians are
reported. Above the target, ``cProfile`` attributes the harness's extra time to its stages.

    OMP_NUM_THREADS=1 python benchmarks/bench_harness.py --out benchmarks/RESULTS.md
    python benchmarks/bench_harness.py --quick          # seconds: a smoke run of the code paths
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from mats_core import hookimpl  # noqa: E402 - light (no torch); after the offline switch

TARGET = 0.05  # overhead allowed over raw generate
TASK = "tiny-caption"
BENCH_TASK = "bench-harness-caption"  # the same samples, pre-rendered, registered in-process


# -- shared with gpu_check.py -------------------------------------------------------------
def greedy(new_tokens: int, fixed_length: bool = False) -> dict[str, Any]:
    """Greedy decoding settings; ``fixed_length`` also forbids stopping early (pure timing)."""
    settings: dict[str, Any] = {"max_new_tokens": new_tokens, "do_sample": False, "num_beams": 1}
    return settings | ({"min_new_tokens": new_tokens} if fixed_length else {})


def raw_generate(llm: Any, inputs_embeds: Any, attention_mask: Any, **decoding: Any) -> Any:
    """The bare transformers call under ``HFCausalLM.generate`` (token ids, not text)."""
    return llm.model.generate(
        inputs_embeds=inputs_embeds,
        attention_mask=attention_mask,
        pad_token_id=llm.pad_token_id,
        eos_token_id=llm.eos_token_id,
        **decoding,
    )


def interleaved(
    fns: dict[str, Callable[[], Any]], reps: int, sync: Callable[[], None] = lambda: None
) -> dict[str, dict[str, list[float]]]:
    """Per function, per rep: ``wall`` seconds and ``cpu`` seconds of this process (``time.process_time``).
    After one warm-up each, the functions run in turn, the order reversed every other rep (a b, b a,
    a b, ...): drifting load on a shared machine hits every side alike, and neither side always runs
    right after the other. CPU time sees other processes' load less than wall time does."""
    for fn in fns.values():
        fn()
    sync()
    times: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in fns}
    for rep in range(reps):
        for name, fn in list(fns.items())[:: -1 if rep % 2 else 1]:
            c, t = time.process_time(), time.perf_counter()
            fn()
            sync()
            times[name]["wall"].append(time.perf_counter() - t)
            times[name]["cpu"].append(time.process_time() - c)
    return times


# -- the two sides ------------------------------------------------------------------------
class PrerenderedTask:
    """A task whose samples are given (clips already rendered); kind and scoring are the wrapped task's."""

    def __init__(self, task: Any, samples: Sequence[Any]):
        self.task, self.kind, self._samples = task, task.kind, list(samples)

    def samples(self, split: str | None = None) -> list[Any]:
        return self._samples

    def score(self, predictions, **context):
        return self.task.score(predictions, **context)


class _BenchPlugin:
    """Registers BENCH_TASK the way a third-party plugin would."""

    def __init__(self, task: PrerenderedTask):
        self.task = task

    @hookimpl
    def register_tasks(self, register):
        register(BENCH_TASK, lambda: self.task)


def rendered_samples(n: int) -> tuple[Any, list[Any]]:
    """(the task, its first ``n`` samples with their audio rendered now)."""
    from mats_core import build

    task = build("task", TASK, limit=n)
    samples = list(task.samples())
    for s in samples:  # reading .audio renders the clip (and keeps it): before any timing
        if not hasattr(s.audio, "shape"):
            raise ValueError(f"{TASK}: sample {s.id} has no in-memory audio; the benchmark needs rendered clips")
    if len(samples) < n:
        raise ValueError(f"--samples {n}: {TASK} has only {len(samples)} samples")
    return task, samples


def raw_loop(encoder: Any, model: Any, samples: Sequence[Any], batch: int, decoding: dict[str, Any]) -> list[str]:
    """The minimal loop: embed, normalise, map, assemble, generate, decode."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    llm, out = model.llm, []
    with torch.no_grad():
        for b0 in range(0, len(samples), batch):
            part = samples[b0 : b0 + batch]
            n = max(s.audio.shape[-1] for s in part)
            waves = torch.from_numpy(
                np.stack([np.pad(s.audio, (0, n - s.audio.shape[-1])) for s in part]).astype(np.float32)
            )
            z = F.normalize(encoder.embed_audio(waves).float(), dim=-1)
            emb, mask, _ = model.assemble(model.mapper(z.to(model.device)), [s.instruction for s in part])
            ids = raw_generate(llm, emb, mask, **decoding)
            out += [t.strip() for t in llm.tokenizer.batch_decode(ids, skip_special_tokens=True)]
    return out


def harness_run(pipe: Any, checkpoint: Path, batch: int, decoding: dict[str, Any], root: Path) -> Path:
    """One ``evaluate`` into a fresh directory under ``root``; returns it."""
    from mats_core.run.harness import RunConfig, evaluate

    out = Path(tempfile.mkdtemp(dir=root))
    evaluate(
        pipe,
        checkpoint,
        "none",
        [BENCH_TASK],
        out,
        RunConfig(predict_only=True, batch_size=batch, decoding=decoding, device="cpu"),
    )
    return out


def harness_predictions(run_dir: Path) -> list[str]:
    from mats_core.run.results import read_samples

    return [r["prediction"] for r in read_samples(run_dir / "samples.jsonl")]


# -- measurement --------------------------------------------------------------------------
def measure(batches: Sequence[int], n: int, new_tokens: int, reps: int, profile: bool) -> dict[str, Any]:
    import torch

    from mats_core.bench.pairing import find_checkpoints
    from mats_core.registry.plugins import get_host
    from mats_core.run.harness import Pipeline

    checkpoint = find_checkpoints(None, "tiny", "tiny", None)["noise"]
    task, samples = rendered_samples(n)
    host = get_host()
    host.register_plugin(_BenchPlugin(PrerenderedTask(task, samples)), "bench-harness")
    root = Path(tempfile.mkdtemp(prefix="bench-harness-"))
    try:
        pipe = Pipeline.from_checkpoint(checkpoint, device="cpu")
        rates = {s.sample_rate for s in samples}
        if rates != {pipe.encoder.sample_rate}:
            raise ValueError(f"{TASK}: clips at {sorted(rates)} Hz, encoder wants {pipe.encoder.sample_rate} Hz")
        model, _ = pipe.load(checkpoint)
        decoding = greedy(new_tokens)
        rows = []
        for batch in batches:
            runs: list[Path] = []
            preds: dict[str, list[str]] = {}
            fns = {
                "raw": lambda: preds.__setitem__("raw", raw_loop(pipe.encoder, model, samples, batch, decoding)),
                "harness": lambda: runs.append(harness_run(pipe, checkpoint, batch, decoding, root)),
            }
            times = interleaved(fns, reps)
            got = harness_predictions(runs[-1])
            if got != preds["raw"]:
                bad = (
                    next(i for i, (a, b) in enumerate(zip(got, preds["raw"])) if a != b)
                    if len(got) == len(preds["raw"])
                    else None
                )
                raise AssertionError(
                    f"batch {batch}: harness predictions differ from raw generate "
                    f"({len(got)} vs {len(preds['raw'])} rows; first difference at {bad})"
                )
            for r in runs:
                shutil.rmtree(r, ignore_errors=True)
            row = {"batch": batch, **times}
            row["overhead"], row["cpu_overhead"] = (
                statistics.median(times["harness"][k]) / statistics.median(times["raw"][k]) - 1 for k in ("wall", "cpu")
            )
            if profile or row["overhead"] > TARGET:
                row["profile"] = profile_stages(pipe, model, checkpoint, samples, batch, decoding, root)
            rows.append(row)
        tokens = sum(len(model.llm.tokenize(p)) for p in preds["raw"])
    finally:
        host.unregister_plugin("bench-harness")
        shutil.rmtree(root, ignore_errors=True)
    return {
        "rows": rows,
        "samples": n,
        "new_tokens": new_tokens,
        "reps": reps,
        "mean_tokens": tokens / n,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "checkpoint": checkpoint,
    }


# Stages, by (file suffix, function): cProfile's cumulative seconds are reported for each, on
# both sides (the harness-only ones are 0 on the raw side). "of which" lines nest in the one above.
STAGES = [
    ("transformers generate", "transformers/generation/utils.py", "generate"),
    ("encoder embed_audio", None, "embed_audio"),  # the encoder's own file, found at run time
    ("MATSModel.generate (mapper, assemble, generate, decode)", "mats_core/model/pipeline.py", "generate"),
    ("Pipeline.embed_audio (load_audio per clip, pad, embed, normalise)", "mats_core/run/pipeline.py", "embed_audio"),
    ("of which load_audio", "mats_core/model/audio.py", "load_audio"),
    ("Pipeline.load (mapper + LoRA from the checkpoint)", "mats_core/run/pipeline.py", "load"),
    ("_guard_config (run_config.json)", "mats_core/run/config_guard.py", "guard_config"),
    ("SamplesWriter.write (flush + fsync per batch)", "mats_core/run/results.py", "write"),
    ("_finish (results.json)", "mats_core/run/harness.py", "_finish"),
    ("of which collect_versions", "mats_core/run/results.py", "collect_versions"),
]


def profile_stages(pipe, model, checkpoint, samples, batch, decoding, root) -> dict[str, dict[str, float]]:
    """cProfile one raw loop and one harness run: {side: {"total": s, stage label: s}}."""
    import inspect

    encoder_file = os.path.realpath(inspect.getsourcefile(type(pipe.encoder)) or "")
    out = {}
    for side, fn in (
        ("raw", lambda: raw_loop(pipe.encoder, model, samples, batch, decoding)),
        ("harness", lambda: harness_run(pipe, checkpoint, batch, decoding, root)),
    ):
        prof = cProfile.Profile()
        t = time.perf_counter()
        prof.runcall(fn)
        total = time.perf_counter() - t
        stats = pstats.Stats(prof).stats
        out[side] = {
            "total": total,
            **{label: _cumulative(stats, path or encoder_file, func) for label, path, func in STAGES},
        }
    return out


def _cumulative(stats: dict, path: str, func: str) -> float:
    """Cumulative seconds of ``func`` defined in a file ending with ``path``."""
    path = path.replace(os.sep, "/")
    return sum(
        v[3]
        for (file, _, name), v in stats.items()
        if name == func and os.path.realpath(file).replace(os.sep, "/").endswith(path)
    )


# -- report -------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), platform.processor())
    except OSError:
        return platform.processor() or "unknown CPU"


def markdown(res: dict[str, Any], command: str, load: str) -> str:
    import transformers

    n = res["samples"]
    lines = [
        f"### CPU, {TASK}, {n} samples, greedy, max {res['new_tokens']} new tokens ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores, torch threads {res['threads']}; torch {res['torch']}; "
        f"transformers {transformers.__version__}; Python {platform.python_version()}; load average at start {load}.  ",
        f"Command: `{command}`. Checkpoint: shipped tiny-world `noise`; harness = `evaluate` with bridge `none`, "
        f"`predict_only`, a fresh output directory per rep, progress callback off. {res['reps']} interleaved reps per side "
        f"(order reversed every other rep) after one warm-up each; medians; predictions identical on both sides (asserted); "
        f"predictions of {res['mean_tokens']:.1f} tokens on average (re-tokenised).",
        "",
        "Wall seconds are the measure; CPU seconds (this process's, `time.process_time`) are shown because other "
        "processes' load moves them less (they leave out waits such as fsync). The cProfile tables (if any) are "
        "one run per side: read the harness-only stages, not the differences in shared ones.",
        "",
        "| batch | raw (s) | harness (s) | raw ms/sample | harness ms/sample | overhead | CPU-time overhead | raw reps (s) | harness reps (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["rows"]:
        raw, har = statistics.median(r["raw"]["wall"]), statistics.median(r["harness"]["wall"])
        mark = "" if r["overhead"] <= TARGET else " (> 5%)"
        lines.append(
            f"| {r['batch']} | {raw:.3f} | {har:.3f} | {1000 * raw / n:.2f} | {1000 * har / n:.2f} | "
            f"**{100 * r['overhead']:+.1f}%**{mark} | {100 * r['cpu_overhead']:+.1f}% | "
            f"{_spread(r['raw']['wall'])} | {_spread(r['harness']['wall'])} |"
        )
    for r in res["rows"]:
        p = r.get("profile")
        if not p:
            continue
        lines += [
            "",
            f"cProfile of one more run per side, batch {r['batch']} (cumulative seconds under the profiler):",
            "",
            "| stage | raw | harness |",
            "|---|---:|---:|",
            f"| total | {p['raw']['total']:.3f} | {p['harness']['total']:.3f} |",
        ]
        lines += [
            f"| {'&nbsp;&nbsp;' if label.startswith('of which') else ''}{label} | {p['raw'][label]:.3f} | {p['harness'][label]:.3f} |"
            for label, _, _ in STAGES
        ]
    return "\n".join(lines) + "\n"


def _spread(times: list[float]) -> str:
    return " ".join(f"{t:.2f}" for t in times)


def main(argv: Sequence[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=256, help="first N test clips of tiny-caption")
    ap.add_argument("--batch-sizes", default="8,32", help="comma list")
    ap.add_argument("--new-tokens", type=int, default=32, help="max_new_tokens (greedy)")
    ap.add_argument("--reps", type=int, default=5, help="timed reps per side (interleaved), >= 1")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--profile", action="store_true", help="cProfile the stages even when within the target")
    ap.add_argument("--quick", action="store_true", help="8 samples, batch 4, 8 new tokens, 1 rep: a smoke run")
    ap.add_argument("--out", type=Path, default=None, help="append the Markdown section to this file")
    args = ap.parse_args(argv)
    if args.quick:
        args.samples, args.batch_sizes, args.new_tokens, args.reps = 8, "4", 8, 1
    batches = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    if args.samples < 1 or args.reps < 1 or args.new_tokens < 1 or not batches or min(batches) < 1:
        ap.error("--samples, --reps, --new-tokens and every --batch-sizes entry must be >= 1")
    import torch

    torch.set_num_threads(args.threads)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    res = measure(batches, args.samples, args.new_tokens, args.reps, args.profile)
    command = "python benchmarks/bench_harness.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(res, command.strip(), load)
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n" + text)
    return text


if __name__ == "__main__":
    main()

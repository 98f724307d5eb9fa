"""Santa retrieval speed: the published per-query loop vs the batched bridge paths.

Times, on one synthetic clustered bank per size and the same queries:
  (a) loop     the reference re-implementation of the published code (k-means + per-query loop)
  (b) kmeans   the batched k-means search of the ``santa`` bridge (search=kmeans)
  (c) exact    batched exact top-k over the whole bank (search=exact)
  (d) faiss    faiss inner-product index (search=faiss; flat below 1M rows, IVF above), if installed
and asserts that (b) gives the same outputs and k-means centroids as (a) with retrieval
noise off. Inference is timed with retrieval noise off (search + mixing) and on (the paper's
0.015: drawing k x dim normals per query is then a large, equal share of both paths).
Speed-ups are against the loop measured in the same process. Fit = k-means / index build.

    python benchmarks/bench_santa.py --device cpu --sizes 5000,50000 --out benchmarks/RESULTS.md
    python benchmarks/bench_santa.py --device cuda --sizes 1000000,5000000 --methods kmeans,exact
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from mats_bridges._reference import ReferenceSanta
from mats_bridges.santa import SantaBridge

METHODS = ("loop", "kmeans", "exact", "faiss")
SECTION = "## Santa search"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--sizes", default="5000,50000", help="comma-separated bank sizes (rows)")
    p.add_argument("--queries", type=int, default=256, help="audio embeddings per inference call")
    p.add_argument("--dim", type=int, default=1024)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--clusters", type=int, default=100)
    p.add_argument("--kmeans-iters", type=int, default=10)
    p.add_argument("--noise-variance", type=float, default=0.015, help="retrieval noise of the 'noise on' timing")
    p.add_argument("--repeats", type=int, default=5, help="timed inference calls per method (best is reported)")
    p.add_argument("--methods", default=",".join(METHODS), help=f"subset of {','.join(METHODS)}")
    p.add_argument(
        "--reference-max",
        type=int,
        default=1_000_000,
        help="skip the (slow, memory-hungry: it keeps per-cluster copies) loop above this bank size",
    )
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help=f"markdown file: the table is added under '{SECTION}'")
    args = p.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = set(args.methods) - set(METHODS)
    if bad:
        p.error(f"unknown --methods {sorted(bad)}; choose from {', '.join(METHODS)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is visible")
    if min(args.sizes) < max(args.k, args.clusters):
        p.error(f"every bank size must be >= k ({args.k}) and >= clusters ({args.clusters})")
    return args


# -- data ------------------------------------------------------------------------------------
def make_data(n: int, dim: int, queries: int, device: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A caption-like bank (unit vectors around n/50 topic centres) and audio-like queries:
    vectors of the same topics, noisier, shifted by a constant "modality gap" direction.
    The bank is written chunk by chunk so that 5M x 1024 rows fit in GPU memory."""
    g = torch.Generator(device).manual_seed(seed)
    topics = max(10, n // 50)
    centres = F.normalize(torch.randn(topics, dim, generator=g, device=device), dim=-1)
    bank = torch.empty(n, dim, device=device)
    step = 1 << 18
    for a in range(0, n, step):
        b = min(n, a + step)
        t = torch.randint(0, topics, (b - a,), generator=g, device=device)
        bank[a:b] = F.normalize(
            centres[t] + 0.8 / math.sqrt(dim) * torch.randn(b - a, dim, generator=g, device=device), dim=-1
        )
    gap = F.normalize(torch.randn(dim, generator=g, device=device), dim=0)
    t = torch.randint(0, topics, (queries,), generator=g, device=device)
    q = centres[t] + 1.2 / math.sqrt(dim) * torch.randn(queries, dim, generator=g, device=device) + 0.5 * gap
    return bank, F.normalize(q, dim=-1)


# -- timing ----------------------------------------------------------------------------------
def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def clock(fn, device: str) -> tuple[float, object]:
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - t0, out


def best_of(fn, repeats: int, device: str) -> float:
    clock(fn, device)  # warm-up: moves the index to the device, fills allocator caches
    return min(clock(fn, device)[0] for _ in range(repeats))


def gen(device: str, seed: int = 0) -> torch.Generator:
    return torch.Generator(device).manual_seed(seed)


def retrieved_ids(bridge: SantaBridge, queries: torch.Tensor) -> torch.Tensor:
    """Bank row ids [B, k] the bridge retrieves (k-means rows are stored sorted by cluster)."""
    _, found = bridge.index.search(F.normalize(queries, dim=-1), bridge.k)
    order = getattr(bridge.index, "order", None)
    return order[found] if order is not None else found


def recall(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean fraction of each row of ``a`` found in the same row of ``b`` (top-k recall)."""
    hits = (a.unsqueeze(2) == b.unsqueeze(1)).any(dim=2)
    return float(hits.float().mean())


def free(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


# -- one bank size -----------------------------------------------------------------------------
def bench_size(n: int, args: argparse.Namespace, checks: list[str]) -> list[dict]:
    dev = args.device
    bank, queries = make_data(n, args.dim, args.queries, dev, args.seed)
    rows: list[dict] = []
    ref = loop_out = exact_ids = None

    def timed_infer(infer, set_noise) -> tuple[float, float]:
        set_noise(0.0)
        off = best_of(lambda: infer(queries, gen(dev)), args.repeats, dev)
        set_noise(args.noise_variance)
        on = best_of(lambda: infer(queries, gen(dev)), args.repeats, dev)
        return off, on

    if "loop" in args.methods and n <= args.reference_max:
        ref = ReferenceSanta(
            k=args.k, clusters=args.clusters, iters=args.kmeans_iters, seed=args.seed, noise_variance=0.0
        )
        fit_s, _ = clock(lambda: ref.fit(bank), dev)
        loop_out = ref.infer(queries)
        off, on = timed_infer(ref.infer, lambda v: setattr(ref, "noise_variance", v))
        ref.noise_variance = 0.0
        rows.append({"method": "loop", "fit": fit_s, "off": off, "on": on, "recall": None})

    for method in ("exact", "kmeans", "faiss"):
        if method not in args.methods:
            continue
        if method == "faiss":
            try:
                import faiss  # noqa: F401
            except ImportError:
                print("faiss is not installed: skipping (pip install 'mats-bench[faiss]')", file=sys.stderr)
                continue
        bridge = SantaBridge(
            k=args.k,
            search=method,
            clusters=args.clusters,
            kmeans_iters=args.kmeans_iters,
            seed=args.seed,
            retrieval_noise_variance=0.0,
        )
        fit_s, _ = clock(lambda b=bridge: b.fit(bank), dev)
        ids = retrieved_ids(bridge, queries)
        if method == "exact":
            exact_ids = ids
        if method == "kmeans" and ref is not None:
            checks.append(check_against_loop(bridge, ref, loop_out, queries, n))
            ref = None
            free(dev)
        off, on = timed_infer(bridge.infer, lambda v, b=bridge: setattr(b, "retrieval_noise_variance", v))
        rec = recall(exact_ids, ids) if exact_ids is not None else None
        label = f"faiss ({bridge.index.description.split(' (')[0]})" if method == "faiss" else method
        rows.append({"method": label, "fit": fit_s, "off": off, "on": on, "recall": rec})
        del bridge
        free(dev)

    loop = next((r for r in rows if r["method"] == "loop"), None)
    for r in rows:
        r["n"] = n
        r["x_off"] = loop["off"] / r["off"] if loop else None
        r["x_on"] = loop["on"] / r["on"] if loop else None
    return rows


def check_against_loop(
    bridge: SantaBridge, ref: ReferenceSanta, loop_out: torch.Tensor, queries: torch.Tensor, n: int
) -> str:
    """Assert (b) == (a) with noise off: same k-means centroids and labels, same outputs.

    Both run the same k-means arithmetic, but not bit for bit everywhere: distances by cdist
    vs addmm, GPU atomics in the centroid sums. On large banks a few rows near a cluster
    boundary may then switch cluster and the difference compounds over the iterations (seen:
    99.6% of labels agree at 1M rows, dim 32, CPU). Then at least 99% must agree, and outputs
    are compared with the loop run on the bridge's clustering, which isolates the search.
    """
    labels = torch.empty_like(bridge.index.labels)
    for c, ids in enumerate(ref.member_ids):
        labels[ids] = c
    agree = float((labels == bridge.index.labels).float().mean())
    cdiff = float((bridge.index.centroids - ref.centroids).abs().max())
    note = f"N={n:,}: k-means labels agree {agree:.2%}, max |centroid diff| {cdiff:.2g}"
    if agree < 1.0:
        assert agree >= 0.99, f"batched k-means differs from the loop's: only {agree:.2%} of labels agree"
        ref.use_clustering(bridge.index.centroids, bridge.index.labels)
        loop_out = ref.infer(queries)
        note += " (outputs compared on the bridge's clustering)"
    diff = float((bridge.infer(queries, gen(queries.device.type)) - loop_out).abs().max())
    assert diff < 1e-4, f"batched k-means output differs from the loop: max |diff| {diff:.3g}"
    note += f"; outputs max |diff| {diff:.2g}"
    print("  check: " + note, file=sys.stderr)
    return note


# -- reporting -----------------------------------------------------------------------------------
def machine(device: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [f"CPU {cpu}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"]
    if device == "cuda":
        parts.append(f"GPU {torch.cuda.get_device_name()}")
    parts.append(f"torch {torch.__version__}")
    try:
        import faiss

        parts.append(f"faiss {faiss.__version__}")
    except ImportError:
        pass
    parts.append(f"Python {platform.python_version()}")
    if hasattr(os, "getloadavg"):
        parts.append(f"load average at start {os.getloadavg()[0]:.1f}")
    return "; ".join(parts)


def fmt(x: float | None, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)


def render(rows: list[dict], checks: list[str], args: argparse.Namespace, info: str) -> str:
    date = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    cmd = "python benchmarks/bench_santa.py " + " ".join(sys.argv[1:])
    lines = [
        f"### {args.device.upper()}, {args.queries} queries, dim {args.dim}, k {args.k}, "
        f"{args.clusters} clusters ({date})",
        "",
        f"Machine: {info}.  ",
        f"Command: `{cmd}`. Inference times are the best of {args.repeats} calls; "
        f"noise on = retrieval noise variance {args.noise_variance}; x = speed-up over the loop in the same run; "
        "recall = top-k overlap with exact search.",
        "",
        "| bank N | method | fit (s) | infer, noise off (ms) | x | infer, noise on (ms) | x | recall@k vs exact |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']:,} | {r['method']} | {r['fit']:.2f} | {r['off'] * 1e3:.1f} | {fmt(r['x_off'], '.1f')} | "
            f"{r['on'] * 1e3:.1f} | {fmt(r['x_on'], '.1f')} | {fmt(r['recall'], '.3f')} |"
        )
    if checks:
        lines += ["", "Batched k-means vs loop (noise off): " + "; ".join(checks) + "."]
    return "\n".join(lines) + "\n"


def write_section(path: Path, block: str) -> None:
    """Add ``block`` at the end of the '## Santa search' section (created if absent); other
    sections of the shared results file are left as they are."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    lines = text.rstrip("\n").split("\n")
    if SECTION not in lines:
        lines += ["", SECTION]
    start = lines.index(SECTION)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    head, tail = lines[:end], lines[end:]
    while head and not head[-1].strip():
        head.pop()
    new = head + [""] + block.rstrip("\n").split("\n") + ([""] if tail else []) + tail
    path.write_text("\n".join(new) + "\n")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    info = machine(args.device)
    print(info, file=sys.stderr)
    rows, checks = [], []
    for n in args.sizes:
        print(f"bank N={n:,} ...", file=sys.stderr)
        rows += bench_size(n, args, checks)
        free(args.device)
    block = render(rows, checks, args, info)
    print(block)
    if args.out:
        write_section(args.out, block)
        print(f"written under '{SECTION}' in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()

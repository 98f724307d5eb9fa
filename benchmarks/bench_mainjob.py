"""The README main job, cold then warm, timed the way a newcomer meets it (issue 31).

    python benchmarks/bench_mainjob.py [--before SRC] [--sweep GRID] [--profile] [--json out.json]
                                       [-- extra mats-bench run args, e.g. --limit 40]

Cold: a fresh embeddings/corpus cache (``MATS_CACHE``, read by ``mats_core.io.cache_root``) and a
fresh output directory. Warm: the same cache, another fresh output directory. Each run is a child
process; the parent prints its wall time and its user + system CPU (``RUSAGE_CHILDREN``).

``--before SRC`` runs the same jobs first on another source tree of mats-bench (a ``git worktree``
of an older commit, put first on ``PYTHONPATH`` with its ``plugins/``) in the same process tree, so
the after/before ratios compare runs on one machine at one time; it also checks that both print
byte-identical tables. ``--sweep GRID`` times ``mats-bench sweep GRID`` on a fresh cache too.
``--profile`` adds a cold and a warm run under ``cProfile`` and prints where their time goes:
generation, memory-bank text embedding, audio embedding, scoring (point scores, intervals and
paired differences), imports. The profiled runs are slower: the targets are read off the plain
ones. Run it on an idle machine (2 cores as in the README); numbers under load are not comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# part -> [(file suffix, function)]: the cumulative time of those calls in the child's profile
# (two spellings: the sub-package layout, and the flat one of the trees before it)
PARTS = {
    "generation": [("mats_core/model/pipeline.py", "generate"), ("mats_core/model.py", "generate")],
    "bank embedding": [("mats_core/model/embeddings.py", "embed_texts"), ("mats_core/embeddings.py", "embed_texts")],
    "audio": [("mats_core/run/audio_embeddings.py", "embed_samples"), ("mats_core/harness.py", "embed_audio")],
    "scoring": [
        ("mats_core/stats/intervals.py", "score_task"),
        ("mats_core/stats.py", "score_task"),
        ("mats_core/report/compare.py", "differences"),
        ("mats_core/compare.py", "differences"),
    ],
    "imports": [("<frozen importlib._bootstrap>", "_find_and_load")],
}
APP = (  # the CLI's Typer app in either layout; app() ends in SystemExit
    "try:\n from mats_core.cli.main import app\nexcept ImportError:\n from mats_core.cli import app\n"
)


def split(profile: Path) -> dict[str, float]:
    """Seconds spent in each part (cumulative; nested calls of one function counted once)."""
    stats = pstats.Stats(str(profile)).stats  # (file, line, name) -> (cc, nc, tt, ct, callers)
    out = {part: 0.0 for part in PARTS}
    for (file, _, name), (_, _, _, cumulative, callers) in stats.items():
        for part, places in PARTS.items():
            for suffix, fn in places:
                if name == fn and file.endswith(suffix):
                    recursive = sum(v[3] for k, v in callers.items() if k[2] == fn and k[0].endswith(suffix))
                    out[part] += cumulative - recursive
    out["total (profiled)"] = max(v[3] for v in stats.values()) if stats else 0.0
    return out


def child(argv: list[str], *, src: Path | None, cache: Path, profile: Path | None) -> tuple[float, float, float, str]:
    """``mats-bench ARGV`` in a child process: (wall, user CPU, system CPU, stdout)."""
    code = APP + "import sys; sys.argv[0] = 'mats-bench'\n"
    code += f"import cProfile; cProfile.run('app()', {str(profile)!r})\n" if profile else "app()\n"
    env = {**os.environ, "MATS_CACHE": str(cache)}
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), str(src / "plugins"), env.get("PYTHONPATH", "")])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"`mats-bench {' '.join(argv)}` failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime, done.stdout


def run_once(label: str, *, src: Path | None, cache: Path, output: Path, extra: list[str], profile: bool) -> dict:
    """One main job: wall, CPU, its printed table (output path masked) and, profiled, its parts."""
    prof = output.with_suffix(".prof") if profile else None
    wall, user, sys_s, stdout = child(["run", "--output", str(output), *extra], src=src, cache=cache, profile=prof)
    if not (output / "comparison.json").exists():
        raise SystemExit(f"{label}: no comparison.json in {output}")
    table = stdout[stdout.find("mats-bench run") :].replace(str(output), "OUT")
    out = {"run": label, "wall_s": round(wall, 1), "user_s": round(user, 1), "sys_s": round(sys_s, 1), "table": table}
    if prof:
        out["parts_s"] = {k: round(v, 1) for k, v in split(prof).items()}
    return out


def run_tree(name: str, src: Path | None, root: Path, args: argparse.Namespace) -> list[dict]:
    """The plain cold and warm main job of one tree, then (--profile) the profiled pair, then (--sweep) a sweep."""
    runs = []
    for profiled in (False, True) if args.profile else (False,):
        cache = root / f"{name}-cache{'-prof' if profiled else ''}"
        for temp in ("cold", "warm"):
            label = f"{name} {temp}{' (profiled)' if profiled else ''}"
            out = root / f"{name}-{temp}{'-prof' if profiled else ''}"
            runs.append(run_once(label, src=src, cache=cache, output=out, extra=args.extra, profile=profiled))
    if args.sweep:
        out, cache = root / f"{name}-sweep", root / f"{name}-sweep-cache"
        wall, user, sys_s, _ = child(
            ["sweep", str(args.sweep), "--output", str(out)], src=src, cache=cache, profile=None
        )
        runs.append(
            {"run": f"{name} sweep cold", "wall_s": round(wall, 1), "user_s": round(user, 1), "sys_s": round(sys_s, 1)}
        )
    return runs


def show(r: dict, baseline: dict | None) -> None:
    ratio = f"  ({r['wall_s'] / baseline['wall_s']:.2f}x the before wall)" if baseline else ""
    print(f"{r['run']}: wall {r['wall_s']} s, CPU {r['user_s']} s user + {r['sys_s']} s system{ratio}")
    if "parts_s" in r:
        total = r["parts_s"]["total (profiled)"] or 1.0
        for part, sec in r["parts_s"].items():
            print(f"  {part:<18} {sec:7.1f} s  {100 * sec / total:5.1f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, help="another mats-bench source tree, run first as the baseline")
    ap.add_argument("--sweep", type=Path, help="also time `mats-bench sweep GRID` on a fresh cache")
    ap.add_argument("--profile", action="store_true", help="add a cProfile'd cold + warm pair and print the split")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("extra", nargs="*", help="after --: more `mats-bench run` arguments")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-mainjob-") as tmp:
        before = run_tree("before", args.before.resolve(), Path(tmp), args) if args.before else []
        after = run_tree("after", None, Path(tmp), args)
    base = {r["run"].split(" ", 1)[1]: r for r in before}
    for r in [*before, *after]:
        show(r, base.get(r["run"].split(" ", 1)[1]) if r in after else None)
    tables = {r["table"] for r in [*before, *after] if "table" in r}
    print(f"every main-job table byte-identical (output path aside): {len(tables) == 1}; load {os.getloadavg()}")
    if args.json:
        record = {"load": os.getloadavg(), "runs": [*before, *after], "same_table": len(tables) == 1}
        args.json.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()

"""The README main job, cold then warm, timed the way a newcomer meets it (issue 31).

    python benchmarks/bench_mainjob.py [--json out.json] [-- extra mats-bench run args, e.g. --limit 40]

Cold: a fresh embeddings/corpus cache (``MATS_CACHE``, read by ``mats_core.io.cache_root``) and a
fresh output directory. Warm: the same cache, another fresh output directory. Each run is a child
process (``mats-bench run`` under ``cProfile.run``); the parent prints its wall time,
its user + system CPU (``RUSAGE_CHILDREN``) and the per-part split of the child's profile:
generation, memory-bank text embedding, audio embedding, scoring, imports. Run it on an idle
machine (2 cores as in the README); the numbers under load are not comparable.
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

# part -> (file suffix, function): the cumulative time of that call in the child's profile
PARTS = {
    "generation": ("mats_core/model/pipeline.py", "generate"),
    "bank embedding": ("mats_core/model/embeddings.py", "embed_texts"),
    "audio": ("mats_core/run/audio_embeddings.py", "embed_samples"),
    "scoring": ("mats_core/stats/intervals.py", "score_task"),
    "imports": ("<frozen importlib._bootstrap>", "_find_and_load"),
}


def split(profile: Path) -> dict[str, float]:
    """Seconds spent in each part (cumulative; nested calls of one function counted once)."""
    stats = pstats.Stats(str(profile)).stats  # (file, line, name) -> (cc, nc, tt, ct, callers)
    out = {part: 0.0 for part in PARTS}
    for (file, _, name), (_, _, _, cumulative, callers) in stats.items():
        for part, (suffix, fn) in PARTS.items():
            if name == fn and file.endswith(suffix):
                recursive = sum(v[3] for k, v in callers.items() if k[2] == fn and k[0].endswith(suffix))
                out[part] += cumulative - recursive
    out["total (profiled)"] = max(v[3] for v in stats.values()) if stats else 0.0
    return out


def run_once(label: str, *, cache: Path, output: Path, extra: list[str]) -> dict:
    """One ``mats-bench run`` in a child process: wall, CPU and the parts of its profile."""
    profile = output.with_suffix(".prof")
    child = (  # the imports inside the profile; app() ends in SystemExit, which cProfile.run catches
        "import cProfile, sys; sys.argv[0] = 'mats-bench'; "
        f"cProfile.run('from mats_core.cli.main import app; app()', {str(profile)!r})"
    )
    cmd = [sys.executable, "-c", child, "run", "--output", str(output), *extra]
    env = {**os.environ, "MATS_CACHE": str(cache)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or not (output / "comparison.json").exists():
        raise SystemExit(f"{label}: mats-bench run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    table = done.stdout[done.stdout.find("mats-bench run") :]
    return {
        "run": label,
        "wall_s": round(wall, 1),
        "user_s": round(after.ru_utime - before.ru_utime, 1),
        "sys_s": round(after.ru_stime - before.ru_stime, 1),
        "parts_s": {k: round(v, 1) for k, v in split(profile).items()},
        "table": table,
    }


def show(r: dict) -> None:
    print(f"{r['run']}: wall {r['wall_s']} s, CPU {r['user_s']} s user + {r['sys_s']} s system")
    total = r["parts_s"]["total (profiled)"] or 1.0
    for part, sec in r["parts_s"].items():
        print(f"  {part:<18} {sec:7.1f} s  {100 * sec / total:5.1f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("extra", nargs="*", help="after --: more `mats-bench run` arguments")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-mainjob-") as tmp:
        root = Path(tmp)
        cold = run_once("cold", cache=root / "cache", output=root / "out-cold", extra=args.extra)
        warm = run_once("warm", cache=root / "cache", output=root / "out-warm", extra=args.extra)
    for r in (cold, warm):
        show(r)
    same = cold["table"].replace("out-cold", "out-warm") == warm["table"]
    print(f"cold and warm tables byte-identical (output path aside): {same}; load average {os.getloadavg()}")
    if args.json:
        args.json.write_text(json.dumps({"load": os.getloadavg(), "runs": [cold, warm], "same_table": same}, indent=2))


if __name__ == "__main__":
    main()

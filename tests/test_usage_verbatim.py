"""The README's Usage lines run, in the order printed, as a newcomer pastes them (issue 36.6).

Each runnable line (placeholders such as CKPT, SET0, /data and `...` are skipped, as
tests/test_usage.py marks them) runs as a real `mats-bench` process in one fresh directory, so a
line reads exactly what an earlier line wrote there. One thing is appended to fit CI's budget, the
size of the job: `--limit 8` to `run`, `gap` and `sweep`, `--steps 20` to `train` (an option given
twice takes its last value), and `--quick --out tiny-world` to `tiny build` (the embedded world at
smoke-test sizes, written beside the runs: the installed package's world stays as shipped).
Every other word is the README's."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_usage import PLACEHOLDER, ROOT, usage_lines

CAPS = {
    "run": ["--limit", "8"],
    "gap": ["--limit", "8"],
    "sweep": ["--limit", "8"],
    "train": ["--steps", "20"],
    "tiny build": ["--quick", "--out", "tiny-world"],
}


def runnable_lines() -> list[str]:
    return [line for line in usage_lines() if line.startswith("mats-bench ") and not PLACEHOLDER.search(line)]


def capped(line: str) -> list[str]:
    argv = shlex.split(line, comments=True)  # as bash reads it: `# ...` is a comment
    cap = CAPS.get(" ".join(argv[1:3]), CAPS.get(argv[1], []))
    return [str(Path(sys.executable).parent / "mats-bench"), *argv[1:], *cap]


def test_caps_only_append_and_cover_every_heavy_command() -> None:
    lines = runnable_lines()
    assert {shlex.split(line)[1] for line in lines} >= {"run", "train", "gap", "sweep", "score", "report"}
    for line in lines:
        words = shlex.split(line, comments=True)
        assert capped(line)[1 : len(words)] == words[1:], line  # the README's words, in order


@pytest.mark.slow  # 15 commands end to end, a few minutes on a 2-core machine
def test_usage_lines_run_in_order(tmp_path: Path) -> None:
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")  # the grid and suite files the lines name
    env = {**os.environ, "COLUMNS": "160", "NO_COLOR": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    env.pop("PYTEST_ADDOPTS", None)
    for line in runnable_lines():
        t0 = time.perf_counter()
        out = subprocess.run(capped(line), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, (
            f"README Usage: `{line}` exit {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        )
        assert "Traceback" not in out.stdout + out.stderr, f"`{line}`:\n{out.stderr[-3000:]}"
        print(f"{time.perf_counter() - t0:6.1f} s  {line}")
    # what the path promised: the trained checkpoint was evaluated, the report holds the runs
    assert (tmp_path / "my_corpus.jsonl").stat().st_size > 0
    assert (tmp_path / "runs" / "ckpt" / "config.json").is_file()
    assert (tmp_path / "tiny-world" / "metadata.json").is_file()
    table = json.loads((tmp_path / "table.json").read_text())
    assert table, "report wrote an empty table"

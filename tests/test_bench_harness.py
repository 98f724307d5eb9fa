"""benchmarks/bench_harness.py on tiny sizes: the table holds both timings and the overhead, the
file is appended to, and a harness/raw disagreement in predictions fails the run."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "plugins" / "mats_tiny" / "weights" / "mats"
pytestmark = pytest.mark.skipif(
    not (SHIPPED / "noise" / "config.json").exists(), reason="shipped tiny MATS checkpoints not built"
)


@pytest.fixture
def bench():
    import torch

    spec = importlib.util.spec_from_file_location("bench_harness", ROOT / "benchmarks" / "bench_harness.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    yield module
    torch.set_num_threads(threads)  # main() pins one thread; later tests in this worker get theirs back


def test_quick_run_reports_both_timings_and_overhead(bench, tmp_path):
    out = tmp_path / "results.md"
    out.write_text("# earlier results\n")
    text = bench.main(["--quick", "--out", str(out)])
    row = next(l for l in text.splitlines() if l.startswith("| 4 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    raw, harness, raw_ms, harness_ms = map(float, cells[1:5])
    assert raw > 0 and harness > 0
    assert raw_ms == pytest.approx(1000 * raw / 8, rel=0.01) and harness_ms == pytest.approx(
        1000 * harness / 8, rel=0.01
    )
    overhead = float(re.search(r"\*\*([+-][0-9.]+)%\*\*", cells[5]).group(1))
    # the cells are rounded to 3 decimals, so the overhead lies within what the rounded timings allow
    lo, hi = 100 * ((harness - 5e-4) / (raw + 5e-4) - 1), 100 * ((harness + 5e-4) / (raw - 5e-4) - 1)
    assert lo - 0.1 <= overhead <= hi + 0.1
    assert re.fullmatch(r"[+-][0-9.]+%", cells[6])  # the CPU-time overhead
    assert "predictions identical" in text and "torch threads 1" in text and "load average at start" in text
    saved = out.read_text()
    assert saved.startswith("# earlier results\n") and text in saved


def test_prediction_mismatch_fails(bench, monkeypatch):
    real = bench.raw_loop
    monkeypatch.setattr(bench, "raw_loop", lambda *a, **k: [p + " x" for p in real(*a, **k)])
    with pytest.raises(AssertionError, match="harness predictions differ from raw generate"):
        bench.main(["--samples", "4", "--batch-sizes", "4", "--new-tokens", "4", "--reps", "1"])

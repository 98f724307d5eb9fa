"""The README's Usage lines are a path (issue 36.6): each line that is not a placeholder reads only
what ships with mats-bench or what an earlier line wrote, and the lines that once failed as printed
(a `task.*` setting beside `--gap-task`, a report over runs of different sizes) run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from mats_core.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z0-9]+\b|/data\b|\.\.\.|^accelerate ")  # CKPT, SET0, /data, `...`


def usage_lines() -> list[str]:
    block = (ROOT / "README.md").read_text().split("## Usage", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [re.split(r"\s+#", line, maxsplit=1)[0].strip() for line in block.strip().splitlines()]  # as bash: `# ...`


def _reads_and_writes(argv: list[str]) -> tuple[list[str], list[str]]:
    opts = {a: b for a, b in zip(argv, argv[1:]) if a.startswith("--")}
    reads = [
        opts[k] for k in ("--corpus", "--checkpoint", "--suite") if k in opts and ("/" in opts[k] or "." in opts[k])
    ]
    if argv[1] in ("score", "sweep"):
        reads.append(argv[2])
    writes = [opts["--output"]] if "--output" in opts else []
    if argv[1] == "run" and "--output" not in opts:
        writes.append("runs/latest")
    return [r for r in reads if not r.startswith("pkg:")], writes


def test_every_usage_line_reads_what_ships_or_what_an_earlier_line_wrote() -> None:
    lines = usage_lines()
    assert any("tiny corpus" in line for line in lines) and len(lines) > 10
    written: list[str] = []
    runnable = [line for line in lines if not PLACEHOLDER.search(line) and line.startswith("mats-bench ")]
    assert len(runnable) >= 12, runnable
    for line in runnable:
        argv = shlex.split(line)
        reads, writes = _reads_and_writes(argv)
        for path in reads:
            shipped = (ROOT / path).exists()
            earlier = any(path == w or path.startswith(w.rstrip("/") + "/") for w in written)
            assert shipped or earlier, f"README Usage: `{line}` reads {path}, which no earlier line writes"
        written += writes


def test_a_gap_task_takes_its_task_settings_and_report_takes_mixed_runs(tmp_path: Path) -> None:
    """`train --set bridge.noise_variance=auto --gap-task T --set task.split=val` (a README line) measures
    the gap on T's val split; `task.*` without --gap-task stays refused."""
    runner = CliRunner()
    line = next(line for line in usage_lines() if "--gap-task" in line)
    args = [*shlex.split(line)[1:], "--steps", "1", "--output", str(tmp_path / "ck")]
    res = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "noise_variance=auto" in res.output and (tmp_path / "ck" / "config.json").is_file()
    refused = runner.invoke(app, ["train", "--set", "task.split=val", "--output", str(tmp_path / "no")])
    assert refused.exit_code == 2 and "--gap-task" in " ".join(refused.output.split())
    assert not (tmp_path / "no").exists()


def test_the_clap_extras_pin_one_transformers_inside_the_core_range() -> None:
    """A range in the CLAP extras (`<5`) against the core's `<6` made pip backtrack through every
    4.57 release on a fresh install (issue 36.9): one exact version, which the core's range holds."""
    import tomllib

    from packaging.specifiers import SpecifierSet

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = next(d for d in project["dependencies"] if d.startswith("transformers"))
    for extra in ("laion", "msclap"):
        pins = [d for d in project["optional-dependencies"][extra] if d.startswith("transformers")]
        assert len(pins) == 1 and pins[0].startswith("transformers=="), (extra, pins)
        assert pins[0].split("==")[1] in SpecifierSet(core.removeprefix("transformers")), (pins, core)


def test_the_readme_main_job_figures_are_the_benchmarks() -> None:
    """The README's cold and warm figures (issue 31) are the ones benchmarks/RESULTS.md records for
    the after tree of bench_mainjob.py, rounded: a rerun that changes them changes both."""
    readme = (ROOT / "README.md").read_text()
    cold = int(re.search(r"\*\*(\d+) s wall cold\*\*", readme).group(1))
    warm = int(re.search(r"\*\*(\d+) s warm\*\*", readme).group(1))
    section = (ROOT / "benchmarks" / "RESULTS.md").read_text().split("## Issue 31:", 1)[1]
    recorded = {
        kind: float(re.search(rf"\| main job {kind}, after \| \*\*([0-9.]+)\*\*", section).group(1))
        for kind in ("cold", "warm")
    }
    assert (cold, warm) == (round(recorded["cold"]), round(recorded["warm"])), (cold, warm, recorded)

"""CI runs the README's test command as printed (issue 36): .ci/run reads it from README.md, and the
default tier it names leaves out the slow tests while the full command beside it runs them."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_test_command() -> tuple[str, str]:
    """The Quick start's test step: its comment line and the command under it."""
    lines = (ROOT / "README.md").read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("# 2. run the tests"))
    return lines[i], lines[i + 1]


def test_ci_runs_the_readme_test_command_then_the_slow_tier():
    comment, command = _readme_test_command()
    printed = subprocess.run(
        ["bash", str(ROOT / ".ci" / "run"), "--print-test-command"], capture_output=True, text=True, check=True
    ).stdout
    assert printed == command + "\n" and command == "python -m pytest -q"
    ci = (ROOT / ".ci" / "run").read_text()
    ran = [line.split("#")[0].strip() for line in ci.splitlines() if not line.lstrip().startswith("#")]
    assert ran.index('eval "$readme_tests"') < ran.index("python -m pytest -q -m slow")
    assert 'python -m pytest -q -m "slow or not slow"' in comment  # the full suite, named beside it


def test_the_default_tier_leaves_out_slow_and_a_later_m_brings_them_back():
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert re.search(r'(^| )-m "not slow"( |$)', ini["addopts"]), ini["addopts"]
    marked = [p.name for p in (ROOT / "tests").glob("test_*.py") if "@pytest.mark.slow" in p.read_text()]
    assert {"test_docs.py", "test_datasets.py", "test_sharded_eval.py", "test_harness.py"} <= set(marked)

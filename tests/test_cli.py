"""The command line: instant help, no torch at startup, version, --set parsing, clear errors."""

import re
import subprocess
import sys

import pytest

from mats_core.config.overrides import parse_sets
from mats_core.errors import MatsError


def test_cli_imports_no_torch():
    code = "import sys, mats_core.cli.main; bad = [m for m in ('torch', 'transformers', 'numpy') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_lists_every_command_and_version():
    """Each command is a row of --help's Commands panel (a bare "run" in the text is always there);
    speed is test_cli_imports_no_torch's job (no wall-clock bound here: it fails on a busy machine)."""
    out = subprocess.run([sys.executable, "-m", "mats_core.cli", "--help"], capture_output=True, text=True, check=True)
    commands = set(re.findall(r"^│ ([a-z]+) ", out.stdout, re.M))
    assert commands == {"train", "run", "plugins", "score", "report", "sweep", "gap", "regime", "tiny"}, out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "mats_core.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert re.fullmatch(r"mats-bench \S+\n", out.stdout), out.stdout
    for cmd in ("run", "train", "plugins"):
        out = subprocess.run(
            [sys.executable, "-m", "mats_core.cli", cmd, "--help"], capture_output=True, text=True, check=True
        )
        assert f"Usage: python -m mats_core.cli {cmd} [OPTIONS]" in out.stdout, out.stdout


def test_parse_sets_types_and_nesting():
    ov = parse_sets(
        [
            "bridge.lam=0.5",
            "llm.lora.r=4",
            "run.crop=random",
            "train.warmup=10",
            "llm.lora.target_modules=[q_proj, v_proj]",
        ]
    )
    assert ov == {
        "bridge": {"lam": 0.5},
        "llm": {"lora": {"r": 4, "target_modules": ["q_proj", "v_proj"]}},
        "run": {"crop": "random"},
        "train": {"warmup": 10},
    }
    with pytest.raises(MatsError, match="kind.param=value"):
        parse_sets(["lam=0.5"])


def test_unknown_bridge_is_a_clean_error():
    out = subprocess.run(
        [sys.executable, "-m", "mats_core.cli", "run", "--bridge", "santaa"], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert "did you mean 'santa'" in out.stderr

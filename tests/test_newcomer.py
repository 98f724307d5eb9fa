"""A newcomer's first hour (issue 18): the commands users copy, the flags they bring from
lm-evaluation-harness, a clean terminal, Java checked up front."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mats_core.cli.main import app
from mats_core.errors import MatsError

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "plugins" / "mats_tiny" / "weights" / "mats"
needs_checkpoints = pytest.mark.skipif(
    not (SHIPPED / "noise" / "config.json").exists(), reason="shipped tiny MATS checkpoints not built"
)
CLI = [sys.executable, "-m", "mats_core.cli"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]|\x1b\][^\x07]*\x07")
NOISE = re.compile(
    r"Warning|PTBTokenizer|attention.mask|is_gradient_checkpointing|warnings\.warn|tokens per second", re.I
)


def _params(command: str, *argv: str) -> dict:
    """The options of ``mats-bench command argv`` as the CLI parses them (nothing runs)."""
    group = typer.main.get_command(app)
    return group.commands[command].make_context(command, list(argv)).params


def _env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        **extra,
    }


# -- lm-evaluation-harness conventions ------------------------------------------------------
def test_lm_eval_spellings_and_short_flags() -> None:
    p = _params("run", "-o", "out", "-t", "tiny-qa", "-b", "4", "--limit", "0.1", "--log_samples")
    assert (p["output"], p["tasks"], p["batch_size"], p["limit"], p["log_samples"]) == (
        Path("out"),
        "tiny-qa",
        "4",
        0.1,
        True,
    )
    assert _params("run", "--output_path", "a", "--batch_size", "8")["output"] == Path("a")
    assert _params("run", "--out", "b")["output"] == Path("b")
    assert _params("run")["output"] is None  # the per-config default
    for spelling in ("--out", "--output", "-o", "--output_path"):  # report takes the same spellings as run
        assert _params("report", "runs", spelling, "t")["out"] == Path("t")
    assert _params("train", "--batch_size", "4", "-b", "8")["batch_size"] == 8


def test_fractional_limit() -> None:
    from mats_core.config.run_spec import parse_limit as _limit
    from mats_core.run.harness import RunConfig, limited

    assert _limit(0.1) == 0.1 and _limit(100.0) == 100 and isinstance(_limit(100.0), int) and _limit(None) is None
    for bad in (0.0, 1.5, -2.0):
        with pytest.raises(MatsError, match="--limit"):
            _limit(bad)
    assert len(limited(list(range(300)), 0.1)) == 30 and len(limited(list(range(153)), 0.1)) == 16
    assert (
        len(limited(list(range(5)), 0.01)) == 1
        and len(limited(list(range(5)), 3)) == 3
        and len(limited(list(range(5)), None)) == 5
    )
    assert RunConfig(limit=0.1).limit == 0.1 and RunConfig(limit=100).limit == 100
    with pytest.raises(ValueError):
        RunConfig(limit=1.5)


def test_tasks_list_prints_registered_tasks() -> None:
    res = CliRunner().invoke(app, ["run", "--tasks", "list"])
    assert res.exit_code == 0, res.output
    names = res.output.split()
    assert {"tiny-caption", "tiny-classify", "tiny-qa", "clotho", "esc50"} <= set(names) and names == sorted(names)


def test_plugins_list_presets_with_what_they_resolve_to() -> None:
    rows = json.loads(CliRunner().invoke(app, ["plugins", "--json"]).output)
    presets = {(p["kind"], p["name"]): p for r in rows for p in r["presets"]}
    for key in (
        ("encoder", "laion"),
        ("encoder", "msclap"),
        ("llm", "vicuna"),
        ("llm", "gpt2"),
        ("llm", "llama"),
        ("llm", "smollm2"),
        ("bridge", "santa"),
        ("encoder", "tiny"),
    ):
        assert key in presets, key
    assert presets[("llm", "vicuna")]["plugin"] == "hf-causal-lm"
    assert presets[("llm", "vicuna")]["params"]["model"] == "lmsys/vicuna-7b-v1.5"
    assert presets[("encoder", "laion")]["extra"] == "laion"
    text = CliRunner().invoke(app, ["plugins"], env={"COLUMNS": "250"}).output
    assert "presets" in text and "lmsys/vicuna-7b-v1.5" in text and "hf-causal-lm(" in text


def test_report_writes_with_either_spelling(tmp_path: Path) -> None:
    from mats_core.run.results import RunResults, write_results

    write_results(
        tmp_path / "runs" / "santa" / "results.json",
        RunResults(
            config={}, versions={}, seed=0, results={"tiny-qa": {"accuracy": 0.5}}, task_kinds={"tiny-qa": "qa"}
        ),
    )
    for spelling in ("--out", "--output"):
        target = tmp_path / spelling.strip("-")
        res = CliRunner().invoke(app, ["report", str(tmp_path / "runs"), spelling, str(target)])
        assert res.exit_code == 0, res.output
        assert "0.500" in target.with_suffix(".md").read_text()


# -- a directory per run configuration --------------------------------------------------------
def test_default_output_is_per_config_and_latest_follows(tmp_path: Path) -> None:
    from mats_core.bench.rundir import default_output, point_latest, run_key

    base = {"bridge": "santa", "sets": {}, "limit": 100}
    changed = {**base, "sets": {"bridge": {"lam": 0.5, "k": 16}}}
    assert run_key(base) == run_key(dict(base)) and run_key(base) != run_key(changed)
    a, b = default_output(base, tmp_path), default_output(changed, tmp_path)
    for d in (a, b):
        d.mkdir()
        point_latest(d, tmp_path)
        assert (tmp_path / "latest").resolve() == d.resolve()
    assert os.readlink(tmp_path / "latest") == b.name  # relative: the runs folder can move
    real = tmp_path / "old"
    (real / "latest").mkdir(parents=True)  # a real runs/latest of an older mats-bench is left alone
    point_latest(b, real)
    assert not (real / "latest").is_symlink()


# -- Java before generating --------------------------------------------------------------------
@needs_checkpoints
def test_run_without_java_fails_up_front(tmp_path: Path) -> None:
    from mats_core.bench.prechecks import check_java

    nojava = tmp_path / "bin"
    nojava.mkdir()
    env = _env(PATH=str(nojava), COLUMNS="1000")  # rich wraps at 80 columns off a terminal
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", str(nojava))
        check_java({"tiny-classify": "classification", "tiny-qa": "qa"})  # no caption task: no Java needed
        with pytest.raises(MatsError, match="tiny-caption .*Java"):
            check_java({"tiny-caption": "caption", "tiny-qa": "qa"})
    out = subprocess.run(
        [*CLI, "run", "--limit", "2", "--output", str(tmp_path / "r")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "java" in lines[0] and "--predict-only" in lines[0], (
        lines
    )
    assert not list((tmp_path / "r").rglob("samples.jsonl"))  # nothing was generated


# -- a clean terminal ---------------------------------------------------------------------------
def test_quiet_sends_third_party_noise_to_the_log(tmp_path: Path, capfd) -> None:
    from mats_core.process.quiet import quiet, terminal

    probe_logger = logging.getLogger("transformers.probe")
    probe_logger.setLevel(logging.WARNING)  # another test in this worker may have set transformers' verbosity to error
    with quiet(tmp_path) as log:
        warnings.warn("probe FutureWarning from a library", UserWarning)
        probe_logger.warning("probe attention mask is not set")
        print("probe stray print")
        subprocess.run(["sh", "-c", "echo probe PTBTokenizer tokenized 9 tokens >&2"], check=True)
        terminal().write("our own progress\n")
        terminal().flush()
    print("after: on the terminal again")
    out, err = capfd.readouterr()
    text = log.read_text()
    for probe in ("probe FutureWarning", "probe attention mask", "probe stray print", "probe PTBTokenizer"):
        assert probe in text, (probe, text)
        assert probe not in out + err, probe
    assert "our own progress" in out and "after: on the terminal again" in out


def test_quiet_catches_transformers_after_its_logging_is_configured(tmp_path: Path, capfd) -> None:
    """Issue 36: once transformers' logging is configured, its logger stops propagating and writes
    through its own handler to the stderr of that moment (here a stale stream, as after another
    test's capture, or a terminal): quiet() must still send its records to the log, and leave the
    handler as it found it."""
    import io

    from transformers.utils import logging as hf_logging

    from mats_core.process.quiet import quiet

    hf_logging.get_logger("transformers")  # configures the library root logger (once per process)
    hf_logging.enable_default_handler()
    library = logging.getLogger("transformers")
    handler = hf_logging._default_handler
    stale = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(handler, "stream", stale)
        mp.setattr(library, "propagate", False)
        mp.setattr(library, "level", logging.WARNING)
        with quiet(tmp_path) as log:
            hf_logging.get_logger("transformers.probe36").warning("probe36 generation flags are not valid")
        assert "probe36" in log.read_text() and "probe36" not in stale.getvalue()
        assert handler in library.handlers and library.propagate is False  # put back on exit
        hf_logging.get_logger("transformers.probe36").warning("probe36 after")
        assert "probe36 after" in stale.getvalue()
    out, err = capfd.readouterr()
    assert "probe36" not in out + err


def test_quiet_repoints_a_handler_made_inside_it(tmp_path: Path) -> None:
    """A library that configures its logging inside quiet() gets a handler on the log file; on exit
    it must not be left writing into the closed file."""
    from mats_core.process.quiet import quiet

    lib = logging.getLogger("thirdparty36")
    try:
        with quiet(tmp_path) as log:
            h = logging.StreamHandler()  # the stderr of the moment: the log
            h.flush = sys.stderr.flush  # as transformers does
            lib.addHandler(h)
            lib.propagate = False
            lib.warning("probe inside")
        assert "probe inside" in log.read_text() and h.stream is sys.stderr
        h.flush()  # no ValueError: I/O operation on closed file
    finally:
        lib.handlers.clear()
        lib.propagate = True


def _pty_run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run ``mats-bench argv`` on a pseudo-terminal, as a user's shell does; its whole screen output."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal session of its own
        os.chdir(cwd)
        os.execve(
            sys.executable, [sys.executable, "-m", "mats_core.cli", *argv], {**env, "COLUMNS": "120", "TERM": "xterm"}
        )
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), ANSI.sub("", b"".join(chunks).decode(errors="replace"))


@pytest.mark.slow
@needs_checkpoints
def test_readme_commands_in_a_pty(tmp_path: Path) -> None:
    """The Quick start, then the README's first Usage line, on a terminal: both succeed into their
    own directories, the screen holds progress and tables but no third-party warning, the log
    keeps the noise, every row (CLAP zero-shot included) has its results.json."""
    env = _env(MATS_CACHE=os.environ.get("MATS_CACHE", str(tmp_path / "cache")))
    code, first = _pty_run(["run", "--tasks", "tiny-caption,tiny-classify", "--limit", "3"], tmp_path, env)
    assert code == 0, first[-3000:]
    runs = tmp_path / "runs"
    one = (runs / "latest").resolve()
    code, second = _pty_run(
        ["run", "--bridge", "santa", "--set", "bridge.lam=0.5", "--set", "bridge.k=16", "--limit", "3"], tmp_path, env
    )
    assert code == 0, second[-3000:]
    two = (runs / "latest").resolve()
    assert one != two and one.parent == two.parent == runs.resolve()
    for screen in (first, second):
        noisy = [line for line in screen.splitlines() if NOISE.search(line)]
        assert not noisy, noisy
        assert "overall: row" in screen and "accuracy_exact:" in screen and "comparison.md" in screen
        assert "--limit 3: samples truncated" in screen
    assert "santa: checkpoint mats/noise; k 16, lam 0.5" in second
    for row in ("none", "noise", "memory", "santa", "clap-zero-shot", "mats-audio"):
        assert (one / row / "results.json").is_file(), row
    zs = json.loads((one / "clap-zero-shot" / "results.json").read_text())
    assert zs["config"]["reference"] == "clap-zero-shot" and zs["samples_count"] == {"tiny-classify": 3}
    assert "PTBTokenizer" in (one / "mats-bench.log").read_text()  # the noise is kept, off the screen
    code, again = _pty_run(
        ["run", "--bridge", "santa", "--set", "bridge.lam=0.5", "--set", "bridge.k=16", "--limit", "3"], tmp_path, env
    )
    assert code == 0 and (runs / "latest").resolve() == two  # an identical command resumes its own directory

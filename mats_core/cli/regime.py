"""``mats-bench regime``: how often the memory bank holds captions close to a test clip's references
(:mod:`mats_core.bench.regime_run`). It registers on :data:`mats_core.cli.main.app`, which imports this module."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from mats_core.cli.app import SET_HELP, _console, _fail, app, parse_sets


@app.command()
def regime(
    *,
    corpus: str = typer.Option(
        "tiny", help="Training corpus (name or JSONL) the memory bank is drawn from, as a run draws it."
    ),
    task: Optional[str] = typer.Option(
        None,
        help="Caption task whose clips' references are looked up in the bank (default tiny-caption, unless --heldout).",
    ),
    heldout: Optional[str] = typer.Option(
        None,
        help="Instead of a task: a corpus of held-out captions (no audio; records grouped into clips by their 'id').",
    ),
    encoder: str = typer.Option(
        "tiny", help="Encoder preset or plugin name (audio retrieval, Santa weights, memory-only bound)."
    ),
    data_root: Optional[Path] = typer.Option(
        None, help="Folder of the datasets, offered to the corpus, held-out corpus and task."
    ),
    memory_size: int = typer.Option(5172, min=1, help="Captions in the memory bank (the run's --set run.memory_size)."),
    seed: int = typer.Option(0, min=0, help="The run seed that draws the bank."),
    limit: Optional[int] = typer.Option(None, min=1, help="At most N clips (default 2000)."),
    near_bleu: float = typer.Option(
        0.5,
        min=0.0,
        max=1.0,
        help="Near duplicate: BLEU-4 of a bank caption against the clip's references at or above this.",
    ),
    text_only: bool = typer.Option(
        False,
        "--text-only",
        help="Only the text measures (no encoder, no audio); automatic for --heldout or a task without audio.",
    ),
    bound: bool = typer.Option(
        True, "--bound/--no-bound", help="The memory-only upper bound (CIDEr-D; starts the caption metric's Java)."
    ),
    device: str = typer.Option("cpu", help="cpu | cuda"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of a table."),
    output: Optional[Path] = typer.Option(None, help="Also write the report to this JSON file."),
    registry: Optional[Path] = typer.Option(None, help="Extra preset registry (YAML)."),
    set_: List[str] = typer.Option(
        [],
        "--set",
        help=SET_HELP
        + " Kinds here: corpus, heldout, task, encoder, run (run.oracle_bank / run.oracle_paraphrase: the diagnosis-only dial).",
    ),
) -> None:
    """The retrieval regime: verbatim / near-duplicate coverage of test references by the bank, R@k, Santa's effective weight."""
    from mats_core.errors import MatsError

    try:
        from mats_core.bench.regime_run import measure_regime

        ov = parse_sets(set_)
        if data_root is not None:
            for kind, name in (("corpus", corpus), ("heldout", heldout), ("task", task)):
                if name is not None:
                    ov[kind] = {**_data_root(kind, name, data_root, registry), **ov.get(kind, {})}
        report = measure_regime(
            encoder=encoder,
            corpus=corpus,
            task=task if task or heldout else "tiny-caption",
            heldout=heldout,
            registry=str(registry) if registry else None,
            options={
                **ov,
                "memory_size": memory_size,
                "seed": seed,
                "limit": limit,
                "near_bleu": near_bleu,
                "text_only": text_only,
                "bound": bound,
                "device": device,
            },
        )
    except MatsError as exc:
        _fail(exc)
    if output is not None:
        from mats_core.run.results import atomic_write_text

        atomic_write_text(output, json.dumps(report, indent=2))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    from mats_core.bench.regime_run import as_rich_table

    _console().print(as_rich_table(report))


def _data_root(kind: str, name: str, data_root: Path, registry: Optional[Path]) -> dict:
    """``data_root`` for a corpus or task whose factory takes it (a JSONL path takes nothing)."""
    from mats_core.registry.presets import accepted_params

    if name.endswith((".jsonl", ".json")):
        return {}
    return accepted_params(
        "task" if kind == "task" else "corpus", name, {"data_root": str(data_root)}, str(registry) if registry else None
    )

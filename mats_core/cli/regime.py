"""``mats-bench regime``: how often the memory bank holds captions close to a test clip's references
(:mod:`mats_core.bench.regime_run`). It registers on :data:`mats_core.cli.app.app`, which imports this module."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from mats_core.cli.app import SET_HELP, _console, _fail, app
from mats_core.config.overrides import parse_sets

RegimeCorpus = Annotated[
    str, typer.Option(help="Training corpus (name or JSONL) the memory bank is drawn from, as a run draws it.")
]
RegimeTask = Annotated[
    Optional[str],
    typer.Option(
        help="Caption task whose clips' references are looked up in the bank (default tiny-caption, unless --heldout)."
    ),
]
RegimeHeldout = Annotated[
    Optional[str],
    typer.Option(
        help="Instead of a task: a corpus of held-out captions (no audio; records grouped into clips by their 'id')."
    ),
]
RegimeEncoder = Annotated[
    str, typer.Option(help="Encoder preset or plugin name (audio retrieval, Santa weights, memory-only bound).")
]
RegimeDataRoot = Annotated[
    Optional[Path], typer.Option(help="Folder of the datasets, offered to the corpus, held-out corpus and task.")
]
RegimeMemorySize = Annotated[
    int, typer.Option(min=1, help="Captions in the memory bank (the run's --set run.memory_size).")
]
RegimeSeed = Annotated[int, typer.Option(min=0, help="The run seed that draws the bank.")]
RegimeLimit = Annotated[Optional[int], typer.Option(min=1, help="At most N clips (default 2000).")]
RegimeNearBleu = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=1.0,
        help="Near duplicate: BLEU-4 of a bank caption against the clip's references at or above this.",
    ),
]
RegimeTextOnly = Annotated[
    bool,
    typer.Option(
        "--text-only",
        help="Only the text measures (no encoder, no audio); automatic for --heldout or a task without audio.",
    ),
]
RegimeBound = Annotated[
    bool,
    typer.Option("--bound/--no-bound", help="The memory-only upper bound (CIDEr-D; starts the caption metric's Java)."),
]
RegimeDevice = Annotated[str, typer.Option(help="cpu | cuda")]
RegimeAsJson = Annotated[bool, typer.Option("--json", help="Print the report as JSON instead of a table.")]
RegimeOutput = Annotated[Optional[Path], typer.Option(help="Also write the report to this JSON file.")]
RegimeRegistry = Annotated[Optional[Path], typer.Option(help="Extra preset registry (YAML).")]
RegimeSet = Annotated[
    List[str],
    typer.Option(
        "--set",
        help=SET_HELP
        + " Kinds here: corpus, heldout, task, encoder, run (run.oracle_bank / run.oracle_paraphrase: the diagnosis-only dial).",
    ),
]


@app.command()
def regime(
    *,
    corpus: RegimeCorpus = "tiny",
    task: RegimeTask = None,
    heldout: RegimeHeldout = None,
    encoder: RegimeEncoder = "tiny",
    data_root: RegimeDataRoot = None,
    memory_size: RegimeMemorySize = 5172,
    seed: RegimeSeed = 0,
    limit: RegimeLimit = None,
    near_bleu: RegimeNearBleu = 0.5,
    text_only: RegimeTextOnly = False,
    bound: RegimeBound = True,
    device: RegimeDevice = "cpu",
    as_json: RegimeAsJson = False,
    output: RegimeOutput = None,
    registry: RegimeRegistry = None,
    set_: RegimeSet = [],  # noqa: B006 - typer's default for a repeatable option, never mutated
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

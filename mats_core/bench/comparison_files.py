"""A run's comparison on disk and on screen: ``comparison.json``/``.md`` of one checkpoint set,
the aggregate over several sets (training seeds: mean ± std, per-seed values), and the table
printed from them (or, for a single run, from its results.json).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_comparison(
    output: Path,
    rows: list,
    kinds: dict,
    reference: str,
    *,
    registry: str | None,
    encoder: Any,
    cfg: Any,
    about: dict | None = None,
) -> dict:
    """One set's rows compared with row ``reference`` (paired differences), written to ``output``."""
    from mats_core.report.compare import comparison

    doc = {
        **comparison(rows, kinds, reference, registry, encoder=encoder, resamples=cfg.resamples, seed=cfg.seed),
        "about": about or {},
    }
    write_docs(output, doc)
    return doc


def write_seeds(output: Path, comps: list[dict], sets: list) -> None:
    """comparison.json/.md over several checkpoint sets (training seeds): mean ± std, per-seed values."""
    from mats_core.report.compare import aggregate_seeds

    seeds = {**aggregate_seeds(comps), "k": len(comps), "checkpoints": [str(c) for c in sets]}
    doc = {
        **comps[0],
        "rows": {
            n: {t: {m: a["mean"] for m, a in ms.items()} for t, ms in ts.items()}
            for n, ts in seeds["aggregate"].items()
        },
        "seeds": seeds,
        "per_checkpoint": [str(output / f"ckpt{i}" / "comparison.json") for i in range(len(comps))],
    }
    write_docs(output, doc)


def write_docs(output: Path, doc: dict) -> None:
    from mats_core.report.tables import as_markdown
    from mats_core.run.results import atomic_write_text

    atomic_write_text(output / "comparison.json", json.dumps(doc, indent=2))
    atomic_write_text(output / "comparison.md", as_markdown(doc, with_source=True))


def comparison_table(title: str, output: Path, rows: list[tuple[str, dict]], kinds: dict[str, str], own: bool = False):
    """The printed table of a run: from comparison.json, or (a single run into ``output``) from
    its results.json, with intervals and no differences."""
    from mats_core.report.compare import comparison, load_row
    from mats_core.report.tables import as_rich

    path = output / "comparison.json"
    if path.exists() and not own:
        doc = json.loads(path.read_text())
    else:
        from mats_core.run.results import read_results

        stats = (read_results(output / "results.json").model_extra or {}).get("stats") or {}
        doc = comparison([load_row(name, output) for name, _ in rows[:1]], kinds, resamples=0)
        doc["stats"].update(resamples=stats.get("resamples", 0))
    return as_rich(title, doc)

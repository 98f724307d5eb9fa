"""``mats-bench report``: rows gathered from run directories, in run order, into one comparison.

A directory holding a comparison.json (a ``mats-bench run`` output) gives its rows in the
run's order, reference rows included (CLAP zero-shot has no run directory: its values come
from the comparison). Other directories give every results.json below them, oldest first.
Rows of one task must have scored the same samples (``--allow-mixed`` to override), and the
paired differences are recomputed from samples.jsonl.
"""

from __future__ import annotations

import json
from pathlib import Path

from mats_core.errors import MatsError
from mats_core.report.compare import Row, check_same_samples, comparison, load_row


def _rows_of(folder: Path) -> list[Row]:
    comp_path = folder / "comparison.json"
    if comp_path.exists():
        comp = json.loads(comp_path.read_text())
        rows = []
        for name in comp.get("order") or list(comp["rows"]):
            sub = (comp.get("dirs") or {}).get(name)
            if sub and (folder / sub / "results.json").exists():
                rows.append(load_row(name, folder / sub, comp.get("sources", {}).get(name, "")))
            else:  # a reference value without samples, e.g. CLAP zero-shot
                rows.append(
                    Row(
                        name,
                        comp["rows"][name],
                        None,
                        comp.get("intervals", {}).get(name, {}),
                        comp.get("samples", {}).get(name, {}),
                        comp.get("limit", {}).get(name),
                        comp.get("sources", {}).get(name, ""),
                    )
                )
        return rows
    from mats_core.run.results import read_results

    found = [p for p in folder.rglob("results.json")] if folder.is_dir() else []
    found.sort(key=lambda p: (read_results(p).created, str(p)))
    return [load_row(str(p.parent.relative_to(folder)) if p.parent != folder else folder.name, p.parent) for p in found]


def report_doc(run_dirs: list[Path], reference: str, allow_mixed: bool, resamples: int, registry: str | None) -> dict:
    from mats_core.config.validation import check_resamples
    from mats_core.run.results import read_results

    check_resamples(resamples)
    groups = [(d, _rows_of(d)) for d in run_dirs]
    rows: list[Row] = []
    names = [r.name for _, rs in groups for r in rs]
    for d, rs in groups:
        for r in rs:
            if names.count(r.name) > 1:  # the same row name from two runs: say which run
                r.name = f"{d.name}/{r.name}"
            rows.append(r)
    if not rows:
        raise MatsError(f"no results.json under {', '.join(map(str, run_dirs))}")
    check_same_samples(rows, allow_mixed)
    kinds: dict[str, str] = {}
    encoder, seed = None, 0
    for r in rows:
        if r.run_dir is None:
            continue
        res = read_results(r.run_dir / "results.json")
        kinds.update((res.model_extra or {}).get("task_kinds") or {t: "" for t in res.results})
        if r.name == reference:
            seed = res.seed
    for r in rows:  # tasks only a reference row covers still get their column
        for t in r.results:
            kinds.setdefault(t, "")
    with_samples = next((r for r in rows if r.run_dir is not None), None)
    if resamples and with_samples is not None and "classification" in kinds.values():
        encoder = _encoder(with_samples.run_dir, registry)  # accuracy_embed maps answers with it
    return comparison(rows, kinds, reference, registry, encoder=encoder, resamples=resamples, seed=seed)


def _encoder(run_dir: Path, registry: str | None):
    from mats_core.registry.presets import build

    stamp = run_dir / "run_config.json"
    if not stamp.exists():
        return None
    enc = json.loads(stamp.read_text())["config"]["encoder"]
    return build("encoder", enc["name"], registry, **enc.get("params", {}))

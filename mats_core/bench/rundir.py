"""Where a ``mats-bench run`` writes, and what its table says about itself.

Without ``--output`` a run goes to ``runs/<key>/``, ``<key>`` a short hash of the options that
determine its numbers (not --batch-size or --device): a changed command gets a new directory
instead of colliding with the last one, an identical command resumes its own, and
``runs/latest`` is a symlink to the newest. An explicit ``--output DIR`` is used as given.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RUNS = Path("runs")
# what each metric of the comparison table means (printed under it)
METRIC_NOTES = {
    "accuracy_exact": "the generated text names the label (normalised exact match)",
    "accuracy_embed": "the generated text's CLAP text embedding is nearest the label's (the LTU protocol)",
    "accuracy": "QA: normalised exact match against any reference; zero-shot: audio-label cosine",
    "wer": "QA word error rate (lower is better)",
}


def run_key(options: dict[str, Any]) -> str:
    """A 10-hex-digit key of the options that determine a run's results."""
    from mats_core.run.results import fingerprint

    return fingerprint(options)[:10]


def default_output(options: dict[str, Any], root: Path = RUNS) -> Path:
    return root / run_key(options)


def point_latest(output: Path, root: Path = RUNS) -> None:
    """``runs/latest`` -> ``output`` (relative). A real directory of that name (written by an
    older mats-bench) is left alone."""
    latest = root / "latest"
    if latest.exists() and not latest.is_symlink():
        return
    tmp = root / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(os.path.relpath(output.resolve(), root.resolve()), target_is_directory=True)
    tmp.replace(latest)


def write_reference_row(
    out: Path,
    name: str,
    results: dict,
    config: dict,
    seed: int,
    counts: dict[str, int],
    *,
    scored: dict | None = None,
    resamples: int = 0,
) -> None:
    """A reference row's own run directory (``results.json``), like every other row's: ``scored``
    (task -> :class:`mats_core.run.reference_row.ZeroShot`) gives its intervals and errors."""
    from mats_core.run.results import RunResults, collect_versions, fingerprint, write_results
    from mats_core.stats.intervals import describe

    out.mkdir(parents=True, exist_ok=True)
    config = {"reference": name, **config}
    scored = {t: z for t, z in (scored or {}).items() if z is not None}
    stats = {**describe(resamples, seed), "no_ci": {t: z.no_ci for t, z in scored.items()}}
    write_results(
        out / "results.json",
        RunResults(
            config=config,
            versions=collect_versions(),
            seed=seed,
            results=results,
            samples_count=counts,
            errors_count=sum(z.errors for z in scored.values()),
            intervals={t: z.intervals for t, z in scored.items()},
            stats=stats,
            fingerprints={"config": fingerprint(config)},
            task_kinds={t: "classification" for t in results},
        ),
    )


def row_labels(rows: list[tuple[str, dict]], info: dict[str, dict]) -> list[str]:
    """One line per row: the checkpoint it used and the bridge's key params."""
    lines = []
    for name, _ in rows:
        about = info.get(name, {})
        params = ", ".join(f"{k} {v}" for k, v in about.get("params", {}).items())
        ckpt = about.get("checkpoint")
        what = f"checkpoint {ckpt}" if ckpt else about.get("what", "")
        lines.append(f"  {name}: {what}" + (f"; {params}" if params else ""))
    return lines


def table_footer(rows, kinds, info: dict[str, dict], output: Path, limit: Any, counts: dict[str, int]) -> str:
    """What the printed table does not say: rows, metrics, where the files are, truncation."""
    from mats_core.report.markdown import columns

    shown = {m for _, m in columns(rows, kinds)}
    lines = ["rows:", *row_labels(rows, info), "metrics:"]
    lines += [f"  {m}: {why}" for m, why in METRIC_NOTES.items() if m in shown]
    if limit:
        per = ", ".join(f"{t} {n}" for t, n in counts.items())
        lines.append(
            f"--limit {limit}: samples truncated to {per} (not the full test sets; not comparable with full runs)"
        )
    lines.append(
        f"table: {output / 'comparison.md'} and {output / 'comparison.json'}; rows: {output}/<row>/results.json"
    )
    return "\n".join(lines)


def key_bridge_params(bridge: str, registry: str | None, overrides: dict) -> dict:
    """The resolved params of a bridge that it names as its ``key_params``, shown next to its row."""
    from mats_core.capabilities import capability
    from mats_core.registry.presets import accepted_params, build, resolved_params

    params = resolved_params("bridge", bridge, registry, **overrides)["params"]
    built = build("bridge", bridge, registry, **accepted_params("bridge", bridge, overrides, registry))
    keep = capability(built, "key_params", ())
    return {k: v for k, v in params.items() if k in keep}


def run_footer(output: Path, rows: list, kinds: dict) -> str:
    """Under the table: what each row and metric is, where the files are, whether --limit truncated."""
    comparison = output / "comparison.json"
    if not comparison.is_file():
        return f"results in {output}"
    data = json.loads(comparison.read_text())
    about = data.get("about", {})
    limits = data.get("limit") if isinstance(data.get("limit"), dict) else {"*": data.get("limit")}  # row -> --limit
    limit = next((v for v in limits.values() if v), None)
    counts = next((c for c in (data.get("samples") or {}).values() if c), {})  # row -> task -> n
    return table_footer(rows, kinds, about, output, limit, counts)

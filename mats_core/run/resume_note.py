"""What a rerun into an existing run directory did, in one line under its table.

An identical ``mats-bench run`` reuses its directory (``runs/<key>/``, or the same ``--output``):
rows already complete are only re-scored, a killed row resumes at its last sample, and nothing
says so in the table itself. :func:`snapshot` records each row's samples before the run;
:func:`resume_note` compares them with what the run left, and says how to start afresh.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

Snapshot = dict[str, tuple[int, str | None]]  # row folder -> (samples held, its run_config fingerprint)


def _row_state(row: Path) -> tuple[int, str | None]:
    from mats_core.run.distributed import earlier_rows

    with warnings.catch_warnings():  # a torn line is reported by the run itself, once
        warnings.simplefilter("ignore")
        held = len(earlier_rows(row))
    try:
        stamp = json.loads((row / "run_config.json").read_text()).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        stamp = None
    return held, stamp


def snapshot(output: Path) -> Snapshot:
    """Every row folder of ``output`` that holds samples: how many, under which config."""
    output = Path(output)
    if not output.is_dir():
        return {}
    rows = {}
    for row in sorted(p for p in output.iterdir() if p.is_dir()):
        held, stamp = _row_state(row)
        if held:
            rows[row.name] = (held, stamp)
    return rows


def resume_note(before: Snapshot, output: Path) -> str | None:
    """One line when the run reused samples already in ``output``; None for a fresh run."""
    after = snapshot(output)
    kept = {r: n for r, (n, stamp) in before.items() if r in after and after[r][1] == stamp}
    if not kept:
        return None
    complete = sorted(r for r, n in kept.items() if after[r][0] == n)
    resumed = sorted(r for r, n in kept.items() if after[r][0] > n)
    fresh = sorted(r for r in after if r not in kept)
    parts = []
    if complete:
        parts.append(f"{len(complete)} row(s) already complete, re-scored only ({', '.join(complete)})")
    if resumed:
        parts.append(
            f"{len(resumed)} resumed after {sum(kept[r] for r in resumed)} samples held ({', '.join(resumed)})"
        )
    if fresh:
        parts.append(f"{len(fresh)} generated afresh ({', '.join(fresh)})")
    return (
        f"resumed {output}: {'; '.join(parts)}. To start afresh, delete {output} or pass another --output "
        "(--overwrite replaces a run whose config differs)."
    )

"""The guard on a run directory: its ``run_config.json`` stamp says which run it holds.

A rerun into the same directory resumes (samples already in samples.jsonl are skipped), which is
right only when it is the same run: the same recorded config (``mats_core.run.run_record``) and
the same task data. The stamp holds both; any difference is refused with the keys that differ,
unless ``--overwrite`` clears the directory first. Both the harness and an audio LM's row
(``mats_core.run.audio_lm``) guard their directories with it.
"""

from __future__ import annotations

from pathlib import Path

from mats_core.errors import MatsError
from mats_core.run.distributed import Shards, shard_files
from mats_core.run.results import atomic_write_text, fingerprint


def guard_config(out: Path, config: dict, *, overwrite: bool, shards: Shards, data: dict | None = None) -> None:
    """A rerun into the same directory resumes only with the same config and the same task data
    (``data``: task -> fingerprint of its samples). Every process checks (so all fail alike);
    rank 0 clears and stamps; the others wait for it."""
    import json

    from mats_core.config.validation import config_diff

    stamp = out / "run_config.json"
    new = fingerprint(config)
    held = json.loads(stamp.read_text()) if stamp.exists() else {"fingerprint": new, "config": config, "data": data}
    changed = [] if held.get("fingerprint") == new else config_diff(held.get("config", {}), config) or ["(config)"]
    old_data = held.get("data") or {}  # absent in stamps older than the data check
    moved = [t for t in (data or {}) if t in old_data and old_data[t] != data[t]]
    if (changed or moved) and not overwrite:
        why = [f"config differs: {'; '.join(changed[:8])}"] if changed else []
        why += [
            f"the data of task '{t}' changed since (its samples' ids, labels, references or instructions)"
            for t in moved
        ]
        raise MatsError(
            f"{out} holds a run with a different config: {'; '.join(why)}; "
            "use another --output or pass --overwrite to re-run it"
        )
    shards.barrier()  # everyone has read the old stamp
    if shards.is_main:
        if changed or moved:
            for f in [out / "samples.jsonl", out / "results.json", *shard_files(out)]:
                f.unlink(missing_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            stamp, json.dumps({"fingerprint": new, "config": config, "data": data}, indent=2, default=str)
        )
    shards.barrier()

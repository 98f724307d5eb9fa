"""A checkpoint directory written as one unit, and the guard against overwriting or mixing runs.

A checkpoint is several files (mapper, LoRA adapter, config.json, trainer state). They are
written into ``<dir>/.incoming/``; then a ``COMPLETE`` marker listing them is written; then
each is moved into place. A kill before the marker leaves the previous checkpoint untouched
(the torn folder is discarded by the next ``--resume``, which continues from that step and so
ends bit-identical to an uninterrupted run); a kill after it is rolled forward by the next
``--resume``. A reader refuses a directory whose move is under way or was cut short.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

from mats_core.errors import MatsError

STAGING = ".incoming"
MARKER = "COMPLETE"
UNIT = ("mapper.safetensors", "adapter.safetensors", "trainer_state.safetensors", "trainer_state.json", "config.json")
NOT_TRAINING = {"device", "checkpoint_every", "log_every"}  # last key parts a resume may change
NOT_COMPARED = {"step", "format", "version", "context"}  # top-level keys of config.json that are not settings


@contextlib.contextmanager
def writing(directory: str | os.PathLike) -> Iterator[Path]:
    """Yields the staging folder to write the checkpoint's files into; commits them on exit."""
    out = Path(directory)
    stage = out / STAGING
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    yield stage
    names = sorted(p.name for p in stage.iterdir())
    for name in names:  # on disk before the marker says they are
        with open(stage / name, "rb") as fh:
            os.fsync(fh.fileno())
    tmp = stage / (MARKER + ".tmp")
    tmp.write_text(json.dumps(names))
    os.replace(tmp, stage / MARKER)
    _commit(out)


def _commit(out: Path) -> None:
    stage = out / STAGING
    names = json.loads((stage / MARKER).read_text())
    for name in sorted(names, key=lambda n: n == "config.json"):  # config.json last
        if (stage / name).exists():
            os.replace(stage / name, out / name)
    for stale in set(UNIT) - set(names):  # e.g. an adapter of an earlier run with LoRA
        (out / stale).unlink(missing_ok=True)
    (stage / MARKER).unlink()
    shutil.rmtree(stage, ignore_errors=True)


def recover(directory: str | os.PathLike) -> str | None:
    """For the writer (``--resume``): finish or discard an interrupted write; says which."""
    out = Path(directory)
    if (out / STAGING / MARKER).exists():
        _commit(out)
        return "finished a checkpoint write that was interrupted after all its files were written"
    if (out / STAGING).exists():
        shutil.rmtree(out / STAGING)
        return "discarded a checkpoint write that was interrupted; the previous checkpoint stands"
    return None


def check_readable(directory: str | os.PathLike) -> None:
    if (Path(directory) / STAGING / MARKER).exists():
        raise MatsError(
            f"checkpoint {directory} is being written, or its write was interrupted: wait for training, "
            "or finish it with `mats-bench train --resume` (same settings) and retry"
        )


def read_tensors(path: str | os.PathLike, device: str = "cpu") -> dict:
    """``safetensors.torch.load_file``, with a corrupt or truncated file as a MatsError naming it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path, device=device)
    except (SafetensorError, OSError, ValueError) as exc:
        raise MatsError(
            f"{path}: corrupt or truncated safetensors file ({exc}); copy the checkpoint again, "
            "or retrain it (`mats-bench train --overwrite`)"
        ) from None


def guard_output(directory: str | os.PathLike, config: dict, resume: bool, overwrite: bool) -> str | None:
    """Refuse to replace a checkpoint without ``overwrite``, or to resume one trained with other
    settings (``config``: what this run will write to config.json). Returns a note to log."""
    out = Path(directory)
    if not (out / "config.json").exists() and not (out / STAGING).exists():
        return None
    if overwrite:
        for name in (*UNIT, "train_log.jsonl"):
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / STAGING, ignore_errors=True)
        return f"--overwrite: removed the checkpoint in {out}"
    check_fresh(out, resume, overwrite)
    note = recover(out)
    if not (out / "config.json").exists():
        return note
    if not (out / "trainer_state.json").exists():
        raise MatsError(
            f"--resume: {out} holds a checkpoint without its trainer state (trainer_state.json), so it "
            "cannot be continued exactly; pass --overwrite to train again, or choose another --output"
        )
    old = json.loads((out / "config.json").read_text())
    new = json.loads(json.dumps(config, default=str))
    a, b = dict(_flat(old)), dict(_flat(new))
    differ = sorted(
        k
        for k in set(a) | set(b)
        if a.get(k) != b.get(k) and k.split(".")[-1] not in NOT_TRAINING and k.split(".")[0] not in NOT_COMPARED
    )
    if differ:
        shown = "; ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in differ[:8])
        raise MatsError(
            f"--resume: {out} was trained with other settings ({shown}); resume with the same settings, "
            "or pass --overwrite to start again, or choose another --output"
        )
    return note


def check_fresh(directory: str | os.PathLike, resume: bool, overwrite: bool) -> None:
    """The cheap part of ``guard_output``, for the CLI to run before any model loads."""
    from mats_core.process.output_dir import check_output

    out = check_output(directory)  # a directory that can be written (not a file, /dev/null, read-only)
    if resume and overwrite:
        raise MatsError(
            "--resume and --overwrite contradict each other (continue the checkpoint, or replace it): pass one"
        )
    if not resume and not overwrite and ((out / "config.json").exists() or (out / STAGING / MARKER).exists()):
        raise MatsError(
            f"{out} already holds a checkpoint{_step(out)}; pass --resume to continue it, --overwrite to "
            "replace it, or choose another --output"
        )


def _step(out: Path) -> str:
    with contextlib.suppress(Exception):
        return f" (step {json.loads((out / 'config.json').read_text())['step']})"
    return ""


def _flat(d: dict, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for k, v in d.items():
        if isinstance(v, dict) and v:
            yield from _flat(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v

"""Sharded evaluation: which process am I, which bridge blocks are mine, and merging the shards.

Launched with ``accelerate launch --multi_gpu --num_processes N -m mats_core.cli run ...`` (or
``torchrun``), every process sees ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``. The launcher's ``--cpu``
flag starts ONE process (accelerate's simple launcher; multi-CPU needs MPI), so on a CPU-only
machine use ``--multi_gpu`` as well: with no GPU present it runs N CPU processes over gloo.

Each process generates the bridge blocks it owns (global block index modulo the world size)
into its own ``samples.rank{R}.jsonl``; rank 0 waits for everyone and merges the shards into
``samples.jsonl`` in the order a single process writes it. Bridge noise is seeded per block,
so a sharded run gives the same predictions as a single-process one.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator

# Ranks wait for the slowest shard at the merge: allow long shards (a dead peer is killed by the launcher anyway).
BARRIER_TIMEOUT = timedelta(hours=12)


@dataclass(frozen=True)
class Shards:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> "Shards":
        """Read the launcher's environment (torchrun / ``accelerate launch`` multi-process)."""
        from mats_core.errors import MatsError

        try:
            world = int(os.environ.get("WORLD_SIZE", "1"))
            rank = int(os.environ.get("RANK", "0"))
            local = int(os.environ.get("LOCAL_RANK", str(rank)))
        except ValueError as exc:
            raise MatsError(f"bad distributed environment (WORLD_SIZE/RANK/LOCAL_RANK): {exc}") from None
        if world < 1 or not 0 <= rank < world:
            raise MatsError(f"bad distributed environment: RANK={rank} with WORLD_SIZE={world}")
        if (
            "WORLD_SIZE" not in os.environ
            and os.environ.get("ACCELERATE_USE_CPU") == "True"
            and os.environ.get("MASTER_ADDR")
        ):
            import warnings  # accelerate's simple launcher sets MASTER_ADDR only when asked for several processes

            warnings.warn(
                "`accelerate launch --cpu --num_processes N` starts ONE process; for N CPU processes "
                "launch with `--multi_gpu --num_processes N` (it uses gloo when there is no GPU)",
                stacklevel=2,
            )
        return cls(rank, world, local)

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def owns(self, block: int) -> bool:
        """Round-robin over the run's bridge blocks (counted across tasks), so small tasks spread too."""
        return block % self.world == self.rank

    def device(self, device: str) -> str:
        """One GPU per process: a bare ``cuda``/``auto`` becomes ``cuda:<local rank>``."""
        if not self.active or device not in ("auto", "cuda"):
            return device
        import torch

        if not torch.cuda.is_available():
            return device
        return f"cuda:{self.local_rank % torch.cuda.device_count()}"

    def samples_file(self) -> str:
        return f"samples.rank{self.rank}.jsonl" if self.active else "samples.jsonl"

    # -- collectives (no-ops in a single process) ---------------------------------------------
    def barrier(self) -> None:
        if self.active:
            _group().barrier()

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (a small picklable value), on every rank, in rank order."""
        if not self.active:
            return [obj]
        dist = _group()
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    @contextmanager
    def main_first(self) -> Iterator[None]:
        """Rank 0 runs the block first (filling a shared cache), the others after it."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()


def _group():
    """torch.distributed with a process group: reuse one set up by accelerate, else gloo (CPU and GPU)."""
    import torch.distributed as dist

    if not dist.is_initialized():
        import atexit

        dist.init_process_group(backend="gloo", timeout=BARRIER_TIMEOUT)
        atexit.register(_close_group)
    return dist


def _close_group() -> None:
    """Tear down the group we set up: a gloo group left to the interpreter's exit can abort the
    process after its work is done ("terminate called without an active exception")."""
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def shard_files(out: Path) -> list[Path]:
    return sorted(out.glob("samples.rank*.jsonl"))


def earlier_rows(out: Path, skip: str | None = None) -> dict[tuple[str, str], dict]:
    """Rows already generated in ``out`` by any earlier run (merged file and per-rank files),
    so a rerun with any number of processes skips them. ``skip``: the file this process appends to."""
    from mats_core.run.results import read_samples

    rows: dict[tuple[str, str], dict] = {}
    for path in [out / "samples.jsonl", *shard_files(out)]:
        if path.name != skip and path.exists():
            rows.update({(r["task"], str(r["id"])): r for r in read_samples(path) if "task" in r and "id" in r})
    return rows


def merge_shards(out: Path, order: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """Merge ``samples.jsonl`` and every ``samples.rank*.jsonl`` into ``samples.jsonl``: the run's
    rows in ``order`` (single-process order), then any other rows already there. Rank files go
    once the merged file is safely written. Returns the rows by (task, id)."""
    import json

    from mats_core.run.results import atomic_write_text

    rows = earlier_rows(out)
    order = list(order)
    wanted = set(order)
    ordered = [rows[k] for k in order if k in rows] + [r for k, r in rows.items() if k not in wanted]
    atomic_write_text(out / "samples.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ordered))
    for path in shard_files(out):
        path.unlink()
    return rows

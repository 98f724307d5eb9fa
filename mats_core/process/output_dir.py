"""The output directory of a command (``run``, ``train``, ``sweep``): checked before anything is
written, and held by one process at a time.

:func:`check_output` refuses, as one ``MatsError``, an ``--output`` that is a file (or a device
such as /dev/null), that sits under a file, or whose directory (or nearest existing parent) is
not writable. :func:`output_lock` takes an exclusive advisory lock (``flock``) on the directory
itself, so no lock file is left behind: a second ``mats-bench run`` into the same ``--output``
refuses at once, instead of redoing (and duplicating) all the work beside the first. A
multi-process launch locks on rank 0 only (its processes share the directory by design).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from mats_core.errors import MatsError


def check_output(path: str | os.PathLike, *, flag: str = "--output") -> Path:
    """``path`` as a directory that can be created or written, or a ``MatsError`` saying why not."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise MatsError(
            f"{flag} {out}: exists and is not a directory (a file or a device); choose a directory, e.g. {flag} runs/mine"
        )
    existing = out
    while not existing.exists():  # the nearest existing parent: it must be a writable directory
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing != out and not existing.is_dir():
        raise MatsError(
            f"{flag} {out}: {existing} is a file, so the directory cannot be created; choose another {flag}"
        )
    if existing.exists() and not os.access(existing, os.W_OK | os.X_OK):
        what = "the directory" if existing == out else f"its parent {existing}"
        raise MatsError(
            f"{flag} {out}: {what} is not writable (read-only, or no permission); choose another {flag} or fix its permissions"
        )
    return out


@contextlib.contextmanager
def output_lock(path: str | os.PathLike, *, enabled: bool = True, flag: str = "--output") -> Iterator[None]:
    """Hold ``path`` (an existing directory) for the block; a second holder gets a ``MatsError``."""
    if not enabled:
        yield
        return
    import fcntl

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MatsError(
                f"{flag} {path}: another mats-bench process is writing this directory; wait for it to finish "
                f"(then rerun: finished samples are kept) or choose another {flag}"
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock

"""Keep the terminal for mats-bench's own output while a command works.

Third-party libraries write into a live progress display: transformers' warnings and logging,
pycocoevalcap's Java tokeniser (``PTBTokenizer tokenized ...``, from a subprocess that inherits
file descriptor 2) and stray ``print`` calls. Inside :func:`quiet`, all of that goes to a log
file in the output directory instead: Python's ``sys.stdout``/``sys.stderr``, the ``warnings``
module, ``logging`` and the process's fd 2 (so subprocesses too). Progress bars write to
:func:`terminal`, the real stdout. Everything is restored on exit, before errors are printed.

``logging`` is caught at the root logger, also for a library that configured its own: once
transformers' logging is set up, its ``transformers`` logger stops propagating and writes through
its own handler to whatever ``sys.stderr`` was then. Inside :func:`quiet` such loggers propagate
again and their console handlers are set aside (:func:`_reroute_loggers`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import IO, Iterator

LOG_NAME = "mats-bench.log"
_terminal: list[IO[str]] = []  # the real stdout while quiet() is active


def terminal() -> IO[str]:
    """Where mats-bench's own live output goes: the real stdout, also inside :func:`quiet`."""
    return _terminal[-1] if _terminal else sys.stdout


@contextlib.contextmanager
def quiet(log_dir: Path, enabled: bool = True) -> Iterator[Path]:
    """Send third-party output to ``log_dir/mats-bench.log`` for the duration of the block."""
    log_dir = Path(log_dir)
    path = log_dir / LOG_NAME
    if not enabled:
        yield path
        return
    created = not log_dir.exists()  # a run refused up front leaves no directory behind
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(path, "a", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed below
    stdout, stderr = sys.stdout, sys.stderr
    for stream in (stdout, stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved_fd = _redirect_fd(2, log)
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    rerouted = _reroute_loggers()
    _terminal.append(stdout)
    sys.stdout = sys.stderr = log
    failed = False
    try:
        with warnings.catch_warnings():  # restores the filters and showwarning a library changed
            warnings.showwarning = _split_warnings(warnings.showwarning, log)
            yield path
    except BaseException:
        failed = True
        raise
    finally:
        sys.stdout, sys.stderr = stdout, stderr
        _terminal.pop()
        root.removeHandler(handler)
        _restore_loggers(rerouted, log, stderr)
        if saved_fd is not None:
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
        log.close()
        if created and failed and [p.name for p in log_dir.iterdir()] == [LOG_NAME]:
            path.unlink()
            log_dir.rmdir()


def _split_warnings(shown, log: IO[str]):
    """mats-bench's own warnings (raised in a ``mats_*`` package: a torn samples.jsonl line, a
    dropped row) still reach the user, on the terminal; third-party ones go to the log."""

    def show(message, category, filename, lineno, file=None, line=None):
        if any(part.startswith("mats_") for part in Path(filename).parts):
            shown(message, category, filename, lineno, terminal(), line)
        else:
            log.write(warnings.formatwarning(message, category, filename, lineno, line))

    return show


def _redirect_fd(fd: int, log: IO[str]) -> int | None:
    """Point ``fd`` at the log; returns a copy of the old one (None when ``fd`` is not open)."""
    try:
        saved = os.dup(fd)
    except OSError:
        return None
    os.dup2(log.fileno(), fd)
    return saved


def _console_handlers(logger: logging.Logger) -> list[logging.Handler]:
    return [
        h for h in logger.handlers if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]


def _reroute_loggers() -> list[tuple[logging.Logger, bool, list[logging.Handler]]]:
    """Make every third-party logger with its own console handler, or that stops propagating,
    send its records up to the root logger (and so to the log); returns what to put back."""
    saved = []
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger) or name.split(".")[0].startswith("mats"):
            continue
        console = _console_handlers(logger)
        if console or not logger.propagate:
            saved.append((logger, logger.propagate, console))
            for h in console:
                logger.removeHandler(h)
            logger.propagate = True
    return saved


def _restore_loggers(saved, log: IO[str], stderr: IO[str]) -> None:
    """Undo :func:`_reroute_loggers`; a handler a library created inside the block (its stream is
    the log, about to close) is pointed at the real stderr instead."""
    for logger, propagate, console in saved:
        logger.propagate = propagate
        for h in console:
            logger.addHandler(h)
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for h in _console_handlers(logger) if isinstance(logger, logging.Logger) else ():
            if h.stream is log:
                if (
                    getattr(h.__dict__.get("flush"), "__self__", None) is log
                ):  # transformers binds flush to its stream's
                    del h.flush
                h.setStream(stderr)

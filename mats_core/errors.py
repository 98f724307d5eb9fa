"""The user-facing error type (public, stable).

A plugin raises :class:`MatsError` for a mistake the user can fix (a bad param, a missing file);
the command line prints its message as one ``error: ...`` line and exits with status 2.
"""

from __future__ import annotations

__all__ = ["MatsError"]


class MatsError(Exception):
    """A user-facing error: the message says what is wrong and what to do."""

"""Error lines users can act on: the closest known name to a typo, and a pydantic error as one line."""

from __future__ import annotations

import difflib
from typing import Iterable

from pydantic import ValidationError


def closest(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the nearest of ``known``, else ``""``."""
    match = difflib.get_close_matches(str(name), sorted(set(map(str, known))), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else ""


def format_errors(exc: ValidationError, prefix: str = "", known: Iterable[str] = (), noun: str = "param") -> str:
    """A pydantic error as one line: ``unknown param 'x'; did you mean 'y'?`` or
    ``param 'a.b': <why> (got <value>)``; ``prefix`` is prepended to every location."""
    known = list(known)
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"])
        where = f"{prefix}{loc}" if loc else (prefix.rstrip(".") or f"({noun}s)")
        if err["type"] == "extra_forbidden":
            top = known if len(err["loc"]) == 1 else []  # ``known``: the top-level fields only
            parts.append(
                f"unknown {noun} '{where}'{closest(str(err['loc'][-1]), top)}"
                + (f" (known: {', '.join(sorted(top))})" if top else "")
            )
        else:
            parts.append(f"{noun} '{where}': {err['msg']} (got {err.get('input')!r})")
    return "; ".join(parts)

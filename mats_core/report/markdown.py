"""Tables of results: the comparison printed by ``run`` and the Markdown/CSV of ``report``."""

from __future__ import annotations

import csv
import io
from typing import Any

Headline = dict[str, "list[str] | None"]  # task -> the metrics its table shows (the task's ``headline`` declaration)


def columns(
    rows: list[tuple[str, dict[str, dict[str, Any]]]], kinds: dict[str, str], headline: Headline | None = None
) -> list[tuple[str, str]]:
    """(task, metric) pairs present in any row: the task's declared headline metrics, in order,
    or every metric it reported when it declares none (results.json keeps them all)."""
    cols: list[tuple[str, str]] = []
    for task in kinds:
        present = set()
        for _, res in rows:
            present |= {m for m, v in res.get(task, {}).items() if v is not None}
        wanted = [m for m in (headline or {}).get(task) or [] if m in present] or sorted(present)
        cols += [(task, m) for m in wanted]
    return cols


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def as_rich_table(title: str, rows: list[tuple[str, dict]], kinds: dict[str, str], headline: Headline | None = None):
    """One table per task (bridges x that task's metrics): stays readable in an 80-column terminal
    or a CI log, where a single wide table would cut the names."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    cols = columns(rows, kinds, headline)
    tables: list = [Text(title, style="bold")]
    for task in kinds:
        metrics = [m for t, m in cols if t == task]
        if not metrics:
            continue
        table = Table(title=task, title_justify="left")
        table.add_column("row", style="bold", no_wrap=True)
        for metric in metrics:
            table.add_column(metric, justify="right", no_wrap=True)
        for name, res in rows:
            if task in res:  # reference rows cover only some tasks (zero-shot: classification)
                table.add_row(name, *[_fmt(res[task].get(m)) for m in metrics])
        tables.append(table)
    return Group(*tables)


def as_markdown(rows: list[tuple[str, dict]], kinds: dict[str, str], headline: Headline | None = None) -> str:
    cols = columns(rows, kinds, headline)
    head = "| row | " + " | ".join(f"{t} {m}" for t, m in cols) + " |"
    sep = "|---|" + "---:|" * len(cols)
    body = ["| " + name + " | " + " | ".join(_fmt(res.get(t, {}).get(m)) for t, m in cols) + " |" for name, res in rows]
    return "\n".join([head, sep, *body]) + "\n"


def as_csv(rows: list[tuple[str, dict]], kinds: dict[str, str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    cols = [(t, m) for t in kinds for m in sorted({m for _, r in rows for m in r.get(t, {})})]
    w.writerow(["row", *[f"{t}/{m}" for t, m in cols]])
    for name, res in rows:
        w.writerow([name, *[res.get(t, {}).get(m) for t, m in cols]])
    return buf.getvalue()

"""Tables of results: the comparison printed by ``run`` and the Markdown/CSV of ``report``."""
from __future__ import annotations

import csv
import io
from typing import Any

# The metrics a table shows per task kind (results.json keeps them all).
HEADLINE = {
    "caption": ["bleu_4", "meteor", "rouge_l", "cider", "spider"],
    "classification": ["accuracy_exact", "accuracy_embed", "accuracy"],
    "qa": ["accuracy", "wer"],
}


def columns(rows: list[tuple[str, dict[str, dict[str, Any]]]], kinds: dict[str, str]) -> list[tuple[str, str]]:
    """(task, metric) pairs present in any row, headline metrics first."""
    cols: list[tuple[str, str]] = []
    for task, kind in kinds.items():
        present = set()
        for _, res in rows:
            present |= {m for m, v in res.get(task, {}).items() if v is not None}
        wanted = [m for m in HEADLINE.get(kind, []) if m in present] or sorted(present)
        cols += [(task, m) for m in wanted]
    return cols


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def as_rich_table(title: str, rows: list[tuple[str, dict]], kinds: dict[str, str]):
    from rich.table import Table

    table = Table(title=title)
    table.add_column("row", style="bold")
    cols = columns(rows, kinds)
    for task, metric in cols:
        table.add_column(f"{task}\n{metric}", justify="right")
    for name, res in rows:
        table.add_row(name, *[_fmt(res.get(t, {}).get(m)) for t, m in cols])
    return table


def as_markdown(rows: list[tuple[str, dict]], kinds: dict[str, str]) -> str:
    cols = columns(rows, kinds)
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

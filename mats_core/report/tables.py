"""Printing a comparison.json: one table per task, each cell ``value [95% CI]``, ``*`` where the
paired difference from the reference row excludes 0, and n / --limit / source per row."""

from __future__ import annotations

from typing import Any

from mats_core.report.markdown import columns

MARK = "*"


def _num(v: Any) -> str:
    return "—" if v is None else f"{v:.3f}"


def cell(comp: dict, row: str, task: str, metric: str) -> str:
    """``0.720 [0.668, 0.770]*`` (single run) or ``0.720 ± 0.010 [0.695, 0.745]`` (over seeds)."""
    seeds = (comp.get("seeds") or {}).get("aggregate", {}).get(row, {}).get(task, {}).get(metric)
    if seeds and seeds.get("k", 0) > 1:
        text = f"{_num(seeds['mean'])} ± {seeds['std']:.3f}"
        return text + (f" [{seeds['low']:.3f}, {seeds['high']:.3f}]" if seeds.get("low") is not None else "")
    value = comp["rows"].get(row, {}).get(task, {}).get(metric)
    if value is None:
        return "—"
    text = _num(value)
    ci = comp.get("intervals", {}).get(row, {}).get(task, {}).get(metric)
    if ci:
        text += f" [{ci['low']:.2f}, {ci['high']:.2f}]"
    diff = comp.get("differences", {}).get(row, {}).get(task, {}).get(metric)
    return text + (MARK if diff and diff.get("excludes_zero") else "")


def _order(comp: dict) -> list[str]:
    return comp.get("order") or list(comp["rows"])


def _legend(comp: dict) -> str:
    ref = comp.get("reference", "noise")
    if comp.get("seeds"):
        return (
            f"mean ± std over {comp['seeds'].get('k', '?')} training seeds, [95% t-interval of the mean across seeds]"
        )
    ci = f"[95% bootstrap CI over samples, {comp['stats']['resamples']} resamples]"
    if ref not in _order(comp) or not any((comp.get("differences") or {}).values()):
        return (
            ci  # no row was compared with the reference (absent, a one-row table, or no resamples): no mark to explain
        )
    return (
        f"{ci}; {MARK} = differs from '{ref}' "
        "beyond chance (paired bootstrap 95% CI of the difference excludes 0; p in comparison.json)"
    )


def _limit(comp: dict, row: str) -> str:
    limit = comp.get("limit", {}).get(row)
    return "all" if limit is None else str(limit)


def as_rich(title: str, comp: dict):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    rows = [(r, comp["rows"][r]) for r in _order(comp)]
    cols = columns(rows, comp["kinds"], comp.get("headline"))
    parts: list = [Text(title, style="bold")]
    for task in comp["kinds"]:
        metrics = [m for t, m in cols if t == task]
        if not metrics:
            continue
        table = Table(title=f"{task} ({comp['kinds'][task]})", title_justify="left")
        table.add_column("row", style="bold", no_wrap=True)
        table.add_column("n", justify="right")
        for metric in metrics:
            table.add_column(metric, justify="right")
        for name, res in rows:
            if task in res:
                n = comp.get("samples", {}).get(name, {}).get(task)
                table.add_row(name, "—" if n is None else str(n), *[cell(comp, name, task, m) for m in metrics])
        parts.append(table)
    limits = sorted({_limit(comp, r) for r, _ in rows})
    parts.append(Text(f"--limit: {', '.join(limits)} · {_legend(comp)}", style="dim"))
    return Group(*parts)


def as_markdown(comp: dict, with_source: bool = False) -> str:
    """One Markdown table per task, then the paired differences against the reference."""
    rows = [(r, comp["rows"][r]) for r in _order(comp)]
    cols = columns(rows, comp["kinds"], comp.get("headline"))
    out = [f"{_legend(comp)}\n"]
    if comp.get("oracle_bank"):  # the diagnosis-only coverage dial: never a result of the method
        rows_on = ", ".join(f"{n} (+{k})" for n, k in comp["oracle_bank"].items())
        out.insert(0, f"**ORACLE BANK, diagnosis only: test captions in the memory bank of {rows_on}**\n")
    for task in comp["kinds"]:
        metrics = [m for t, m in cols if t == task]
        if not metrics:
            continue
        extra = ["limit", "source"] if with_source else ["limit"]
        out += [
            f"### {task} ({comp['kinds'][task]})\n",
            "| row | n | " + " | ".join(extra + metrics) + " |",
            "|---|---:|" + "---|" * len(extra) + "---:|" * len(metrics),
        ]
        for name, res in rows:
            if task not in res:
                continue
            n = comp.get("samples", {}).get(name, {}).get(task)
            info = [_limit(comp, name)] + ([comp.get("sources", {}).get(name, "")] if with_source else [])
            out.append(
                f"| {name} | {'—' if n is None else n} | "
                + " | ".join(info + [cell(comp, name, task, m) for m in metrics])
                + " |"
            )
        out.append("")
        diffs = [(name, comp.get("differences", {}).get(name, {}).get(task, {})) for name, _ in rows]
        diffs = [(n, d) for n, d in diffs if d]
        if diffs:
            out += [
                f"Difference from `{comp.get('reference')}` (paired bootstrap 95% CI, two-sided p):\n",
                "| row | " + " | ".join(metrics) + " |",
                "|---|" + "---:|" * len(metrics),
            ]
            for name, d in diffs:
                out.append(f"| {name} | " + " | ".join(_diff(d.get(m)) for m in metrics) + " |")
            out.append("")
    return "\n".join(out)


def _diff(d: dict | None) -> str:
    if not d:
        return "—"
    p = "p<0.001" if d["p"] < 0.001 else f"p={d['p']:.3f}"
    return f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] {p}{MARK if d['excludes_zero'] else ''}"


def as_csv(comp: dict) -> str:
    """Long format: one line per (row, task, metric) with its interval, n, limit, source and difference."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "row",
            "task",
            "metric",
            "value",
            "ci_low",
            "ci_high",
            "se",
            "n",
            "limit",
            "source",
            "diff_vs_reference",
            "diff_low",
            "diff_high",
            "p",
        ]
    )
    for row in _order(comp):
        for task, metrics in comp["rows"][row].items():
            for m, v in metrics.items():
                ci = comp.get("intervals", {}).get(row, {}).get(task, {}).get(m) or {}
                d = comp.get("differences", {}).get(row, {}).get(task, {}).get(m) or {}
                w.writerow(
                    [
                        row,
                        task,
                        m,
                        v,
                        ci.get("low"),
                        ci.get("high"),
                        ci.get("se"),
                        comp.get("samples", {}).get(row, {}).get(task),
                        comp.get("limit", {}).get(row),
                        comp.get("sources", {}).get(row),
                        d.get("difference"),
                        d.get("low"),
                        d.get("high"),
                        d.get("p"),
                    ]
                )
    return buf.getvalue()

"""The core stays readable: no module over 400 lines, no function over 60 lines, none with more than
6 positional parameters (self/cls not counted; a typer command takes its options keyword-only)."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "mats_core"
MAX_LINES, MAX_FUNCTION, MAX_POSITIONAL = 400, 60, 6


def positional(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    args = [*fn.args.posonlyargs, *fn.args.args]
    return len(args) - (1 if args and args[0].arg in ("self", "cls") else 0)


def violations(path: Path) -> list[str]:
    text = path.read_text()
    found = []
    if len(text.splitlines()) > MAX_LINES:
        found.append(f"{path.name}: {len(text.splitlines())} lines (max {MAX_LINES})")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION:
                found.append(f"{path.name}:{node.lineno} {node.name}: {length} lines (max {MAX_FUNCTION})")
            if positional(node) > MAX_POSITIONAL:
                found.append(
                    f"{path.name}:{node.lineno} {node.name}: {positional(node)} positional parameters (max {MAX_POSITIONAL})"
                )
    return found


def test_core_modules_and_functions_stay_small() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 50  # the core itself, not an empty glob
    bad = [v for f in files for v in violations(f)]
    assert not bad, "\n".join(bad)


def test_the_checker_catches_each_limit(tmp_path: Path) -> None:
    long_body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION))
    src = tmp_path / "m.py"
    src.write_text(
        f"def long():\n{long_body}\n\n\ndef wide(a, b, c, d, e, f, g):\n    pass\n\n\n"
        "class C:\n    def ok(self, a, b, c, d, e, f, *, g=1):\n        pass\n" + "\n" * MAX_LINES
    )
    found = violations(src)
    assert any("long: 61 lines" in v for v in found)
    assert any("wide: 7 positional" in v for v in found)
    assert not any(" ok:" in v for v in found)  # self is not counted, keyword-only params are free
    assert any("m.py: " in v and "lines (max 400)" in v for v in found)

"""docs/reference/robustness.md counts the regression tests of each failure class: the counts must
be those of tests/test_bad_inputs_r2.py, whose sections are headed ``# -- N. ...``."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _functions_by_class() -> dict[int, int]:
    counts: dict[int, int] = {}
    section = None
    for line in (ROOT / "tests" / "test_bad_inputs_r2.py").read_text().splitlines():
        head = re.match(r"# -- (\d)\.", line)
        if head:
            section = int(head.group(1))
        elif line.startswith("def test_"):
            assert section is not None, f"a test before the first class section: {line}"
            counts[section] = counts.get(section, 0) + 1
    return counts


def test_the_robustness_page_counts_every_class_s_tests() -> None:
    page = (ROOT / "docs" / "reference" / "robustness.md").read_text()
    rows = {int(m.group(1)): int(m.group(2)) for m in re.finditer(r"^\| (\d)\. [^|]+\|[^|]+\| (\d+) \|", page, re.M)}
    assert rows == _functions_by_class(), "update docs/reference/robustness.md's table (functions column)"
    assert sorted(rows) == list(range(1, 10))

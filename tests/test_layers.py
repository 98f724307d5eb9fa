"""The core's layering is a contract: no import cycle, imports flow one way through at most six layers,
every sub-package has its place in that contract, and docs/reference/layout.md shows the tree as it is."""

from __future__ import annotations

import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "mats_core"


def contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def layer_members(layer: str) -> list[str]:
    return [m.strip() for part in layer.split("|") for m in part.split(":")]


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("mats_core")


def test_no_module_of_the_core_imports_itself_back(graph):
    cycles = sorted(
        (m, x)
        for m in graph.modules
        for x in graph.find_modules_directly_imported_by(m)
        if not (x.startswith(m + ".") or m.startswith(x + ".") or m == x) and graph.chain_exists(x, m)
    )
    assert not cycles, f"import cycles: {cycles[:10]}"


def test_the_layers_contract_holds_at_most_six_layers_and_names_every_sub_package():
    (layers,) = [c for c in contracts() if c["type"] == "layers"]
    assert 3 <= len(layers["layers"]) <= 6
    listed = {m for layer in layers["layers"] for m in layer_members(layer)}
    packages = {f"mats_core.{p.name}" for p in CORE.iterdir() if (p / "__init__.py").is_file()}
    modules = {f"mats_core.{p.stem}" for p in CORE.glob("*.py") if p.stem != "__init__"}
    assert packages | modules <= listed, f"not placed in a layer: {sorted(packages | modules - listed)}"
    assert listed <= packages | modules, f"layers name what does not exist: {sorted(listed - packages - modules)}"


def test_imports_flow_down_the_layers(graph):
    """The same check as `lint-imports`, on grimp's graph, so the suite fails without the CLI too."""
    (layers,) = [c for c in contracts() if c["type"] == "layers"]
    rank = {m: i for i, layer in enumerate(layers["layers"]) for m in layer_members(layer)}

    def layer_of(module: str) -> int | None:
        parts = module.split(".")
        return rank.get(".".join(parts[:2]))

    upward = sorted(
        (m, x)
        for m in graph.modules
        for x in graph.find_modules_directly_imported_by(m)
        if layer_of(m) is not None and layer_of(x) is not None and layer_of(x) < layer_of(m)
    )
    assert not upward, f"imports from a higher layer: {upward[:10]}"


def test_the_checker_catches_an_upward_import(tmp_path: Path, monkeypatch):
    pkg = tmp_path / "layered"
    for sub in ("top", "low"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "low" / "m.py").write_text("from layered.top import x\n")
    (pkg / "top" / "x.py").write_text("from layered.low import m\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    g = grimp.build_graph("layered", cache_dir=None)
    assert g.find_illegal_dependencies_for_layers(layers=("layered.top", "layered.low"), containers=set())


def test_the_layout_page_lists_every_sub_package():
    page = (ROOT / "docs" / "reference" / "layout.md").read_text()
    packages = sorted(p.name for p in CORE.iterdir() if (p / "__init__.py").is_file())
    missing = [p for p in packages if f"`mats_core/{p}/`" not in page]
    assert not missing, f"docs/reference/layout.md does not show: {missing}"

"""The plugin contract: built-in plugins use only the documented public core names, every
optional member the core reads is declared, and the API reference lists the public modules."""

import ast
import importlib
import re
from pathlib import Path

import mats_core
from mats_core.capabilities import OPTIONAL

ROOT = Path(__file__).resolve().parents[1]


def _core_imports(path: Path):
    """(line, module, names) of every import of mats_core in a file (names None for `import x`)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mats_core":
            yield node.lineno, node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "mats_core":
                    yield node.lineno, a.name, None


def test_plugins_import_only_documented_public_names():
    bad = []
    files = sorted((ROOT / "plugins").rglob("*.py"))
    assert len(files) > 20
    for path in files:
        for line, module, names in _core_imports(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            if module not in mats_core.PUBLIC_MODULES:
                bad.append(f"{where}: imports {module}, which is not in mats_core.PUBLIC_MODULES")
                continue
            public = set(importlib.import_module(module).__all__)
            bad += [f"{where}: {module}.{n} is not in its __all__" for n in names or [] if n not in public]
    assert not bad, "\n".join(bad)


def test_the_check_catches_a_private_import(tmp_path):
    path = tmp_path / "p.py"
    path.write_text("from mats_core.run.harness import evaluate\nimport mats_core.train.trainer\n")
    assert [m for _, m, _ in _core_imports(path)] == ["mats_core.run.harness", "mats_core.train.trainer"]
    assert not {"mats_core.run.harness", "mats_core.train.trainer"} & set(mats_core.PUBLIC_MODULES)


def test_public_modules_declare_all_and_are_documented():
    api = (ROOT / "docs" / "reference" / "api.md").read_text()
    for module in mats_core.PUBLIC_MODULES:
        names = importlib.import_module(module).__all__
        assert names and all(hasattr(importlib.import_module(module), n) for n in names), module
        assert f"`{module}`" in api or f"::: {module}" in api, (
            f"{module} is public but docs/reference/api.md does not list it"
        )


def test_every_optional_member_the_core_reads_is_declared():
    declared = {name for members in OPTIONAL.values() for name in members}
    read = set()
    for path in (ROOT / "mats_core").rglob("*.py"):
        read |= set(re.findall(r'capability\([\w.]+, "(\w+)"', path.read_text()))
    assert read and read <= declared, f"read but not declared in mats_core.capabilities.OPTIONAL: {read - declared}"
    bypass = [
        f"{path.name}: getattr(..., {name!r})"
        for path in (ROOT / "mats_core").rglob("*.py")
        if path.name != "capabilities.py"
        and path.parent.name != "testing"  # the conformance checks inspect members on purpose
        for name in re.findall(
            r'getattr\((?:[\w.]*\.)?(?:bridge|encoder|llm|task|metric|corpus), "(\w+)"', path.read_text()
        )
        if name in declared
    ]
    assert not bypass, f"optional members read around capability() (its None-means-absent rule skipped): {bypass}"
    api = (ROOT / "docs" / "reference" / "api.md").read_text()
    missing = [f"{kind}.{name}" for kind, members in OPTIONAL.items() for name in members if f"`{name}`" not in api]
    assert not missing, f"optional members not in docs/reference/api.md: {missing}"


def test_capability_defaults():
    class Bare:
        pass

    class Full:
        pairs_with = "clean"
        max_length = None  # None counts as absent

    assert mats_core.capabilities.capability(Bare(), "pairs_with", "noise") == "noise"
    assert mats_core.capabilities.capability(Full(), "pairs_with", "noise") == "clean"
    assert mats_core.capabilities.capability(Full(), "max_length", 7) == 7


def _optional_members_hook():
    """docs/hooks/optional_members.py, the renderer of api.md's optional-members table."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("optional_members", ROOT / "docs" / "hooks" / "optional_members.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_optional_members_table_is_rendered_from_optional():
    hook = _optional_members_hook()
    page = hook.page_table((ROOT / "docs" / "reference" / "api.md").read_text())
    assert page == hook.render(), (
        "docs/reference/api.md's optional-members table differs from mats_core.capabilities.OPTIONAL; "
        "run `python docs/hooks/optional_members.py`"
    )


def test_the_table_shows_every_member_and_default():
    hook = _optional_members_hook()
    changed = {**OPTIONAL, "corpus": {"weight": (1.5, "how much of the corpus a run draws")}}
    table = hook.render(changed)
    assert "| corpus | `name`, `records()` | `weight` | `1.5` | how much of the corpus a run draws |" in table
    assert table != hook.render()
    assert (
        "| bridge | `fit(memory)`, `train(text, generator)`, `infer(audio, generator)` | `uses_memory` | `True` |"
        in table
    )


def test_every_protocol_is_public_and_documented():
    """No unused protocol: each one in interfaces.py is exported and has its section in api.md."""
    import typing

    from mats_core import interfaces

    api = (ROOT / "docs" / "reference" / "api.md").read_text()
    protocols = [
        name
        for name, obj in vars(interfaces).items()
        if isinstance(obj, type) and obj.__module__ == interfaces.__name__ and typing.Protocol in obj.__mro__
    ]
    assert len(protocols) >= 7
    hidden = [n for n in protocols if n not in interfaces.__all__ or not hasattr(mats_core, n)]
    assert not hidden, f"protocols defined but not part of the public API: {hidden}"
    undocumented = [n for n in protocols if f"::: mats_core.{n}" not in api]
    assert not undocumented, f"protocols without a section in docs/reference/api.md: {undocumented}"


def _unchecked_optional_reads(source: str):
    """(line, expression) of each read of a plugin object's optional member (``pipe.llm.device``,
    ``bridge.pairs_with``) in a function that did not first ask ``capability()`` for it: such a read
    crashes on a plugin without the member, or takes its None for a value."""
    tree = ast.parse(source)
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        checked = {
            (ast.unparse(c.args[0]), c.args[1].value)
            for c in ast.walk(fn)
            if isinstance(c, ast.Call)
            and getattr(c.func, "id", getattr(c.func, "attr", None)) == "capability"
            and len(c.args) >= 2
            and isinstance(c.args[1], ast.Constant)
        }
        for node in ast.walk(fn):
            if not isinstance(node, ast.Attribute) or isinstance(node.ctx, ast.Store):
                continue
            owner = getattr(node.value, "id", getattr(node.value, "attr", None))  # llm, pipe.llm, self.bridge
            members = OPTIONAL.get(owner, {})
            if node.attr in members and (ast.unparse(node.value), node.attr) not in checked:
                yield node.lineno, ast.unparse(node)


def test_optional_members_are_read_through_capability():
    bad = [
        f"{path.relative_to(ROOT)}:{line}: {expr}"
        for path in sorted((ROOT / "mats_core").rglob("*.py"))
        if path.name != "capabilities.py" and "testing" not in path.parts  # the conformance kit inspects on purpose
        for line, expr in sorted(set(_unchecked_optional_reads(path.read_text())))
    ]
    assert not bad, "optional members read without capability() (use capability()/llm_device()):\n" + "\n".join(bad)


def test_the_check_catches_an_unchecked_read():
    source = (
        "def to_llm(pipe, z):\n    return z.to(pipe.llm.device)\n"
        "def pairing(bridge):\n    return bridge.pairs_with\n"
        "def guarded(task):\n    return dict(task.notes) if capability(task, 'notes') else None\n"
    )
    assert sorted(_unchecked_optional_reads(source)) == [(2, "pipe.llm.device"), (4, "bridge.pairs_with")]

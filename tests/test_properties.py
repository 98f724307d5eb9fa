"""Property-based tests (Hypothesis) of the parsers and validators a user's text reaches (issue 33):
``--set`` values, registry / grid / suite YAML, corpus JSONL, dataset manifests and the official
CSV layouts.

The property, for every one of them: a clear ``MatsError`` or a correct result, never another
exception, and never a silently dropped field (what was given is in the result, or refused).
Example counts are kept small (the whole file runs in well under a minute); a failure prints
the smallest input Hypothesis found, which belongs in tests/test_bad_inputs_r2.py as a case.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mats_core import MatsError

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ident = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=12),
)
yaml_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(ident, inner, max_size=3)),
    max_leaves=8,
)
junk_text = st.text(max_size=200)


def _write(text: str | bytes, name: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="mats-prop-"))
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    return path


def _refused_or(fn, *args, **kw):
    """``fn``'s result, or None when it refused with a MatsError (any other exception fails)."""
    try:
        return fn(*args, **kw)
    except MatsError as exc:
        assert str(exc).strip(), "an empty error message"
        return None


# -- --set values ---------------------------------------------------------------------------------
@FAST
@given(st.lists(st.tuples(st.lists(ident, min_size=2, max_size=4), scalars), max_size=6))
def test_set_values_are_kept_or_refused(pairs):
    from mats_core.config.overrides import parse_sets

    items = [
        f"{'.'.join(path)}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"
        for path, value in pairs
    ]
    out = _refused_or(parse_sets, items)
    keys = [tuple(path) for path, _ in pairs]
    clash = any(a != b and a[: len(b)] == b for a in keys for b in keys)  # a.b=1 and a.b.c=2
    assert (out is None) == clash
    if out is None:
        return
    for item in items:  # the last --set of a key wins; each key given is in the result with its value
        key, _, raw = item.partition("=")
        node = out
        for part in key.split("."):
            node = node[part]
        last = [i for i in items if i.partition("=")[0] == key][-1].partition("=")[2]
        assert node == (yaml.safe_load(last) if last.strip() else "")


@FAST
@given(st.lists(junk_text, max_size=4))
def test_any_set_text_is_parsed_or_refused(items):
    from mats_core.config.overrides import parse_sets

    out = _refused_or(parse_sets, items)
    assert out is None or isinstance(out, dict)


# -- registry / grid / suite YAML -------------------------------------------------------------------
@FAST
@given(st.one_of(junk_text, yaml_values.map(lambda v: yaml.safe_dump(v))))
def test_registry_files_are_read_or_refused(text):
    from mats_core.registry.presets import _read_registry, checkpoint_sets, cli_defaults

    path = _write(text, "reg.yaml")
    presets = _refused_or(_read_registry, path)
    if presets is not None:
        raw = yaml.safe_load(text) or {}
        for kind, table in presets.items():
            assert set(table) == set(raw[kind] or {})  # every preset of a section is kept
    _refused_or(checkpoint_sets, path)
    _refused_or(cli_defaults, path)


@FAST
@given(
    st.dictionaries(
        st.sampled_from(["tiny", "x", "y"]),
        st.fixed_dictionaries(
            {"plugin": st.sampled_from(["tiny-clap", "noise"])},
            optional={"params": st.dictionaries(ident, scalars, max_size=3)},
        ),
        max_size=3,
    )
)
def test_registry_presets_keep_every_param(table):
    from mats_core.registry.presets import _read_registry

    presets = _read_registry(_write(yaml.safe_dump({"bridge": table}), "reg.yaml"))
    for name, body in table.items():
        assert presets["bridge"][name].plugin == body["plugin"] and presets["bridge"][name].params == body.get(
            "params", {}
        )


@FAST
@given(
    st.one_of(
        junk_text,
        yaml_values.map(yaml.safe_dump),
        st.fixed_dictionaries(
            {
                "tasks": st.lists(ident, max_size=2),
                "grid": st.lists(
                    st.fixed_dictionaries(
                        {"bridge": ident},
                        optional={
                            "params": st.dictionaries(
                                ident, st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=2
                            )
                        },
                    ),
                    max_size=3,
                ),
            }
        ).map(yaml.safe_dump),
    )
)
def test_grid_files_are_read_or_refused(text):
    from mats_core.bench.sweep_spec import load_spec

    spec = _refused_or(load_spec, _write(text, "grid.yaml"))
    if spec is None:
        return
    raw = yaml.safe_load(text)
    assert spec.points(), "a grid without points was accepted"
    for entry in raw["grid"]:  # every value of every swept param is a point of its own, none twice
        for key, values in (entry.get("params") or {}).items():
            values = values if isinstance(values, list) else [values]
            got = [
                p[key] for b, p in spec.points() if b == entry["bridge"] and key in p
            ]  # two entries may share a bridge
            assert all(v in got for v in values)
    assert len({json.dumps(p, sort_keys=True, default=str) + b for b, p in spec.points()}) == len(spec.points())


@FAST
@given(
    st.one_of(
        junk_text,
        yaml_values.map(yaml.safe_dump),
        st.fixed_dictionaries(
            {"tasks": st.dictionaries(ident, st.dictionaries(ident, scalars, max_size=2), max_size=3)},
            optional={"bridges": st.lists(ident, max_size=3), "run": st.dictionaries(ident, scalars, max_size=2)},
        ).map(yaml.safe_dump),
    )
)
def test_suite_files_are_read_or_refused(text):
    from mats_core.config.suites import load_suite

    suite = _refused_or(load_suite, _write(text, "suite.yaml"))
    if suite is not None:
        raw = yaml.safe_load(text)
        assert suite.tasks == raw["tasks"] and suite.run == raw.get("run", {})


# -- corpus JSONL, manifests -------------------------------------------------------------------------
record = st.dictionaries(
    st.sampled_from(["text", "instruction", "answer", "task", "task_token"]),
    st.one_of(st.text(max_size=10), scalars),
    max_size=5,
)


@FAST
@given(
    st.lists(st.one_of(record.map(json.dumps), junk_text.map(lambda t: t.replace("\n", " "))), min_size=0, max_size=5)
)
def test_corpus_files_are_read_or_refused(lines):
    from mats_core.corpus import load_corpus

    out = _refused_or(load_corpus, str(_write("\n".join(lines) + "\n", "c.jsonl")))
    if out is None:
        return
    _, records = out
    given_records = [json.loads(line) for line in lines if line.strip()]
    assert len(records) == len(given_records)  # no line dropped
    for rec, raw in zip(records, given_records):
        for key in raw:  # every field kept, with its value (``task`` defaults to caption)
            assert rec[key] == raw[key]


@FAST
@given(st.binary(max_size=120))
def test_corpus_bytes_are_read_or_refused(data):
    from mats_core.corpus import load_corpus

    _refused_or(load_corpus, str(_write(data, "c.jsonl")))


manifest_line = st.dictionaries(
    st.sampled_from(["id", "audio", "instruction", "references", "label", "answer", "split", "meta", "refrences"]),
    st.one_of(st.text(max_size=8), scalars, st.lists(st.text(max_size=6), max_size=3)),
    max_size=5,
)


@FAST
@given(st.lists(manifest_line, min_size=1, max_size=4), st.sampled_from([None, "caption", "classification", "qa"]))
def test_manifests_are_read_or_refused(lines, kind):
    from mats_core import build

    path = _write("".join(json.dumps(l) + "\n" for l in lines), "m.jsonl")
    task = _refused_or(build, "task", "jsonl", path=str(path), **({"task_kind": kind} if kind else {}))
    samples = task and _refused_or(task.samples)
    if samples:
        assert len(samples) == len([l for l in lines if l.get("split") in (None, "test")]) or len(samples) <= len(lines)
        for s, raw in zip(samples, lines):
            if isinstance(raw.get("label"), str) and raw["label"].strip():
                assert s.label == raw["label"].strip()


# -- the official CSV layouts --------------------------------------------------------------------------
cell = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=10)


@FAST
@given(st.lists(st.lists(cell, min_size=1, max_size=5), max_size=5), st.booleans())
def test_csv_rows_are_read_whole_or_refused(rows, header):
    from mats_datasets._common import read_csv

    buf = io.StringIO()
    csv.writer(buf).writerows([["a", "b", "c"], *rows] if header else rows)
    got = _refused_or(lambda: list(read_csv(_write(buf.getvalue(), "m.csv"), ["a", "b", "c"], header=header)))
    if got is None:
        return
    for _, row in got:  # every field of an accepted row is kept: never more fields than columns
        assert len(row) == 3


@FAST
@given(junk_text)
def test_any_csv_text_is_read_or_refused(text):
    from mats_datasets._common import read_csv

    _refused_or(lambda: list(read_csv(_write(text, "m.csv"), ["filename", "fold"])))


@FAST
@given(st.lists(st.tuples(cell, st.integers(1, 5), st.sampled_from(["dog", "rain", ""])), min_size=1, max_size=4))
def test_esc50_metadata_is_read_or_refused(rows):
    from mats_core import build

    root = Path(tempfile.mkdtemp(prefix="mats-prop-"))
    (root / "esc50" / "meta").mkdir(parents=True)
    (root / "esc50" / "audio").mkdir()
    buf = io.StringIO()
    csv.writer(buf).writerows(
        [
            ["filename", "fold", "target", "category", "esc10", "src_file", "take"],
            *[[n, f, {"dog": 0, "rain": 10, "": 3}[c], c, "True", 1, "A"] for n, f, c in rows],
        ]
    )
    (root / "esc50" / "meta" / "esc50.csv").write_text(buf.getvalue())
    task = _refused_or(build, "task", "esc50", data_root=str(root))
    samples = task and _refused_or(task.samples)
    if samples:
        assert len(samples) == len(rows)  # no row dropped
        for s in samples:
            assert Path(s.audio).resolve().is_relative_to((root / "esc50" / "audio").resolve())


@pytest.mark.parametrize("text", ["", "---\n", "[]\n", "checkpoints: 3\n", "defaults: [a]\n"])
def test_degenerate_registry_files(text):
    from mats_core.registry.presets import checkpoint_sets, cli_defaults

    path = _write(text, "reg.yaml")
    for fn in (checkpoint_sets, cli_defaults):
        _refused_or(fn, path)

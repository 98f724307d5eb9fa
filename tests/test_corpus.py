"""mats_core.corpus: the JSONL training-corpus format, its validation, and the shared JSONL
reader that dataset manifests use too (the same messages naming file, line and field)."""

import json

import pytest

from mats_core import MatsError, build
from mats_core.corpus import JsonlCorpus, json_object, load_corpus, read_jsonl, text_field, validate_record

GOOD = {"text": "a dog barks", "instruction": "Describe the audio.", "answer": "A dog barks."}


def write_lines(path, *lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_records_are_streamed_validated_and_task_defaults_to_caption(tmp_path):
    path = write_lines(tmp_path / "c.jsonl", GOOD, "", "   ", {**GOOD, "task": "qa"})
    records = list(JsonlCorpus(path).records())
    assert [r["task"] for r in records] == ["caption", "qa"]
    assert records[0]["answer"] == "A dog barks."  # values are kept as given
    corpus, loaded = load_corpus(str(path))
    assert corpus.name == "c" and loaded == records


def test_bom_and_crlf_are_tolerated(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\r\n" + json.dumps(GOOD).encode() + b"\r\n")
    assert [n for n, _ in read_jsonl(path)] == [1, 2]


def test_a_json_string_holding_a_unicode_line_separator_stays_one_line(tmp_path):
    path = write_lines(tmp_path / "c.jsonl", json.dumps({**GOOD, "text": "a\u2028b"}, ensure_ascii=False), GOOD)
    assert [(n, r["text"]) for n, r in read_jsonl(path)] == [(1, "a\u2028b"), (2, "a dog barks")]


BAD = [
    ("{not json", r"c\.jsonl:3: not valid JSON \(Expecting property name enclosed in double quotes at column 2\)"),
    ([1, 2], r"c\.jsonl:3: expected a JSON object, got list \(records need text, instruction, answer"),
    (
        {k: v for k, v in GOOD.items() if k != "answer"},
        r"c\.jsonl:3: field 'answer' is missing \(records need text, instruction, answer; 'task' optional\)",
    ),
    ({**GOOD, "text": "  "}, r"c\.jsonl:3: field 'text' must be a non-empty string, got '  '"),
    ({**GOOD, "instruction": 7}, r"c\.jsonl:3: field 'instruction' must be a non-empty string, got 7"),
    ({**GOOD, "task": ["qa"]}, r"c\.jsonl:3: field 'task' must be a non-empty string, got \['qa'\]"),
]


@pytest.mark.parametrize("bad,message", BAD)
def test_bad_line_names_file_line_and_field(tmp_path, bad, message):
    path = write_lines(tmp_path / "c.jsonl", GOOD, "", bad)
    with pytest.raises(MatsError, match=message):
        load_corpus(str(path))


def test_not_utf8_and_missing_file(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + '{"text": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(MatsError, match=r"c\.jsonl:2: not UTF-8 text \(invalid continuation byte at byte 13 "):
        list(read_jsonl(path))
    with pytest.raises(MatsError, match=r"corpus file .*nope\.jsonl does not exist"):
        load_corpus(str(tmp_path / "nope.jsonl"))
    with pytest.raises(MatsError, match=r"nope\.jsonl does not exist"):
        list(read_jsonl(tmp_path / "nope.jsonl"))


def test_a_corpus_inside_an_installed_package_by_pkg_path(tmp_path, monkeypatch):
    """pkg:module/rel/path: a shipped checkpoint set names its training corpus this way (its memory
    bank is drawn from it wherever the package is installed)."""
    pkg = tmp_path / "site" / "corpus_pkg"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    write_lines(pkg / "data" / "c.jsonl", GOOD, {**GOOD, "task": "qa"})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    _, records = load_corpus("pkg:corpus_pkg/data/c.jsonl")
    assert [r["task"] for r in records] == ["caption", "qa"]
    with pytest.raises(MatsError, match=r"corpus file .*corpus_pkg/data/gone\.jsonl does not exist"):
        load_corpus("pkg:corpus_pkg/data/gone.jsonl")
    with pytest.raises(MatsError, match="package 'no_such_pkg' is not installed"):
        load_corpus("pkg:no_such_pkg/c.jsonl")


def test_empty_corpus_and_records_of_a_registered_corpus(tmp_path):
    with pytest.raises(MatsError, match="has no records"):
        load_corpus(str(write_lines(tmp_path / "empty.jsonl", "")))
    with pytest.raises(MatsError, match=r"corpus 'x' record 4: field 'answer' is missing"):
        validate_record({"text": "t", "instruction": "i"}, "corpus 'x' record 4")


def test_field_helpers():
    assert text_field({"a": "  x "}, "a", "here") == "x"
    assert text_field({}, "a", "here") is None
    with pytest.raises(MatsError, match=r"^here: field 'a' is missing \(hint\)$"):
        text_field({}, "a", "here", required=True, hint="hint")
    with pytest.raises(MatsError, match=r"^here: expected a JSON object, got str$"):
        json_object("x", "here")


def test_manifest_uses_the_same_reader_and_messages(tmp_path):
    """The jsonl dataset manifest (plugins/mats_datasets) reports a problem exactly as a corpus does."""
    pytest.importorskip("mats_datasets")
    for bad, field in (("{not json", None), ({"audio": 3, "references": ["x"]}, "audio")):
        corpus = write_lines(tmp_path / "c.jsonl", bad if field is None else {**GOOD, "text": 3})
        manifest = write_lines(tmp_path / "m.jsonl", bad)
        with pytest.raises(MatsError) as from_corpus:
            load_corpus(str(corpus))
        with pytest.raises(MatsError) as from_manifest:
            build("task", "jsonl", path=str(manifest), task_kind="caption")
        tail = lambda exc: str(exc.value).split(":1: ", 1)[1].split(" (records need")[0]
        if field is None:
            assert tail(from_corpus) == tail(from_manifest)
        else:
            assert tail(from_corpus).replace("'text'", "'audio'") == tail(from_manifest)

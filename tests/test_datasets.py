"""The dataset tasks (plugin mats_datasets) on tiny copies of each dataset's official layout.

Covers what a reader must get right on real downloads: ids, grouped references, labels as
words, audio found under every naming the releases and download scripts use (and a missing
file not failing ``samples()``), clear errors for missing metadata and bad manifest lines,
scoring (rows with errors count as wrong), and an end-to-end ``mats-bench run`` per dataset.
Caption scoring runs Java (PTB tokeniser, METEOR), a few seconds per caption task.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dataset_fixtures import make_all, make_audiocaps, make_esc50, tone, write_csv

from mats_core import MatsError, build
from mats_core.testing import check_task

DATASETS = ["clotho", "audiocaps", "musiccaps", "esc50", "urbansound8k", "vggsound", "clotho-aqa"]
CAPTION = "Describe the following audio in a caption."
CLASSIFY = "Identify the sounds in the audio clip, only display audio tags."
MUSIC = "Listen to this music clip and describe the music."


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    return root, make_all(root)


def task(name: str, root: Path, **params):
    return build("task", name, data_root=str(root), **params)


def ids(t, split=None) -> list[str]:
    return [s.id for s in t.samples(split)]


# -- registration -------------------------------------------------------------------------
def test_plugin_registers_every_task_and_imports_lazily():
    from mats_core.registry.plugins import get_host

    info = get_host().plugins["mats_datasets"]
    assert info.status == "ok", info.error
    assert sorted(info.provides["task"]) == sorted(DATASETS + ["jsonl", "mmau", "fsd50k"])
    heavy = ["numpy", "torch", "soundfile"] + [
        f"mats_datasets.{m}" for m in ("captioning", "classification", "qa", "manifest", "_audio", "_task")
    ]
    code = f"import sys, mats_datasets; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- one test per dataset -----------------------------------------------------------------
def test_clotho(data):
    root, info = data
    t = task("clotho", root)
    samples = t.samples()
    assert [s.id for s in samples] == info["clotho"]["ids"]
    for s in samples:
        assert s.references == info["clotho"]["refs"][s.id]  # empty caption cells dropped, quotes/commas kept
        assert s.audio == str(root / "clotho" / "evaluation" / s.id) and Path(s.audio).is_file()
        assert s.instruction == CAPTION and s.label is None
    assert ids(t, "development") == ["train clip.wav"]
    check_task(t, limit=3)


def test_audiocaps_groups_references_and_finds_every_naming(data):
    root, info = data
    exp = info["audiocaps"]
    t = task("audiocaps", root)
    samples = {s.id: s for s in t.samples()}
    assert list(samples) == exp["ids"]  # first-appearance order, rows interleaved in the CSV
    assert sorted(samples[exp["ids"][0]].references) == [f"a dog barks version {k}" for k in range(5)]
    assert samples[exp["ids"][0]].meta["audiocap_ids"] == ["101", "103", "105", "102", "104"]
    for clip, path in exp["audio"].items():
        assert samples[clip].audio == str(path), clip  # B: the plain file, not B_120 (another segment)
    missing = samples[exp["missing"]]
    assert missing.meta["audio_found"] is False and not Path(missing.audio).exists()
    assert missing.audio == str(root / "audiocaps" / "test" / f"{exp['missing']}.wav")
    assert samples[exp["corrupt"]].audio.endswith(f"{exp['corrupt']}_20.wav")
    assert ids(t, "train") == ["Ftrain00000"]
    check_task(t, limit=2)


def test_musiccaps_eval_and_all(data):
    root, info = data
    exp = info["musiccaps"]
    t = task("musiccaps", root)
    samples = t.samples()
    assert [s.id for s in samples] == exp["eval"]
    assert all(s.instruction == MUSIC and s.references == [exp["captions"][s.id]] for s in samples)
    assert samples[1].audio.endswith("[-0vPFx-wRRI]-[30-40].flac") and samples[2].audio.endswith("-0xzrMun0Rs_30.wav")
    assert samples[0].meta["aspect_list"] == "['low quality', 'sustained strings melody']"
    assert ids(task("musiccaps", root, split="all")) == exp["all"]
    check_task(t, limit=3)


def test_esc50_labels_folds_and_esc10(data):
    from fakes import HashEncoder

    root, info = data
    exp = info["esc50"]
    t = task("esc50", root)
    samples = t.samples()
    assert [s.id for s in samples] == exp["ids"]
    assert t.labels == exp["labels"]  # class-id order, underscores read as spaces
    assert samples[3].label == "chirping birds" and all(s.labels == exp["labels"] for s in samples)
    assert all(s.instruction == CLASSIFY and Path(s.audio).is_file() for s in samples)
    assert t.label_prompt.format(label="dog") == "this is a sound of dog"
    fold1 = task("esc50", root, fold=1)
    assert ids(fold1) == exp["ids"][:2] and fold1.labels == exp["labels"]
    esc10 = task("esc50", root, esc10=True)
    assert [s.label for s in esc10.samples()] == ["dog", "sneezing", "rain"] and esc10.labels == exp["esc10_labels"]
    check_task(t, limit=5, score_context={"encoder": HashEncoder()})
    with pytest.raises(MatsError, match="fold"):
        task("esc50", root, fold=6)


def test_urbansound8k_folds(data):
    root, info = data
    t = task("urbansound8k", root)
    samples = t.samples()
    assert [s.id for s in samples] == info["urbansound8k"]["ids"]
    assert t.labels == info["urbansound8k"]["labels"]
    assert samples[2].audio == str(root / "urbansound8k" / "audio" / "fold1" / "101415-3-0-2.wav")
    assert [s.label for s in samples] == ["dog bark", "children playing", "dog bark", "gun shot"]
    assert ids(task("urbansound8k", root, fold=5)) == info["urbansound8k"]["ids"][:2]
    check_task(t, limit=4)


def test_vggsound_segments_and_namings(data):
    root, info = data
    exp = info["vggsound"]
    t = task("vggsound", root)
    samples = t.samples()
    assert [s.id for s in samples] == exp["test"]
    for s in samples:
        assert s.audio == str(exp["files"][s.id]), s.id  # two segments of one video resolve apart
    assert t.labels == exp["labels"]  # includes the train-only label
    assert samples[1].label == "male speech, man speaking"
    assert ids(t, "train") == ["--0PQM4-hqg_000030"]
    assert len(task("vggsound", root, split="all").samples()) == 5
    check_task(t, limit=4)


def test_clotho_aqa_groups_annotators(data):
    root, info = data
    exp = info["clotho-aqa"]
    t = task("clotho-aqa", root)
    samples = t.samples()
    assert [s.id for s in samples] == exp["ids"]
    for s in samples:
        assert s.references == exp["refs"][s.id]  # distinct answers; the empty one dropped
        assert s.instruction == s.meta["question"] and Path(s.audio).name == s.meta["file_name"]
    assert samples[1].meta["answers"] == ["rain", "Rain", "water"]
    assert [s.meta["yes_no"] for s in samples] == [True, False, True]
    check_task(t, limit=3)
    rows = [
        {"id": s.id, "prediction": p, "references": s.references, "label": None, "error": None}
        for s, p in zip(samples, ["No.", "a dog", "yes"])
    ]
    scores = t.score(rows)
    assert scores["accuracy"] == pytest.approx(2 / 3)
    assert scores["accuracy_yes_no"] == 1.0 and scores["accuracy_single_word"] == 0.0


@pytest.mark.parametrize(
    "name,kind,expected",
    [
        ("caption.jsonl", "caption", {"c0": ["a tone", "a beep"], "2": ["a higher tone"]}),
        ("classify.jsonl", "classification", {"1": "low tone", "2": "mid tone", "3": "high tone"}),
        ("qa.jsonl", "qa", {"1": ["yes"], "2": ["one", "1"]}),
    ],
)
def test_jsonl_manifest(data, name, kind, expected):
    root, info = data
    manifest = info["manifests"]["folder"] / name
    t = build("task", "jsonl", path=str(manifest))
    assert t.kind == kind
    samples = t.samples()
    assert [s.id for s in samples] == list(expected)
    for s in samples:
        assert Path(s.audio).is_absolute() and Path(s.audio).is_file()
        assert (s.label if kind == "classification" else s.references) == expected[s.id]
    if kind == "classification":
        assert t.labels == ["high tone", "low tone", "mid tone"] and samples[2].meta == {"hz": 360, "split": "test"}
        assert ids(build("task", "jsonl", path=str(manifest), split="test")) == ["2", "3"]
        assert build("task", "jsonl", path=name, data_root=str(manifest.parent)).kind == kind  # relative to data_root
    instructions = {"caption": CAPTION, "classification": CLASSIFY, "qa": None}
    if kind != "qa":
        assert all(s.instruction == instructions[kind] for s in samples)
    else:
        assert [s.instruction for s in samples] == ["Is there a tone?", "How many tones?"]
    if kind != "caption":  # caption scoring is covered above (Java, seconds)
        check_task(t, limit=3)


# -- scoring ------------------------------------------------------------------------------
def test_error_rows_count_as_wrong_and_notes(data):
    root, _ = data
    t = task("esc50", root)
    samples = t.samples()[:3]
    rows = [{"id": s.id, "prediction": s.label, "references": [], "label": s.label, "error": None} for s in samples]
    rows[2].update(prediction=None, error="audio.wav: file not found")
    scores = t.score(rows)
    assert scores["accuracy_exact"] == pytest.approx(2 / 3)
    assert scores["n"] == 3.0 and scores["errors"] == 1.0
    assert scores["accuracy_embed"] is None and "encoder" in t.notes["accuracy_embed"]
    rows[0]["label"] = None
    with pytest.raises(MatsError, match="without 'label'"):
        t.score(rows)
    with pytest.raises(MatsError, match="no predictions"):
        t.score([])


def test_score_works_from_disk_rows_without_samples(data):
    """Re-scoring a finished run: a fresh task object, only the samples.jsonl rows."""
    root, _ = data
    rows = [{"id": "x", "prediction": "the sound of rain", "references": [], "label": "rain", "error": None}]
    assert task("esc50", root).score(rows)["accuracy_exact"] == 1.0


# -- errors -------------------------------------------------------------------------------
METADATA = {
    "clotho": "clotho/clotho_captions_evaluation.csv",
    "audiocaps": "audiocaps/test.csv",
    "musiccaps": "musiccaps/musiccaps-public.csv",
    "esc50": "esc50/meta/esc50.csv",
    "urbansound8k": "urbansound8k/metadata/UrbanSound8K.csv",
    "vggsound": "vggsound/vggsound.csv",
    "clotho-aqa": "clotho-aqa/clotho_aqa_test.csv",
}


@pytest.mark.parametrize("name", DATASETS)
def test_missing_location_or_metadata_is_a_clear_error(tmp_path, name):
    with pytest.raises(MatsError) as exc:
        build("task", name)
    assert (
        "data_root" in str(exc.value) and "path" in str(exc.value) and METADATA[name].split("/")[-1] in str(exc.value)
    )
    (tmp_path / METADATA[name]).parent.mkdir(parents=True)
    with pytest.raises(MatsError) as exc:
        task(name, tmp_path)
    message = str(exc.value)
    assert str(tmp_path / METADATA[name]) in message and "official layout" in message


def test_path_overrides_data_root_and_archive_folder_names(tmp_path):
    make_esc50(tmp_path / "elsewhere")
    t = build("task", "esc50", data_root="/nonexistent", path=str(tmp_path / "elsewhere" / "esc50"))
    assert len(t.samples()) == 5
    (tmp_path / "elsewhere" / "esc50").rename(tmp_path / "elsewhere" / "ESC-50-master")  # as GitHub's zip unpacks
    assert len(task("esc50", tmp_path / "elsewhere").samples()) == 5


def test_bad_csv_names_file_line_and_column(tmp_path):
    meta = tmp_path / "esc50" / "meta" / "esc50.csv"
    write_csv(
        meta, [["a.wav", 1, 0, "dog", "True", 1, "A"]], ["filename", "fold", "target", "category", "src_file", "take"]
    )
    with pytest.raises(MatsError, match=r"missing column\(s\) esc10"):
        task("esc50", tmp_path).samples()
    write_csv(
        meta,
        [["a.wav", 1, 0, "dog", "True", 1, "A"], ["b.wav", "one", 0, "dog", "True", 1, "A"]],
        ["filename", "fold", "target", "category", "esc10", "src_file", "take"],
    )
    with pytest.raises(MatsError, match=r"esc50\.csv:3: column 'fold' must be an integer, got 'one'"):
        task("esc50", tmp_path).samples()
    write_csv(tmp_path / "vggsound" / "vggsound.csv", [["abc", 1, "dog", "test"], ["abc", 2, "dog", "validation"]])
    with pytest.raises(MatsError, match=r"vggsound\.csv:2: column 4 \(split\) must be train or test"):
        task("vggsound", tmp_path).samples()
    write_csv(tmp_path / "vggsound" / "vggsound.csv", [["abc", 1, "dog"]])
    with pytest.raises(MatsError, match=r"vggsound\.csv:1: 3 fields, expected 4"):
        task("vggsound", tmp_path).samples()


def test_unknown_split_and_duplicate_ids(data, tmp_path):
    root, _ = data
    with pytest.raises(MatsError, match="unknown split 'dev'; splits are development, validation, evaluation"):
        task("clotho", root).samples("dev")
    with pytest.raises(MatsError, match="split"):
        task("clotho", root, split="dev")
    write_csv(tmp_path / "vggsound" / "vggsound.csv", [["abc", 1, "dog", "test"], ["abc", 1, "cat", "test"]])
    with pytest.raises(MatsError, match="'abc_000001' occurs twice"):
        task("vggsound", tmp_path).samples()


BAD_LINES = [
    ("{not json", None, "not valid JSON"),
    ({"audio": "a.wav", "refrences": ["x"]}, None, "unknown field(s) refrences"),
    ({"references": ["x"]}, None, "field 'audio' is missing"),
    ({"audio": 3, "references": ["x"]}, None, "field 'audio' must be a non-empty string"),
    ({"audio": "a.wav", "references": "x"}, None, "field 'references' must be a non-empty list"),
    ({"audio": "a.wav", "references": ["x", ""]}, None, "field 'references' must be a non-empty list"),
    (
        {"audio": "a.wav", "instruction": "Q?", "references": ["x"], "answer": "y"},
        "qa",
        "'references' or 'answer', not both",
    ),
    ({"audio": "a.wav", "answer": "yes"}, "qa", "field 'instruction' is missing"),
    ({"audio": "a.wav", "label": ""}, "classification", "field 'label' must be a non-empty string"),
    ({"audio": "a.wav", "label": "dog", "answer": "x"}, "classification", "field 'answer' does not belong"),
    ({"audio": "a.wav", "id": "c0", "references": ["x"]}, "caption", "field 'id' 'c0' is already used on"),
    ({"audio": "a.wav", "id": True, "references": ["x"]}, "caption", "field 'id' must be"),
    ({"audio": "a.wav", "meta": [1]}, "caption", "field 'meta' must be a JSON object"),
    ([1, 2], "caption", "expected a JSON object"),
]


@pytest.mark.parametrize("bad,kind,message", BAD_LINES)
def test_bad_manifest_line_names_file_line_and_field(tmp_path, bad, kind, message):
    good = {
        "caption": {"id": "c0", "audio": "a.wav", "references": ["a tone"]},
        "qa": {"id": "c0", "audio": "a.wav", "instruction": "Tone?", "answer": "yes"},
        "classification": {"id": "c0", "audio": "a.wav", "label": "dog"},
    }[kind or "caption"]
    manifest = tmp_path / "set.jsonl"
    manifest.write_text(json.dumps(good) + "\n\n" + (bad if isinstance(bad, str) else json.dumps(bad)) + "\n")
    with pytest.raises(MatsError) as exc:
        build("task", "jsonl", path=str(manifest), **({"task_kind": kind} if kind else {}))
    assert f"{manifest}:3:" in str(exc.value) and message in str(exc.value)


def test_manifest_kind_labels_and_location_errors(tmp_path):
    manifest = tmp_path / "set.jsonl"
    manifest.write_text(
        json.dumps({"audio": "a.wav", "label": "dog"})
        + "\n"
        + json.dumps({"audio": "b.wav", "references": ["x"]})
        + "\n"
    )
    with pytest.raises(MatsError, match="cannot tell the task kind .*pass --set task.task_kind="):
        build("task", "jsonl", path=str(manifest))
    manifest.write_text(json.dumps({"audio": "a.wav", "label": "dog"}) + "\n")
    with pytest.raises(MatsError, match=r"set\.jsonl:1: field 'label' 'dog' is not in labels \['cat'\]"):
        build("task", "jsonl", path=str(manifest), labels=["cat"])
    assert build("task", "jsonl", path=str(manifest), labels=["cat", "dog"]).labels == ["cat", "dog"]
    with pytest.raises(MatsError, match="no line has split 'test'"):
        build("task", "jsonl", path=str(manifest)).samples("test")
    with pytest.raises(MatsError, match="pass path=<manifest.jsonl>"):
        build("task", "jsonl")
    with pytest.raises(MatsError, match="not found"):
        build("task", "jsonl", path=str(tmp_path / "nope.jsonl"))
    with pytest.raises(MatsError, match="task_kind"):
        build("task", "jsonl", path=str(manifest), task_kind="regression")
    with pytest.raises(MatsError, match="label_prompt"):
        build("task", "jsonl", path=str(manifest), label_prompt="no placeholder")
    manifest.write_bytes('{"audio": "caf\xe9.wav", "label": "dog"}\n'.encode("latin-1"))  # not UTF-8
    with pytest.raises(MatsError, match=r"set\.jsonl:1: not UTF-8 text"):
        build("task", "jsonl", path=str(manifest))


# -- audio lookup, fingerprint, limit -----------------------------------------------------
def test_audio_index_lists_each_folder_once(tmp_path, monkeypatch):
    from mats_datasets import _audio

    for name in (
        "Yabc_30.000_40.000.flac",
        "abc_10.wav",
        "def.mp3",
        "ghi_000030.mp4",
        "ghi_000030.wav",
        "jkl_5000.ogg",
        "abc_x.wav",
        "notes.txt",
    ):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "def.wav").write_bytes(b"x")
    calls = []
    real = _audio.os.scandir
    monkeypatch.setattr(_audio.os, "scandir", lambda p: calls.append(p) or real(p))
    index = _audio.AudioIndex([tmp_path / "sub", tmp_path / "absent", tmp_path], extensions=None)
    assert index.clip("abc", 30).name == "Yabc_30.000_40.000.flac"
    assert index.clip("abc", 10).name == "abc_10.wav"
    assert index.clip("abc", 20) is None  # only other segments of that video
    assert index.clip("def", 0) == tmp_path / "sub" / "def.wav"  # earlier folder wins
    assert index.clip("ghi", 30).name == "ghi_000030.wav"  # an audio file beats the video it came from
    assert index.clip("jkl", 5).name == "jkl_5000.ogg"  # milliseconds
    assert index.clip("notes", 0) is None and index.by_name("abc_x.wav").name == "abc_x.wav"
    for _ in range(50):
        index.clip("zzz", 1)
    assert len(calls) == 3  # one listing per folder, however many lookups
    audio_only = _audio.AudioIndex([tmp_path])
    assert audio_only.clip("ghi", 30).name == "ghi_000030.wav" and audio_only.by_name("ghi_000030.mp4") is None


def test_fingerprint_follows_params_and_metadata_content(tmp_path):
    make_esc50(tmp_path)
    first = task("esc50", tmp_path).fingerprint
    assert task("esc50", tmp_path).fingerprint == first
    assert task("esc50", tmp_path, fold=2).fingerprint != first
    assert task("esc50", tmp_path, label_prompt="{label}").fingerprint != first
    meta = tmp_path / "esc50" / "meta" / "esc50.csv"
    meta.write_text(meta.read_text().replace("fireworks", "fire works"))
    assert task("esc50", tmp_path).fingerprint != first


def test_limit_and_missing_audio_never_fail_samples(tmp_path):
    exp = make_audiocaps(tmp_path)
    t = task("audiocaps", tmp_path, limit=2)
    assert ids(t) == exp["ids"][:2]
    for f in (tmp_path / "audiocaps" / "test").iterdir():
        f.unlink()
    assert len(task("audiocaps", tmp_path).samples()) == 5  # every clip still listed; the harness records errors


def test_undecodable_metadata_bytes_fall_back(tmp_path):
    header = "file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n"
    row = "caf\xe9.wav,A caf\xe9 crowd.,b,c,d,e\n"
    (tmp_path / "clotho").mkdir()
    (tmp_path / "clotho" / "clotho_captions_evaluation.csv").write_bytes((header + row).encode("cp1252"))
    tone(tmp_path / "clotho" / "evaluation" / "caf\xe9.wav")
    (sample,) = task("clotho", tmp_path).samples()
    assert sample.id == "caf\xe9.wav" and Path(sample.audio).is_file()


# -- end to end through the CLI -------------------------------------------------------------
def _shipped_checkpoints() -> Path:
    import mats_tiny

    return Path(mats_tiny.__file__).parent / "weights" / "mats"


@pytest.mark.skipif(
    not all((_shipped_checkpoints() / k / "config.json").is_file() for k in ("clean", "noise")),
    reason="the shipped tiny MATS checkpoints (plugins/mats_tiny/weights/mats/{clean,noise}) are not "
    "built yet; `mats-bench tiny build` makes them",
)
@pytest.mark.slow  # end to end, > 30 s on a 2-core machine (fast tier: python -m pytest -q)
def test_end_to_end_every_dataset_through_the_cli(tmp_path):
    """One ``mats-bench run`` over every dataset (one model load): metrics per task, one row
    per sample, the corrupt and missing AudioCaps clips recorded as errors, the rest scored."""
    root = tmp_path / "data"
    info = make_all(root)
    manifests = info["manifests"]["folder"]
    registry = tmp_path / "registry.yaml"
    presets = {
        f"my-{n}": {"plugin": "jsonl", "params": {"path": str(manifests / f"{n}.jsonl")}}
        for n in ("caption", "classify", "qa")
    }
    registry.write_text(yaml.safe_dump({"task": presets}))
    tasks = DATASETS + list(presets)
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "mats_core.cli",
        "run",
        "--tasks",
        ",".join(tasks),
        "--data-root",
        str(root),
        "--bridge",
        "none",
        "--no-reference",
        "--limit",
        "4",
        "--batch-size",
        "4",
        "--device",
        "cpu",
        "--registry",
        str(registry),
        "--output",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    check_run(out, info, tasks)


def check_run(out: Path, info: dict, tasks: list[str]) -> None:
    """results.json and samples.jsonl of the end-to-end run over ``make_all`` data."""
    results = json.loads((out / "results.json").read_text())
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    expected_ids = {
        "clotho": info["clotho"]["ids"],
        "audiocaps": info["audiocaps"]["ids"][:4],
        "musiccaps": info["musiccaps"]["eval"],
        "esc50": info["esc50"]["ids"][:4],
        "urbansound8k": info["urbansound8k"]["ids"],
        "vggsound": info["vggsound"]["test"],
        "clotho-aqa": info["clotho-aqa"]["ids"],
        "my-caption": ["c0", "2"],
        "my-classify": ["1", "2", "3"],
        "my-qa": ["1", "2"],
    }
    headline = {
        "caption": ("bleu_4", "meteor", "rouge_l", "cider"),
        "classification": ("accuracy_exact", "accuracy_embed"),
        "qa": ("accuracy", "wer"),
    }
    kinds = {
        "clotho": "caption",
        "audiocaps": "caption",
        "musiccaps": "caption",
        "esc50": "classification",
        "urbansound8k": "classification",
        "vggsound": "classification",
        "clotho-aqa": "qa",
        "my-caption": "caption",
        "my-classify": "classification",
        "my-qa": "qa",
    }
    for name in tasks:
        task_rows = [r for r in rows if r["task"] == name]
        assert [r["id"] for r in task_rows] == expected_ids[name], name
        assert results["samples_count"][name] == len(expected_ids[name])
        metrics = results["results"][name]
        for key in headline[kinds[name]]:
            assert isinstance(metrics[key], float), (name, key, metrics)
        assert metrics["n"] == len(expected_ids[name])
        bad = {info["audiocaps"]["corrupt"], info["audiocaps"]["missing"]} if name == "audiocaps" else set()
        for r in task_rows:
            if r["id"] in bad:
                assert r["error"] and r["prediction"] is None, r
            else:
                assert r["error"] is None and isinstance(r["prediction"], str), r
    errors = {r["id"]: r["error"] for r in rows if r["error"]}
    assert "cannot decode" in errors[info["audiocaps"]["corrupt"]]
    assert "not found" in errors[info["audiocaps"]["missing"]]
    assert results["errors_count"] == 2 and results["results"]["audiocaps"]["errors"] == 2.0
    assert set(results["notes"].get("clotho", {})) <= {"spice", "spider"}


# -- metadata that would lose rows (issue 12.5) ----------------------------------------------
ESC_HEADER = "filename,fold,target,category,esc10,src_file,take\n"


def _esc50(tmp_path, body: bytes | str, encoding: str = "utf-8"):
    folder = tmp_path / "esc50"
    (folder / "meta").mkdir(parents=True)
    path = folder / "meta" / "esc50.csv"
    path.write_bytes(body if isinstance(body, bytes) else body.encode(encoding))
    for name in ("1-1-A-0.wav", "1-2-A-0.wav", "2-3-A-1.wav", "2-4-A-1.wav"):
        tone(folder / "audio" / name)
    return path


ESC_ROWS = [
    "1-1-A-0.wav,1,0,dog,True,1,A\n",
    "1-2-A-0.wav,1,0,dog,True,2,A\n",
    "2-3-A-1.wav,2,1,rooster,True,3,A\n",
    "2-4-A-1.wav,2,1,rooster,True,4,A\n",
]


def test_an_unclosed_quote_names_file_and_line_instead_of_swallowing_rows(tmp_path):
    rows = list(ESC_ROWS)
    rows[1] = '1-2-A-0.wav,1,0,"dog,True,2,A\n'  # the quote opens on line 3 and swallows lines 4-5
    path = _esc50(tmp_path, ESC_HEADER + "".join(rows))
    with pytest.raises(MatsError, match=rf"{path}:3: a quoted field runs over lines 3-5.*unclosed quote"):
        task("esc50", tmp_path).samples()


def test_a_field_over_the_csv_limit_names_file_and_line(tmp_path):
    rows = list(ESC_ROWS)
    rows[2] = "2-3-A-1.wav,2,1," + "x" * 140_000 + ",True,3,A\n"
    path = _esc50(tmp_path, ESC_HEADER + "".join(rows))
    with pytest.raises(MatsError, match=rf"{path}:4: field larger than field limit"):
        task("esc50", tmp_path).samples()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_csv_is_read(tmp_path, encoding):
    _esc50(tmp_path, ESC_HEADER + "".join(ESC_ROWS), encoding=encoding)
    samples = task("esc50", tmp_path).samples()
    assert [s.id for s in samples] == ["1-1-A-0", "1-2-A-0", "2-3-A-1", "2-4-A-1"]
    assert {s.label for s in samples} == {"dog", "rooster"}


def test_clotho_aqa_questions_without_answers_are_counted_in_results_notes(tmp_path):
    folder = tmp_path / "clotho-aqa"
    write_csv(
        folder / "clotho_aqa_test.csv",
        [
            ["rain.wav", "Is it raining?", "yes", "yes"],
            ["rain.wav", "What is it?", "", "yes"],
            ["rain.wav", "What is it?", "?", "no"],
            ["rain.wav", "Is it raining?", "no", "yes"],
        ],
        ["file_name", "QuestionText", "answer", "confidence"],
    )
    tone(folder / "audio_files" / "rain.wav")
    t = task("clotho-aqa", tmp_path)
    with pytest.warns(
        UserWarning, match=r"1 of 2 questions in .*clotho_aqa_test.csv have no usable answer.*lines 3, 4"
    ):
        samples = t.samples()
    assert [s.id for s in samples] == ["rain.wav#q1"]
    rows = [
        {"id": s.id, "prediction": "yes", "references": s.references, "label": None, "error": None} for s in samples
    ]
    t.score(rows)
    assert t.notes["dropped_rows"] == "1" and "lines 3, 4" in t.notes["dropped_rows_detail"]

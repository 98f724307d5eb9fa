"""The field's caption corpora (AudioCaps, Clotho, WavCaps, MACS) as text-only training corpora, read
from small fixtures written in the official layouts; bad files fail with errors naming them."""

import json
from pathlib import Path

import pytest
from dataset_fixtures import write_csv
from typer.testing import CliRunner

from mats_core import build
from mats_core.cli.main import app
from mats_core.corpus import corpus_data_root, load_corpus
from mats_core.errors import MatsError


def cli(*args, code=0):
    out = CliRunner().invoke(app, [str(a) for a in args])
    assert out.exit_code == code, out.output + repr(out.exception)
    return out


def make_corpora(root: Path) -> Path:
    header = ["audiocap_id", "youtube_id", "start_time", "caption"]
    write_csv(
        root / "audiocaps" / "train.csv",
        [[1, "abc", 30, "A dog barks."], [2, "def", 0, "Rain falls on a roof"], [3, "ghi", 10, "A dog barks."]],
        header,
    )
    write_csv(
        root / "audiocaps" / "val_v2.csv", [[7, "xyz", 5, "Wind blows"], [8, "xyz", 5, "Strong wind blows"]], header
    )
    write_csv(
        root / "clotho" / "clotho_captions_development.csv",
        [
            ["a.wav", "birds chirp", "birds sing", "", "many birds", "chirping"],
            ["b, c.wav", "a bell rings", "", "", "", ""],
        ],
        ["file_name"] + [f"caption_{i}" for i in range(1, 6)],
    )
    for subset, name, entries in (
        ("SoundBible", "sb_final.json", [{"id": "sb1", "caption": "A gun shot.", "audio": "x", "duration": 2.0}]),
        (
            "FreeSound",
            "fsd_final.json",
            [{"id": 12, "caption": "Keys jingle", "description": "..."}, {"id": 13, "caption": "A door creaks open."}],
        ),
    ):
        path = root / "wavcaps" / "json_files" / subset / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"num_captions_per_audio": 1, "data": entries}))
    (root / "macs").mkdir(parents=True)
    (root / "macs" / "MACS.yaml").write_text(
        "files:\n"
        "- filename: airport-lisbon-1000-40000-a.wav\n"
        "  annotations:\n"
        "  - annotator_id: 3\n    sentence: people talk while a plane takes off\n    tags: [adults_talking, airplane]\n"
        "  - annotator_id: 7\n    sentence: 'announcements echo in a large hall'\n    tags: [announcement]\n"
        "- filename: park-lisbon-1.wav\n"
        "  annotations:\n  - annotator_id: 3\n    sentence: birds sing in a park\n"
    )
    return root


def texts(name, **params):
    _, records = load_corpus(name, None, **params)
    return [(r["id"], r["text"]) for r in records], records


def test_each_corpus_reads_its_official_files(tmp_path):
    root = make_corpora(tmp_path)
    got, records = texts("audiocaps", data_root=str(root))
    assert got == [("abc_30", "A dog barks."), ("def_0", "Rain falls on a roof"), ("ghi_10", "A dog barks.")]
    assert all(r["answer"] == r["text"] and r["task"] == "caption" and r["instruction"] for r in records)
    assert texts("audiocaps", data_root=str(root), split="val")[0] == [
        ("xyz_5", "Wind blows"),
        ("xyz_5", "Strong wind blows"),
    ]  # v2 name
    assert texts("clotho", data_root=str(root))[0] == [
        ("a.wav", "birds chirp"),
        ("a.wav", "birds sing"),
        ("a.wav", "many birds"),
        ("a.wav", "chirping"),
        ("b, c.wav", "a bell rings"),
    ]
    assert sorted(texts("wavcaps", data_root=str(root))[0]) == [
        ("FreeSound/12", "Keys jingle"),
        ("FreeSound/13", "A door creaks open."),
        ("SoundBible/sb1", "A gun shot."),
    ]
    assert texts("wavcaps", data_root=str(root), subsets=["SoundBible"])[0] == [("SoundBible/sb1", "A gun shot.")]
    assert texts("macs", path=str(root / "macs"))[0] == [
        ("airport-lisbon-1000-40000-a.wav", "people talk while a plane takes off"),
        ("airport-lisbon-1000-40000-a.wav", "announcements echo in a large hall"),
        ("park-lisbon-1.wav", "birds sing in a park"),
    ]
    limited, recs = texts("clotho", data_root=str(root), limit=2, task_token="[audio caption clotho]")
    assert len(limited) == 2 and recs[0]["task_token"] == "[audio caption clotho]"


def test_missing_files_and_fields_name_what_is_wrong(tmp_path):
    root = make_corpora(tmp_path)
    with pytest.raises(MatsError, match=r"test\.csv not found.*official layout"):
        load_corpus("audiocaps", None, data_root=str(root), split="test")
    with pytest.raises(MatsError, match="no dataset location"):
        load_corpus("clotho", None)
    write_csv(root / "bad" / "audiocaps" / "train.csv", [[1, "abc", "A dog"]], ["audiocap_id", "youtube_id", "caption"])
    with pytest.raises(MatsError, match="missing column.*start_time"):
        load_corpus("audiocaps", None, data_root=str(root / "bad"))
    (root / "wavcaps" / "json_files" / "FreeSound" / "fsd_final.json").write_text(
        json.dumps({"data": [{"id": 1, "text": "x"}]})
    )
    with pytest.raises(MatsError, match=r"fsd_final\.json: data\[0\] has no 'caption'"):
        load_corpus("wavcaps", None, data_root=str(root))
    (root / "wavcaps" / "json_files" / "FreeSound" / "fsd_final.json").write_text("[1, 2]")
    with pytest.raises(MatsError, match="expected an object with a 'data' list"):
        load_corpus("wavcaps", None, data_root=str(root), subsets=["FreeSound"])
    with pytest.raises(MatsError, match="no WavCaps JSON file"):
        load_corpus("wavcaps", None, data_root=str(root / "bad"))
    (root / "macs" / "MACS.yaml").write_text(
        "files:\n- filename: a.wav\n  annotations:\n  - annotator_id: 1\n    tags: [x]\n"
    )
    with pytest.raises(MatsError, match=r"files\[0\]\.annotations\[0\] \(a\.wav\) has no 'sentence'"):
        load_corpus("macs", None, data_root=str(root))
    with pytest.raises(MatsError, match="subset"):
        build("corpus", "wavcaps", data_root=str(root), subsets=["Freesound"])
    with pytest.raises(MatsError, match="reads no dataset folder"):
        corpus_data_root("tiny", None, root)


def test_listed_by_plugins_and_measured_by_regime(tmp_path):
    listing = {p["name"]: p for p in json.loads(cli("plugins", "--json").output)}
    assert listing["mats_datasets"]["status"] == "ok"
    assert listing["mats_datasets"]["provides"]["corpus"] == ["audiocaps", "clotho", "wavcaps", "macs"]
    root = make_corpora(tmp_path)
    report = json.loads(
        cli(
            "regime",
            "--corpus",
            "audiocaps",
            "--heldout",
            "audiocaps",
            "--data-root",
            root,
            "--set",
            "heldout.split=val",
            "--json",
        ).output
    )
    assert report["audio"] is None and report["text"]["clips"] == 1 and report["text"]["references"] == 2
    assert (
        report["text"]["corpus_twin_share"] == pytest.approx(2 / 3) and report["text"]["bank_size"] == 2
    )  # unique texts


@pytest.mark.slow
def test_train_text_only_on_a_field_corpus(tmp_path):
    root = make_corpora(tmp_path)
    out = tmp_path / "ckpt"
    cli(
        "train",
        "--corpus",
        "clotho",
        "--data-root",
        root,
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--output",
        out,
        "--device",
        "cpu",
    )
    config = json.loads((out / "config.json").read_text())
    assert config["corpus"] == {"name": "clotho", "params": {"data_root": str(root.resolve())}}
    bad = cli("train", "--corpus", "tiny", "--data-root", root, "--steps", "1", "--output", tmp_path / "x", code=2)
    assert "reads no dataset folder" in bad.output

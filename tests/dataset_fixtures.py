"""Tiny copies of the MATS benchmark datasets in their official on-disk layouts.

Each ``make_*`` writes a few metadata rows and synthetic audio (1 s tones, WAV and FLAC,
names as the official releases and common download scripts spell them) under
``root/<default folder>`` and returns what a correct reader must find. AudioCaps also holds
one corrupt file and one clip whose audio is missing, at positions 3 and 4 of its test split.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000


def tone(path: Path, freq: float = 440.0, seconds: float = 1.0) -> Path:
    """A tone file; the format follows the suffix (.wav, .flac, .ogg, .mp3)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(SR * seconds)) / SR
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR)
    return path


def corrupt(path: Path) -> Path:
    """A file named like audio that no decoder accepts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF\x00\x00\x00\x00not really a wave file" * 4)
    return path


def write_csv(path: Path, rows: list[list], header: list[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def make_clotho(root: Path) -> dict:
    folder = root / "clotho"
    header = ["file_name"] + [f"caption_{i}" for i in range(1, 6)]
    rows = [
        [
            "Rain on a roof.wav",
            "Rain falls on a metal roof.",
            "Heavy rain, then thunder.",
            "Water drips steadily.",
            'A "storm" passes overhead.',
            "Rain hits a tin roof.",
        ],
        ["dog, barking.wav", "A dog barks twice.", "A dog is barking.", "", "", "Barking in the distance."],
        ["birds.wav", "Birds chirp.", "Birds are singing.", "Birds sing at dawn.", "Many birds chirp.", "Chirping."],
    ]
    write_csv(folder / "clotho_captions_evaluation.csv", rows, header)
    for i, row in enumerate(rows):
        tone(folder / "evaluation" / row[0], 300 + 100 * i)
    write_csv(
        folder / "clotho_captions_development.csv",
        [["train clip.wav", "A train passes.", "A train.", "Train horn.", "A train goes by.", "Rails."]],
        header,
    )
    tone(folder / "development" / "train clip.wav", 250)
    return {"ids": [r[0] for r in rows], "refs": {r[0]: [c for c in r[1:] if c] for r in rows}}


def make_audiocaps(root: Path) -> dict:
    """Test clips: A (AudioSet-style name, FLAC), B (plain WAV), C (corrupt), D (missing), E (flat root)."""
    folder = root / "audiocaps"
    a, b, c, d, e = "--abcDEF_12", "B0bbbbbbbbb", "Ccorrupt000", "Dmissing000", "Eeeeeeeeeee"
    header = ["audiocap_id", "youtube_id", "start_time", "caption"]
    rows, n = [], 100
    for clip, start, words in (
        (a, 30, "a dog barks"),
        (b, 0, "rain falls"),
        (c, 20, "a car passes"),
        (d, 40, "birds sing"),
    ):
        for k in range(5):
            n += 1
            rows.append([n, clip, start, f"{words} version {k}"])
    rows = rows[0::2] + rows[1::2]  # interleave clips: grouping must not rely on adjacency
    rows.append([999, e, 10, "wind blows"])
    write_csv(folder / "test.csv", rows, header)
    tone(folder / "test" / f"Y{a}_30.000_40.000.flac", 330)
    tone(folder / "test" / f"{b}.wav", 440)
    tone(folder / "test" / f"{b}_120.wav", 880)  # another segment of B's video: must not be picked
    corrupt(folder / "test" / f"{c}_20.wav")
    tone(folder / f"{e}_10.wav", 550)
    write_csv(folder / "train.csv", [[1, "Ftrain00000", 5, "a train passes"]], header)
    tone(folder / "train" / "Ftrain00000.wav", 220)
    return {
        "ids": [a, b, c, d, e],
        "corrupt": c,
        "missing": d,
        "audio": {
            a: folder / "test" / f"Y{a}_30.000_40.000.flac",
            b: folder / "test" / f"{b}.wav",
            e: folder / f"{e}_10.wav",
        },
    }


def make_musiccaps(root: Path) -> dict:
    folder = root / "musiccaps"
    header = [
        "ytid",
        "start_s",
        "end_s",
        "audioset_positive_labels",
        "aspect_list",
        "caption",
        "author_id",
        "is_balanced_subset",
        "is_audioset_eval",
    ]
    rows = [
        [
            "-0Gj8-vB1q4",
            30,
            40,
            "/m/0140xf,/m/02cjck",
            "['low quality', 'sustained strings melody']",
            "A low quality recording of a string melody, with a soft, mellow feel.",
            4,
            "False",
            "True",
        ],
        [
            "-0SdAVK79lg",
            30,
            40,
            "/m/0155w",
            "['guitar song', 'piano backing']",
            "This song features an electric guitar as the main instrument.",
            0,
            "False",
            "False",
        ],
        [
            "-0vPFx-wRRI",
            30,
            40,
            "/m/025_jnm",
            "['amateur recording', 'finger snipping']",
            "A male voice is singing over a finger snapping beat.",
            6,
            "True",
            "True",
        ],
        [
            "-0xzrMun0Rs",
            30,
            40,
            "/m/02lkt",
            "['instrumental', 'drums']",
            "This is a solo drum recording.",
            6,
            "True",
            "True",
        ],
    ]
    write_csv(folder / "musiccaps-public.csv", rows, header)
    tone(folder / "audio" / "-0Gj8-vB1q4.wav", 300)
    tone(folder / "audio" / "-0SdAVK79lg.wav", 310)
    tone(folder / "audio" / "[-0vPFx-wRRI]-[30-40].flac", 320)
    tone(folder / "-0xzrMun0Rs_30.wav", 330)
    return {
        "eval": ["-0Gj8-vB1q4", "-0vPFx-wRRI", "-0xzrMun0Rs"],
        "all": [r[0] for r in rows],
        "captions": {r[0]: r[5] for r in rows},
    }


def make_esc50(root: Path) -> dict:
    folder = root / "esc50"
    header = ["filename", "fold", "target", "category", "esc10", "src_file", "take"]
    rows = [
        ["1-100032-A-0.wav", 1, 0, "dog", "True", 100032, "A"],
        ["1-115545-A-48.wav", 1, 48, "fireworks", "False", 115545, "A"],
        ["2-109505-A-21.wav", 2, 21, "sneezing", "True", 109505, "A"],
        ["3-141240-B-14.wav", 3, 14, "chirping_birds", "False", 141240, "B"],
        ["4-181286-A-10.wav", 4, 10, "rain", "True", 181286, "A"],
    ]
    write_csv(folder / "meta" / "esc50.csv", rows, header)
    for i, row in enumerate(rows):
        tone(folder / "audio" / row[0], 200 + 50 * i)
    return {
        "ids": [Path(r[0]).stem for r in rows],
        "labels": ["dog", "rain", "chirping birds", "sneezing", "fireworks"],
        "esc10_labels": ["dog", "rain", "sneezing"],
    }


def make_urbansound8k(root: Path) -> dict:
    folder = root / "urbansound8k"
    header = ["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"]
    rows = [
        ["100032-3-0-0.wav", 100032, 0.0, 0.317551, 1, 5, 3, "dog_bark"],
        ["100263-2-0-117.wav", 100263, 58.5, 62.5, 1, 5, 2, "children_playing"],
        ["101415-3-0-2.wav", 101415, 1.0, 5.0, 1, 1, 3, "dog_bark"],
        ["102305-6-0-0.wav", 102305, 0.0, 2.6, 2, 2, 6, "gun_shot"],
    ]
    write_csv(folder / "metadata" / "UrbanSound8K.csv", rows, header)
    for i, row in enumerate(rows):
        tone(folder / "audio" / f"fold{row[5]}" / row[0], 500 + 40 * i)
    return {"ids": [Path(r[0]).stem for r in rows], "labels": ["children playing", "dog bark", "gun shot"]}


def make_vggsound(root: Path) -> dict:
    """Headerless CSV; audio under each naming the releases use, one video with two segments."""
    folder = root / "vggsound"
    rows = [
        ["---g-f_I2yQ", 1, "people marching", "test"],
        ["--0PQM4-hqg", 30, "waterfall burbling", "train"],
        ["--56QUhyDQM", 185, "male speech, man speaking", "test"],
        ["--56QUhyDQM", 30, "dog barking", "test"],
        ["-0BIyqJj9ZU", 30, "dog barking", "test"],
    ]
    write_csv(folder / "vggsound.csv", rows)
    files = {
        "---g-f_I2yQ_000001": tone(folder / "video" / "---g-f_I2yQ_000001.flac", 400),
        "--0PQM4-hqg_000030": tone(folder / "video" / "--0PQM4-hqg_000030.wav", 410),
        "--56QUhyDQM_000185": tone(folder / "audio" / "--56QUhyDQM_185.wav", 420),
        "--56QUhyDQM_000030": tone(folder / "test" / "--56QUhyDQM_000030.wav", 430),
        "-0BIyqJj9ZU_000030": tone(folder / "-0BIyqJj9ZU.wav", 440),
    }
    return {
        "test": ["---g-f_I2yQ_000001", "--56QUhyDQM_000185", "--56QUhyDQM_000030", "-0BIyqJj9ZU_000030"],
        "files": files,
        "labels": sorted({r[2] for r in rows}),
    }


def make_clotho_aqa(root: Path) -> dict:
    folder = root / "clotho-aqa"
    header = ["file_name", "QuestionText", "answer", "confidence"]
    rows = [
        ["rain.wav", "Is it raining?", "yes", "yes"],
        ["rain.wav", "What is making the sound?", "rain", "yes"],
        ["rain.wav", "Is it raining?", "yes", "maybe"],
        ["rain.wav", "What is making the sound?", "Rain", "yes"],
        ["rain.wav", "Is it raining?", "no", "no"],
        ["rain.wav", "What is making the sound?", "water", "maybe"],
        ["birds.wav", "Are there birds?", "yes", "yes"],
        ["birds.wav", "Are there birds?", "", "yes"],
        ["birds.wav", "Are there birds?", "yes", "yes"],
    ]
    write_csv(folder / "clotho_aqa_test.csv", rows, header)
    tone(folder / "audio_files" / "rain.wav", 600)
    tone(folder / "audio_files" / "birds.flac", 650)  # a FLAC beside it must not shadow birds.wav
    tone(folder / "audio_files" / "birds.wav", 700)
    return {
        "ids": ["rain.wav#q1", "rain.wav#q2", "birds.wav#q1"],
        "refs": {"rain.wav#q1": ["yes", "no"], "rain.wav#q2": ["rain", "water"], "birds.wav#q1": ["yes"]},
    }


def make_manifests(root: Path) -> dict:
    folder = root / "manifests"
    wavs = [tone(folder / "wavs" / f"clip{i}.{'flac' if i % 2 else 'wav'}", 300 + 30 * i) for i in range(3)]
    lines = {
        "caption.jsonl": [
            {"id": "c0", "audio": "wavs/clip0.wav", "references": ["a tone", "a beep"]},
            {"audio": str(wavs[1]), "references": ["a higher tone"]},
        ],
        "classify.jsonl": [
            {"audio": "wavs/clip0.wav", "label": "low tone"},
            {"audio": "wavs/clip1.flac", "label": "mid tone", "split": "test"},
            {"audio": "wavs/clip2.wav", "label": "high tone", "split": "test", "meta": {"hz": 360}},
        ],
        "qa.jsonl": [
            {"audio": "wavs/clip0.wav", "instruction": "Is there a tone?", "answer": "yes"},
            {"audio": "wavs/clip2.wav", "instruction": "How many tones?", "references": ["one", "1"]},
        ],
    }
    for name, items in lines.items():
        (folder / name).write_text("".join(json.dumps(item) + "\n" for item in items))
    return {"folder": folder, "wavs": wavs}


def make_all(root: Path) -> dict:
    """Every dataset under ``root`` (the ``--data-root`` of an end-to-end run)."""
    return {
        "clotho": make_clotho(root),
        "audiocaps": make_audiocaps(root),
        "musiccaps": make_musiccaps(root),
        "esc50": make_esc50(root),
        "urbansound8k": make_urbansound8k(root),
        "vggsound": make_vggsound(root),
        "clotho-aqa": make_clotho_aqa(root),
        "manifests": make_manifests(root),
    }


# -- the datasets of the paper's supervised comparison (issue 37): not in make_all ------------
MMAU_ITEMS = [  # (task, difficulty, category, question, choices, answer); audio: tone, corrupt or missing
    ("sound", "easy", "Information Extraction", "Which animal is heard?", ["Dog", "Cat", "Cow", "Sheep"], "Dog"),
    (
        "sound",
        "medium",
        "Reasoning",
        "Where is the sound most likely recorded?",
        ["A busy street", "A quiet library", "A forest"],
        "A busy street",
    ),
    (
        "music",
        "hard",
        "Reasoning",
        "Which instrument plays the melody?",
        ["Piano", "Electric guitar", "Violin", "Flute"],
        "Electric guitar",
    ),
    ("music", "easy", "Information Extraction", "What is the tempo?", ["Slow", "Fast"], "Fast"),
    ("speech", "medium", "Reasoning", "Who is speaking?", ["Man", "Woman", "Child", "Robot"], "Woman"),
    ("speech", "hard", "Information Extraction", "How many speakers are there?", ["One", "Two", "Three"], "Two"),
]


def make_mmau(root: Path) -> dict:
    """``mmau/mmau-test-mini.json`` as released (list of questions; audio_id ``./test-mini-audios/<id>.wav``),
    with one corrupt clip (item 2) and one missing clip (item 3)."""
    folder = root / "mmau"
    items = []
    for i, (task, difficulty, category, question, choices, answer) in enumerate(MMAU_ITEMS):
        qid = f"0000000{i}-mmau-{task}"
        audio = folder / "test-mini-audios" / f"{qid}.wav"
        if i == 2:
            corrupt(audio)
        elif i != 3:
            tone(audio, 300 + 60 * i)
        items.append(
            {
                "id": qid,
                "audio_id": f"./test-mini-audios/{qid}.wav",
                "question": question,
                "choices": choices,
                "answer": answer,
                "dataset": "fixture",
                "task": task,
                "split": "test-mini",
                "category": category,
                "sub-category": "fixture",
                "difficulty": difficulty,
            }
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mmau-test-mini.json").write_text(json.dumps(items, indent=2))
    ids = [it["id"] for it in items]
    return {"folder": folder, "items": items, "ids": ids, "corrupt": ids[2], "missing": ids[3]}


FSD50K_VOCAB = ["Bark", "Dog", "Domestic_animals_and_pets", "Electric_guitar", "Music"]
FSD50K_EVAL = [
    ("101", ["Bark", "Dog", "Domestic_animals_and_pets"]),
    ("102", ["Electric_guitar", "Music"]),
    ("103", ["Music"]),
    ("104", ["Dog", "Domestic_animals_and_pets"]),
    ("105", ["Bark", "Dog"]),
    ("106", ["Electric_guitar", "Music"]),
]


def make_fsd50k(root: Path) -> dict:
    """``fsd50k/FSD50K.ground_truth/{vocabulary,eval,dev}.csv`` and ``FSD50K.{eval,dev}_audio/<fname>.wav``
    as released, with one corrupt eval clip (104) and one missing (105)."""
    folder = root / "fsd50k"
    gt = folder / "FSD50K.ground_truth"
    write_csv(gt / "vocabulary.csv", [[i, label, f"/m/0fix{i}"] for i, label in enumerate(FSD50K_VOCAB)])
    mids = lambda labels: ",".join(f"/m/0fix{FSD50K_VOCAB.index(x)}" for x in labels)  # noqa: E731
    write_csv(gt / "eval.csv", [[f, ",".join(ls), mids(ls)] for f, ls in FSD50K_EVAL], ["fname", "labels", "mids"])
    dev = [("201", ["Music"], "train"), ("202", ["Bark", "Dog"], "val")]
    write_csv(
        gt / "dev.csv", [[f, ",".join(ls), mids(ls), s] for f, ls, s in dev], ["fname", "labels", "mids", "split"]
    )
    for i, (fname, _) in enumerate(FSD50K_EVAL):
        path = folder / "FSD50K.eval_audio" / f"{fname}.wav"
        if fname == "104":
            corrupt(path)
        elif fname != "105":
            tone(path, 250 + 70 * i)
    for fname, _, _ in dev:
        tone(folder / "FSD50K.dev_audio" / f"{fname}.wav", 500)
    return {
        "folder": folder,
        "ids": [f for f, _ in FSD50K_EVAL],
        "corrupt": "104",
        "missing": "105",
        "labels": {f: [x.replace("_", " ") for x in ls] for f, ls in FSD50K_EVAL},
    }

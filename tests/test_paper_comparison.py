"""The paper's whole comparison in one harness (issue 37): the tagging metric's mAP against
scikit-learn and a hand-computed case, MMAU and FSD50K on fixtures in their official layouts
(bad clips planted), and a random-weight Qwen2-Audio (the real transformers architecture) as an
``audio_lm`` row of ``mats-bench run`` beside the MATS rows, resumed after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from dataset_fixtures import make_fsd50k, make_mmau
from qwen2_audio_fixture import build_tiny_qwen2_audio, have_qwen2_audio

from mats_core import MatsError, build
from mats_core.testing import check_audio_lm, check_task

SHIPPED = Path(__file__).resolve().parents[1] / "plugins" / "mats_tiny" / "weights" / "mats"


# -- mAP ----------------------------------------------------------------------------------
def test_map_hand_computed_with_ties():
    from mats_metrics.tagging import mean_average_precision

    scores = np.array([[0.9, 0.1, 0.5], [0.8, 0.4, 0.5], [0.7, 0.35, 0.2], [0.6, 0.8, 0.1]])
    targets = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=bool)
    # class 0: hits at ranks 1 and 3 -> (1 + 2/3) / 2; class 1: ranks 1 and 2 -> 1;
    # class 2: a tie at 0.5 (one hit of two: P 1/2, R 1/2), then 0.2 (P 2/3, R 1) -> 1/4 + 1/3
    expected = [(1 + 2 / 3) / 2, 1.0, 0.5 * 0.5 + 0.5 * (2 / 3)]
    assert mean_average_precision(scores, targets)[0] == pytest.approx(np.mean(expected))
    no_positive = np.concatenate([targets, np.zeros((4, 1), dtype=bool)], axis=1)  # undefined AP: left out of the mean
    assert mean_average_precision(np.concatenate([scores, scores[:, :1]], axis=1), no_positive)[0] == pytest.approx(
        np.mean(expected)
    )


def test_map_equals_scikit_learn_with_and_without_weights():
    from sklearn.metrics import average_precision_score

    from mats_metrics.tagging import mean_average_precision

    rng = np.random.default_rng(3)
    scores = np.round(rng.random((60, 9)), 1)  # rounded: many ties
    targets = rng.random((60, 9)) < 0.3
    targets[0] = True  # every class has a positive
    assert mean_average_precision(scores, targets)[0] == pytest.approx(
        average_precision_score(targets, scores, average="macro")
    )
    counts = rng.integers(0, 3, size=(5, 60)).astype(float)  # bootstrap draw counts = sample weights
    got = mean_average_precision(scores, targets, counts)
    for b in range(5):
        keep = [c for c in range(9) if (targets[:, c] * counts[b]).sum() > 0]
        want = np.mean([average_precision_score(targets[:, c], scores[:, c], sample_weight=counts[b]) for c in keep])
        assert got[b] == pytest.approx(want)


# -- MMAU ---------------------------------------------------------------------------------
def test_mmau_answer_matching_follows_the_benchmarks_rule():
    from mats_datasets.multiple_choice import choice_matches

    choices = ["Man", "Woman", "Child", "Robot"]
    assert choice_matches("Man", "It is a man speaking.", choices)
    assert not choice_matches("Man", "A man and a woman", choices)  # a wrong choice's token
    assert not choice_matches("Man", "B", choices) and not choice_matches("Man", "", choices)
    shared = ["A busy street", "A quiet library", "A forest"]
    assert choice_matches("A busy street", "a busy street", shared)  # "a" is in the answer: not a wrong token
    assert not choice_matches("A busy street", "a street", shared)  # "busy" missing


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper")
    return root, make_mmau(root), make_fsd50k(root)


def _rows(samples, answers: dict, errors=()):
    return [
        {
            "task": "t",
            "id": s.id,
            "prediction": None if s.id in errors else answers.get(s.id, ""),
            "references": list(s.references),
            "label": s.label,
            "error": "cannot decode" if s.id in errors else None,
        }
        for s in samples
    ]


def test_mmau_reads_the_release_and_scores_per_group(data):
    root, info, _ = data
    task = build("task", "mmau", data_root=str(root))
    check_task(task)
    samples = task.samples()
    assert [s.id for s in samples] == info["ids"]
    assert (
        samples[0].instruction
        == 'Which animal is heard? Choose the answer from the following options: "Dog", "Cat", "Cow", "Sheep".'
    )
    assert samples[0].audio == str(info["folder"] / "test-mini-audios" / f"{info['ids'][0]}.wav")
    right = {s.id: s.references[0] for s in samples}
    answers = {**right, info["ids"][1]: "a quiet library", info["ids"][4]: "maybe a woman or a man"}
    scores = task.score(_rows(samples, answers, errors={info["corrupt"]}))
    # correct: 0 (sound), 3 (music), 5 (speech); wrong: 1, 4, and the failed clip 2
    assert scores["accuracy"] == pytest.approx(3 / 6) and scores["errors"] == 1.0
    assert (scores["accuracy_sound"], scores["accuracy_music"], scores["accuracy_speech"]) == (0.5, 0.5, 0.5)
    assert scores["accuracy_easy"] == 1.0 and scores["accuracy_hard"] == 0.5 and scores["accuracy_medium"] == 0.0
    assert (
        scores["accuracy_category_reasoning"] == pytest.approx(0.0)
        and scores["accuracy_category_information_extraction"] == 1.0
    )
    assert task.notes["prompt_format"] == "{question} Choose the answer from the following options: {choices}."
    only_sound = task.score(_rows(samples[:2], right))
    assert only_sound["accuracy_music"] is None and "no question" in task.notes["accuracy_music"]


def test_mmau_intervals_from_sample_stats(data):
    from mats_core.stats.intervals import score_task

    root, info, _ = data
    task = build("task", "mmau", data_root=str(root))
    samples = task.samples()
    rows = _rows(samples, {s.id: s.references[0] for s in samples[::2]})
    scored = score_task(task, "mmau", rows, {}, resamples=200, seed=0)
    assert scored.metrics["accuracy"] == 0.5
    low, high = scored.intervals["accuracy"]["low"], scored.intervals["accuracy"]["high"]
    assert 0.0 <= low < 0.5 < high <= 1.0
    assert "too few questions" in scored.no_ci["accuracy_sound"]  # 2 questions: some resamples have none
    stats = task.sample_stats(rows)
    once = stats.corpus(np.ones((1, len(rows))))  # every sample drawn once: the point values
    assert {k: float(v[0]) for k, v in once.items()} == {k: v for k, v in scored.metrics.items() if k in once}
    assert once["accuracy_sound"][0] == 0.5 and stats.corpus(np.array([[2.0, 1, 0, 0, 0, 0]]))["accuracy_sound"][
        0
    ] == pytest.approx(2 / 3)


def test_mmau_bad_release_files_are_clear_errors(tmp_path):
    folder = tmp_path / "mmau"
    with pytest.raises(MatsError, match="mmau-test-mini.json not found.*official layout"):
        build("task", "mmau", path=str(folder))
    folder.mkdir()
    item = {"id": "q1", "audio_id": "./a.wav", "question": "Q?", "choices": ["Yes", "No"], "answer": "Maybe"}
    (folder / "mmau-test-mini.json").write_text(json.dumps([item]))
    with pytest.raises(MatsError, match=r"item 0 \(id q1\): answer 'Maybe' is not one of its choices"):
        build("task", "mmau", path=str(folder)).samples()
    (folder / "mmau-test.json").write_text(json.dumps([{**item, "answer": None}]))
    with pytest.raises(MatsError, match="no 'answer'.*benchmark's server"):
        build("task", "mmau", path=str(folder), split="test").samples()
    (folder / "mmau-test-mini.json").write_text(json.dumps([{k: v for k, v in item.items() if k != "choices"}]))
    with pytest.raises(MatsError, match="missing field 'choices'"):
        build("task", "mmau", path=str(folder)).samples()
    with pytest.raises(MatsError, match="prompt"):
        build("task", "mmau", path=str(folder), prompt="no placeholders")


# -- FSD50K -------------------------------------------------------------------------------
def test_fsd50k_reads_the_release_and_scores_map_by_the_ltu_protocol(data):
    from sklearn.metrics import average_precision_score

    from mats_metrics.tagging import text_scores

    root, _, info = data
    task = build("task", "fsd50k", data_root=str(root))
    encoder = build("encoder", "tiny")
    check_task(task, score_context={"encoder": encoder})
    samples = task.samples()
    assert [s.id for s in samples] == info["ids"] and task.labels == [
        "Bark",
        "Dog",
        "Domestic animals and pets",
        "Electric guitar",
        "Music",
    ]
    assert samples[0].references == info["labels"]["101"] and samples[0].label == "Bark"
    assert [s.id for s in task.samples("train")] == ["201"] and [s.id for s in task.samples("val")] == ["202"]
    answers = {"101": "a dog barks", "102": "an electric guitar riff", "103": "music plays", "104": "", "106": "a dog"}
    rows = _rows(samples, answers, errors={"105"})
    scores = task.score(rows, encoder=encoder)
    sims = text_scores(["" if r["error"] else r["prediction"] for r in rows], task.labels, encoder)
    targets = np.array([[label in s.references for label in task.labels] for s in samples])
    assert scores["mAP"] == pytest.approx(average_precision_score(targets, sims, average="macro"))
    assert task.score(rows)["mAP"] is None and "encoder" in task.notes["mAP"]
    zero_shot = task.zero_shot_scores(rows, np.where(targets, 0.9, 0.1))  # a perfect ranking
    assert zero_shot["mAP"] == pytest.approx(1.0)


def test_fsd50k_bad_ground_truth_names_the_file(tmp_path):
    info = make_fsd50k(tmp_path)
    eval_csv = info["folder"] / "FSD50K.ground_truth" / "eval.csv"
    eval_csv.write_text(eval_csv.read_text() + '107,"Bark,Meow",/m/x\n')
    with pytest.raises(MatsError, match=r"eval.csv:8: .*\['Meow'\] not in .*vocabulary.csv"):
        build("task", "fsd50k", path=str(info["folder"])).samples()
    with pytest.raises(MatsError, match="dev.csv not found"):
        (info["folder"] / "FSD50K.ground_truth" / "dev.csv").unlink()
        build("task", "fsd50k", path=str(info["folder"]), split="dev")


# -- the audio_lm kind and Qwen2-Audio ------------------------------------------------------
class _Echo:
    """An audio LM of exactly the v1.2 required members: the prompt's word count and the clip's length."""

    sample_rate = 8000

    def generate(self, waveforms, prompts, **decoding):
        return [f"{len(p.split())} words, {len(w)} samples" for w, p in zip(waveforms, prompts)]


class _BatchDependent(_Echo):
    def generate(self, waveforms, prompts, **decoding):
        return [f"{len(waveforms)} in batch" for _ in waveforms]


def test_the_conformance_check_passes_a_plain_audio_lm_and_catches_a_batch_dependent_one():
    check_audio_lm(_Echo())
    with pytest.raises(AssertionError, match="depends on its batch"):
        check_audio_lm(_BatchDependent())
    with pytest.raises(AssertionError, match="sample_rate"):
        check_audio_lm(type("NoRate", (), {"generate": _Echo.generate})())


def test_plugins_lists_the_audio_lm_kind_and_qwen2_audio():
    out = subprocess.run(
        [sys.executable, "-m", "mats_core.cli", "plugins", "--json"], capture_output=True, text=True, check=True
    )
    plugins = {p["name"]: p for p in json.loads(out.stdout)}
    assert plugins["mats_hf"]["provides"]["audio_lm"] == ["qwen2-audio"]
    assert (
        "fsd50k" in plugins["mats_datasets"]["provides"]["task"]
        and "mmau" in plugins["mats_datasets"]["provides"]["task"]
    )
    assert any(p["name"] == "qwen2-audio" and p["kind"] == "audio_lm" for p in plugins["mats_hf"]["presets"])


def test_an_unknown_audio_lm_fails_before_any_model_loads(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "mats_core.cli", "run", "--audio-lm", "qwen2-audoi", "--output", str(tmp_path / "x")],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0 and "qwen2-audio" in out.stderr and not (tmp_path / "x").exists()


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory):
    if not have_qwen2_audio():
        pytest.skip("this transformers has no Qwen2AudioForConditionalGeneration")
    return build_tiny_qwen2_audio(tmp_path_factory.mktemp("qwen2-audio"))


def test_qwen2_audio_plugin_prompts_with_the_model_cards_template(tiny_qwen):
    lm = build("audio_lm", "qwen2-audio", model=str(tiny_qwen), dtype="float32", device="cpu")
    assert lm.sample_rate == 16000 and lm.clip_seconds == 30.0
    assert lm.prompt("What is it?") == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>\nWhat is it?<|im_end|>\n<|im_start|>assistant\n"
    )
    check_audio_lm(lm, max_new_tokens=4)
    waves = [np.sin(np.arange(16000) / 5).astype(np.float32), np.zeros(40000, dtype=np.float32)]
    both = lm.generate(waves, ["What is it?", "Say a word"], max_new_tokens=4)
    assert len(both) == 2 and all(isinstance(t, str) for t in both)
    assert lm.generate(waves[1:], ["Say a word"], max_new_tokens=4) == both[1:]  # left padding: batch-independent


def _cli(args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "mats_core.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
        **kw,
    )


def _finish(proc, what):
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, f"{what}:\n{out[-3000:]}\n{err[-3000:]}"
    return out


@pytest.mark.slow
@pytest.mark.skipif(not (SHIPPED / "noise" / "config.json").exists(), reason="shipped tiny MATS checkpoints not built")
def test_qwen2_audio_row_beside_mats_rows_resumes_after_sigkill(tiny_qwen, data, tmp_path):
    root, mmau, fsd = data
    args = [
        "run",
        "--bridge",
        "noise",
        "--controls",
        "none",
        "--tasks",
        "tiny-classify,mmau,fsd50k",
        "--data-root",
        root,
        "--limit",
        "5",
        "--batch-size",
        "1",
        "--device",
        "cpu",
        "--audio-lm",
        "qwen2-audio",
        "--set",
        f"audio_lm.model={tiny_qwen}",
        "--set",
        "audio_lm.dtype=float32",
        "--set",
        "audio_lm.generation.max_new_tokens=3",
        "--set",
        "decoding.max_new_tokens=4",
        "--resamples",
        "50",
    ]
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    proc = _cli([*args, "--output", killed])
    samples = killed / "audio-lm-qwen2-audio" / "samples.jsonl"
    deadline = time.time() + 600
    while (
        time.time() < deadline
        and proc.poll() is None
        and not (samples.exists() and len(samples.read_text().splitlines()) >= 3)
    ):
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = samples.read_text().splitlines()
    assert 3 <= len(before) < 15 and not (samples.parent / "results.json").exists()
    table = _finish(_cli([*args, "--output", killed]), "resumed run")
    _finish(_cli([*args, "--output", clean]), "clean run")
    assert "qwen2-audio (audio-supervised)" in table and "clap-zero-shot" in table

    row = lambda p: sorted(
        (json.loads(x)["task"], json.loads(x)["id"], json.loads(x)["prediction"], json.loads(x)["error"])  # noqa: E731
        for x in (p / "audio-lm-qwen2-audio" / "samples.jsonl").read_text().splitlines()
    )
    assert row(killed) == row(clean) and len(row(killed)) == 15
    assert samples.read_text().splitlines()[: len(before)] == before  # the rows written before the kill are kept
    res = json.loads((killed / "audio-lm-qwen2-audio" / "results.json").read_text())
    assert res["results"] == json.loads((clean / "audio-lm-qwen2-audio" / "results.json").read_text())["results"]
    assert res["execution"]["generated"] == [15 - len(before)]
    assert (
        res["execution"]["decoding"]["max_new_tokens"] == 3 and res["execution"]["decoding"]["do_sample"] is False
    )  # its own, not run.decoding
    assert res["config"]["audio_lm"]["name"] == "qwen2-audio" and res["config"]["audio_lm"]["supervision"] == "audio"
    assert "{instruction}" in res["config"]["audio_lm"]["effective"]["prompt_format"]
    errors = {(r[0], r[1]): r[3] for r in row(killed) if r[3]}
    assert set(errors) == {
        ("mmau", mmau["corrupt"]),
        ("mmau", mmau["missing"]),
        ("fsd50k", fsd["corrupt"]),
        ("fsd50k", fsd["missing"]),
    }
    assert "cannot decode" in errors[("mmau", mmau["corrupt"])] and "not found" in errors[("fsd50k", fsd["missing"])]
    assert res["errors_count"] == 4 and res["notes"]["mmau"]["prompt_format"].startswith("{question}")
    for task, metric in (("mmau", "accuracy"), ("fsd50k", "mAP"), ("tiny-classify", "accuracy_exact")):
        assert isinstance(res["results"][task][metric], float) and metric in res["intervals"][task]
    comp = json.loads((killed / "comparison.json").read_text())
    label = "qwen2-audio (audio-supervised)"
    assert comp["order"][-1] == label and "audio_lm qwen2-audio" in comp["about"][label]["what"]
    assert {"mmau", "fsd50k", "tiny-classify"} <= set(comp["differences"][label])  # paired with the noise row
    assert isinstance(comp["rows"]["clap-zero-shot"]["fsd50k"]["mAP"], float)  # audio-label cosines, ranked per class
    assert isinstance(comp["rows"]["noise"]["mmau"]["accuracy"], float)

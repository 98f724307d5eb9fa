"""`mats-bench regime` (the retrieval regime of a bank) and the diagnosis-only coverage dial
(`run.oracle_bank` / `run.oracle_paraphrase`), on hand-made text and on the embedded tiny world."""

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mats_core.cli.main import app
from mats_core.config.validation import RunConfig
from mats_core.errors import MatsError
from mats_core.regime import normalize_caption, sentence_bleu4, text_regime

SHIPPED = Path(__file__).resolve().parents[1] / "plugins" / "mats_tiny" / "weights" / "mats"
shipped = pytest.mark.skipif(
    not (SHIPPED / "noise" / "config.json").exists(), reason="shipped tiny MATS checkpoints not built"
)


def cli(*args, code=0):
    out = CliRunner().invoke(app, [str(a) for a in args])
    assert out.exit_code == code, out.output + repr(out.exception)
    return out


def test_bleu4_and_normalisation():
    assert normalize_caption("  A Dog, barks!  Loudly.") == "a dog barks loudly"
    assert sentence_bleu4("a dog barks in the yard", ["A dog barks in the yard."]) == pytest.approx(1.0)
    # one substituted word of seven: 6/7 unigrams (the 2nd "a" clipped), 4/6 bigrams, 3/5 trigrams, 2/4 4-grams
    assert sentence_bleu4("a dog barks loudly in a yard", ["a dog barks loudly in the yard"]) == pytest.approx(
        (6 / 7 * 4 / 6 * 3 / 5 * 2 / 4) ** 0.25
    )
    assert sentence_bleu4("cat", ["a dog barks"]) == 0.0
    # the brevity penalty uses the closest reference length
    assert sentence_bleu4("a dog barks loudly", ["a dog barks loudly", "x " * 20]) == pytest.approx(1.0)


def test_text_regime_counts_verbatim_and_near_matches():
    bank = ["A dog barks.", "a car passes by on a wet road", "birds chirp in the morning", "wind blows hard"]
    refs = [
        ["a dog barks", "a dog is barking"],  # verbatim (after normalisation)
        ["a car passes by on a wet street", "traffic noise"],  # near: BLEU-4 of bank[1] >= 0.5
        ["a woman speaks", "someone talks"],
    ]  # neither
    r = text_regime(bank=bank, references=refs, corpus=bank + ["a dog barks"])
    assert r["verbatim_reference_share"] == pytest.approx(1 / 6) and r["verbatim_clip_share"] == pytest.approx(1 / 3)
    assert r["near_clip_share"] == pytest.approx(2 / 3) and r["near_reference_share"] == pytest.approx(2 / 6)
    assert r["corpus_twin_share"] == pytest.approx(2 / 5) and r["corpus_unique"] == 4
    assert r["corpus_vocabulary"] == len({w for t in bank for w in normalize_caption(t).split()})
    stricter = text_regime(bank=bank, references=refs, near_bleu=0.95)
    assert stricter["near_clip_share"] == pytest.approx(1 / 3) and "corpus_twin_share" not in stricter
    with pytest.raises(MatsError, match="non-empty memory bank"):
        text_regime(bank=[], references=refs)


def test_text_only_regime_of_a_corpus_against_a_heldout_corpus(tmp_path):
    rec = lambda text, **kw: json.dumps({"text": text, "instruction": "Describe.", "answer": text, **kw})  # noqa: E731
    (tmp_path / "train.jsonl").write_text(
        "\n".join(rec(t) for t in ["a dog barks", "rain falls on a roof", "a dog barks"]) + "\n"
    )
    (tmp_path / "held.jsonl").write_text(
        "\n".join([rec("a dog barks", id="c1"), rec("a cat meows", id="c1"), rec("thunder rumbles", id="c2")]) + "\n"
    )
    out = cli(
        "regime",
        "--corpus",
        tmp_path / "train.jsonl",
        "--heldout",
        tmp_path / "held.jsonl",
        "--memory-size",
        "2",
        "--json",
    )
    report = json.loads(out.output)
    assert report["audio"] is None and report["memory_size"] == 2 and report["text"]["clips"] == 2  # grouped by id
    assert report["text"]["verbatim_clip_share"] == 0.5 and report["text"]["verbatim_reference_share"] == pytest.approx(
        1 / 3
    )
    assert report["text"]["corpus_twin_share"] == pytest.approx(2 / 3)
    table = cli(
        "regime", "--corpus", tmp_path / "train.jsonl", "--heldout", tmp_path / "held.jsonl", "--memory-size", "2"
    ).output
    assert "retrieval regime" in table and "verbatim_clip_share" in table and "ORACLE" not in table
    bad = cli(
        "regime",
        "--corpus",
        tmp_path / "train.jsonl",
        "--heldout",
        tmp_path / "held.jsonl",
        "--task",
        "tiny-caption",
        code=2,
    )
    assert "exactly one of --task" in bad.output


def test_the_tiny_regime_reuses_the_build_numbers():
    """The text-only regime of the shipped world gives `tiny info`'s verbatim share (same bank draw)."""
    from mats_core.bench.regime_run import measure_regime

    meta = json.loads((SHIPPED.parent / "metadata.json").read_text())["regime"]
    report = measure_regime(encoder="tiny", corpus="tiny", task="tiny-caption", options={"text_only": True})
    assert report["audio"] is None and report["text"]["clips"] == 300
    assert report["text"]["verbatim_clip_share"] == pytest.approx(meta["verbatim_in_bank_share"])


def test_audio_regime_santa_weights_and_recall():
    from mats_core.bench.regime_run import measure_regime

    report = measure_regime(encoder="tiny", corpus="tiny", task="tiny-caption", options={"limit": 12, "bound": False})
    audio, santa = report["audio"], report["santa"]
    assert audio["clips"] == 12 and audio["raw_norm_mean"] > 5  # the tiny CLAP's raw audio vectors are long
    for prefix in ("audio", "text"):
        for kind in ("verbatim", "near"):
            values = [audio[f"{prefix}_{kind}_r@{k}"] for k in (1, 5, 10)]
            assert values == sorted(values) and all(0 <= v <= 1 for v in values)
    assert santa["santa"]["effective_lam"] == pytest.approx(0.3) and santa["santa-kmeans"][
        "effective_lam"
    ] == pytest.approx(0.3)
    raw = santa["santa-published"]
    assert raw["normalize_audio"] is False and raw["effective_lam"] < 0.05
    assert raw["effective_lam"] == pytest.approx(0.3 / (0.3 + 0.7 * audio["raw_norm_mean"]), rel=0.05)
    assert raw["top_weight_mean"] > santa["santa"]["top_weight_mean"]  # raw scores make the softmax peakier


def test_oracle_dial_changes_the_bank_and_is_labelled():
    from mats_core.bench.regime_run import measure_regime
    from mats_core.run.oracle import oracle_label, oracle_settings

    assert RunConfig().oracle_bank == 0 and RunConfig().oracle_paraphrase == 0  # off by default
    assert "oracle_bank" not in RunConfig().recorded() and oracle_settings({}) == {}
    assert RunConfig(oracle_bank=0.25).recorded()["oracle_bank"] == 0.25
    with pytest.raises(Exception, match="less than or equal to 1"):
        oracle_settings({"oracle_bank": 1.5})
    base = measure_regime(encoder="tiny", corpus="tiny", task="tiny-caption", options={"limit": 40, "text_only": True})
    full = measure_regime(
        encoder="tiny",
        corpus="tiny",
        task="tiny-caption",
        options={"limit": 40, "text_only": True, "run": {"oracle_bank": 0.5}},
    )
    assert "oracle_bank" not in base and full["oracle_bank"] == {"oracle_bank": 0.5, "added": 20}
    assert full["text"]["bank_size"] == base["text"]["bank_size"] + 20
    assert full["text"]["verbatim_clip_share"] >= 0.5 > base["text"]["verbatim_clip_share"]
    para = measure_regime(
        encoder="tiny",
        corpus="tiny",
        task="tiny-caption",
        options={"limit": 40, "text_only": True, "run": {"oracle_paraphrase": 1.0}},
    )
    assert para["oracle_bank"]["added"] == 40  # new captions of every scene, none a reference
    assert para["text"]["verbatim_clip_share"] == base["text"]["verbatim_clip_share"]
    assert para["text"]["nearest_bleu4_mean"] > base["text"]["nearest_bleu4_mean"]
    assert oracle_label({"oracle_bank": 0.5}) == "ORACLE BANK (oracle_bank 0.5)" and oracle_label({}) == ""


def test_the_regime_measures_the_very_captions_a_run_adds():
    """The coverage of a dial setting is measured on the run's own bank: the captions extend_bank adds
    (named by the task, drawn with the run seed) are the ones measure_regime counts."""
    from mats_core import build
    from mats_core.bench.regime_run import measure_regime
    from mats_core.corpus import load_corpus, memory_bank_draw
    from mats_core.run.oracle import oracle_texts

    task = build("task", "tiny-caption")
    samples = list(task.samples())[:30]
    _, records = load_corpus("tiny", None)
    seed = 2  # the run's seed draws both the bank and the added captions
    texts, pick = memory_bank_draw(records, 500, seed)
    added = oracle_texts(samples, task, {"oracle_paraphrase": 0.5}, seed, "tiny-caption")  # as a run adds them
    refs = [list(s.references) for s in samples]
    expected = text_regime(bank=[texts[i] for i in pick] + added, references=refs, corpus=[r["text"] for r in records])
    run = {"oracle_paraphrase": 0.5}
    got = measure_regime(
        encoder="tiny",
        corpus="tiny",
        task="tiny-caption",
        options={"limit": 30, "seed": seed, "memory_size": 500, "text_only": True, "run": run},
    )
    assert got["text"] == expected


def test_oracle_paraphrase_needs_a_task_that_writes_captions():
    from types import SimpleNamespace

    from mats_core.run.oracle import oracle_texts

    clips = [SimpleNamespace(id="a", references=["x y"]), SimpleNamespace(id="b", references=["z"])]
    assert oracle_texts(clips, object(), {"oracle_bank": 1.0}, 0) in (["x y", "z"],)
    with pytest.raises(MatsError, match="paraphrases"):
        oracle_texts(clips, object(), {"oracle_paraphrase": 0.5}, 0, "plain")


def test_extend_bank_refits_the_bridge():
    from mats_core import build
    from mats_core.run.harness import Pipeline
    from mats_core.run.oracle import extend_bank

    encoder = build("encoder", "tiny")
    pipe = Pipeline(encoder, None, {"encoder": {"name": "tiny", "params": {}}})
    task = build("task", "tiny-caption", limit=8)
    samples = list(task.samples())
    bank = torch.nn.functional.normalize(encoder.embed_text(["a dog barks", "rain falls", "a bell rings"]), dim=-1)
    bridge = build("bridge", "memory", k=2)
    bridge.fit(bank)
    cfg = RunConfig(oracle_bank=0.5)
    grown, record = extend_bank(pipe, bridge, bank, {"tiny-caption": task}, {"tiny-caption": samples}, cfg)
    assert record == {"oracle_bank": 0.5, "added": 4} and grown.shape[0] == 7 and bridge.config()["bank_size"] == 7
    assert extend_bank(pipe, bridge, None, {}, {}, cfg) == (None, {"oracle_bank": 0.5, "added": 0})


@shipped
def test_a_run_with_the_dial_says_oracle_bank(tmp_path):
    out = cli(
        "run",
        "--bridge",
        "memory",
        "--tasks",
        "tiny-caption",
        "--limit",
        "2",
        "--output",
        tmp_path / "run",
        "--device",
        "cpu",
        "--predict-only",
        "--no-reference",
        "--set",
        "run.oracle_bank=1.0",
    )
    assert "ORACLE BANK (oracle_bank 1)" in out.output
    found = sorted((tmp_path / "run").rglob("results.json"))
    assert len(found) == 1
    config = json.loads(found[0].read_text())["config"]
    assert config["oracle_bank"] == {"oracle_bank": 1.0, "added": 2} and config["bridge"]["memory_size"] == 5174
    assert config["run"]["oracle_bank"] == 1.0
    from mats_core.report.compare import load_row  # the rows of `report`, `sweep` and the run's comparison

    source = load_row("memory", found[0].parent).source
    assert "ORACLE BANK (+2 test captions)" in source
    assert load_row("memory", found[0].parent, source).source.count("ORACLE BANK") == 1  # read back: once
    bad = cli(
        "run",
        "--bridge",
        "memory",
        "--tasks",
        "tiny-caption",
        "--limit",
        "2",
        "--output",
        tmp_path / "bad",
        "--set",
        "run.oracle_bank=2",
        code=2,
    )
    assert "oracle_bank" in bad.output


def test_a_comparison_with_oracle_rows_says_so_first():
    from mats_core.report.compare import Row, comparison
    from mats_core.report.tables import as_markdown

    rows = [Row("noise", {"t": {"m": 0.2}}), Row("memory", {"t": {"m": 0.3}}, oracle_added=25)]
    doc = comparison(rows, {"t": "caption"}, resamples=0)
    assert doc["oracle_bank"] == {"memory": 25}
    assert as_markdown(doc).startswith(
        "**ORACLE BANK, diagnosis only: test captions in the memory bank of memory (+25)**"
    )
    plain = comparison(rows[:1], {"t": "caption"}, resamples=0)
    assert "oracle_bank" not in plain and "ORACLE" not in as_markdown(plain, with_source=True)

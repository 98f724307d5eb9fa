"""Bootstrap intervals and paired differences (mats_core.stats.intervals) against analytic and direct values."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from mats_core.stats.intervals import SampleStats, across_seeds, intervals, paired, resample_counts, resampled

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="caption metrics need Java")


def test_accuracy_interval_matches_the_binomial_interval():
    n, k = 400, 280  # p = 0.7
    values = np.r_[np.ones(k), np.zeros(n - k)]
    ci = intervals(SampleStats(n=n, means={"accuracy": values}), resample_counts(n, 4000, 0, "t"))["accuracy"]
    p = k / n
    z = 1.959964
    se = math.sqrt(p * (1 - p) / n)
    wilson_c = (p + z * z / (2 * n)) / (1 + z * z / n)
    wilson_h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert ci["low"] == pytest.approx(wilson_c - wilson_h, abs=0.01)
    assert ci["high"] == pytest.approx(wilson_c + wilson_h, abs=0.01)
    assert ci["low"] == pytest.approx(p - z * se, abs=0.01) and ci["high"] == pytest.approx(p + z * se, abs=0.01)
    assert ci["se"] == pytest.approx(math.sqrt(p * (1 - p) / (n - 1)), rel=1e-9)


def test_intervals_are_deterministic_under_the_seed():
    values = np.random.default_rng(3).random(50)
    stats = SampleStats(n=50, means={"m": values})
    a = intervals(stats, resample_counts(50, 500, 7, "task"))
    assert a == intervals(stats, resample_counts(50, 500, 7, "task"))
    assert a != intervals(stats, resample_counts(50, 500, 8, "task"))
    counts = resample_counts(50, 500, 7, "task")
    assert (counts.sum(axis=1) == 50).all()


def test_paired_difference_of_identical_rows_is_zero_with_p_one():
    values = np.random.default_rng(1).integers(0, 2, 80).astype(float)
    stats = SampleStats(n=80, means={"accuracy": values})
    point = {"accuracy": float(values.mean())}
    d = paired(stats, stats, point, point, resample_counts(80, 1000, 0, "t"))["accuracy"]
    assert d["difference"] == 0 and d["low"] == 0 and d["high"] == 0 and d["p"] == 1.0 and not d["excludes_zero"]


def test_paired_difference_detects_a_real_gap():
    rng = np.random.default_rng(2)
    a = (rng.random(300) < 0.8).astype(float)
    b = a.copy()
    b[rng.choice(300, 90, replace=False)] = 0  # b is a with 90 answers knocked out
    pa, pb = {"accuracy": a.mean()}, {"accuracy": b.mean()}
    d = paired(
        SampleStats(300, {"accuracy": a}), SampleStats(300, {"accuracy": b}), pa, pb, resample_counts(300, 1000, 0, "t")
    )
    assert d["accuracy"]["excludes_zero"] and d["accuracy"]["p"] < 0.01 and d["accuracy"]["low"] > 0


def test_a_corpus_metric_runs_once_per_row_and_resamples_however_many_differences_read_it():
    """A row's interval and its paired differences (and the reference row's, once) read one memoised
    set of resampled values (issue 31: the corpus metric was recomputed for every difference), and
    chunking the resamples changes no bit."""
    calls = []
    rng = np.random.default_rng(4)
    values = {name: rng.random(60) for name in ("a", "b", "ref")}

    def corpus_of(v):
        def corpus(counts):
            calls.append(len(counts))
            return {"m": counts @ v / 60.0 + (counts @ v) ** 2 / 3600.0}  # not a mean: a corpus metric

        return corpus

    stats = {name: SampleStats(n=60, corpus=corpus_of(v)) for name, v in values.items()}
    counts = resample_counts(60, 1000, 0, "t")
    point = {"m": 0.5}
    for row in ("a", "b"):
        intervals(stats[row], counts)
        paired(stats[row], stats["ref"], point, point, counts)
    per_call = calls[0]
    assert per_call < 1000 and sum(calls) == 3 * 1000  # chunked; a, ref and b each once
    whole = corpus_of(values["a"])(counts)["m"]
    assert np.array_equal(resampled(stats["a"], counts)["m"], whole)  # the same bits as one call
    assert not np.array_equal(resampled(stats["a"], resample_counts(60, 1000, 1, "t"))["m"], whole)


def test_across_seeds_t_interval():
    out = across_seeds([0.5, 0.6, 0.7])
    assert out["mean"] == pytest.approx(0.6) and out["std"] == pytest.approx(0.1)
    assert out["high"] - out["mean"] == pytest.approx(4.303 * 0.1 / math.sqrt(3))


def _captions():
    rng = np.random.default_rng(0)
    words = "a dog barks loudly while the rain falls on roof birds sing near water".split()
    refs = [[" ".join(rng.choice(words, rng.integers(4, 9))) for _ in range(3)] for _ in range(25)]
    preds = [" ".join(rng.choice(words, rng.integers(2, 9))) for _ in range(25)]
    preds[3] = ""
    return preds, refs


@needs_java
def test_cider_and_bleu_per_resample_equal_pycocoevalcap_on_that_resample():
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    from mats_metrics.caption import CaptionMetric, tokenize

    preds, refs = _captions()
    metric = CaptionMetric()
    stats = metric.sample_stats(preds, refs)
    gts, res = tokenize(preds, refs)
    counts = resample_counts(len(preds), 3, 5, "tiny-caption")
    values = resampled(stats, counts)
    for b in range(3):
        idx = np.repeat(np.arange(len(preds)), counts[b].astype(int))
        g = {j: gts[i] for j, i in enumerate(idx)}
        r = {j: res[i] for j, i in enumerate(idx)}
        assert values["cider"][b] == pytest.approx(Cider().compute_score(g, r)[0], rel=1e-9, abs=1e-12)
        bleu, _ = Bleu(4).compute_score(g, r, verbose=0)
        for k in range(4):
            assert values[f"bleu_{k + 1}"][b] == pytest.approx(bleu[k], rel=1e-9, abs=1e-12)
    whole = resampled(stats, np.ones((1, len(preds))))  # every sample once = the metric itself
    direct = metric.compute(preds, refs)
    assert whole["cider"][0] == pytest.approx(direct["cider"], rel=1e-9)
    assert whole["rouge_l"][0] == pytest.approx(direct["rouge_l"], rel=1e-9)
    assert "meteor" in stats.notes
    metric.close()


def test_qa_and_classification_corpus_metrics_on_the_full_sample_equal_compute():
    from mats_metrics.classification import ClassificationMetric
    from mats_metrics.qa import QAMetric

    preds = ["yes", "two dogs", "no", "three", "", "a cat"]
    refs = [["yes"], ["two"], ["yes"], ["three", "3"], ["one"], ["cat", "a cat"]]
    qa = QAMetric()
    whole = resampled(qa.sample_stats(preds, refs), np.ones((1, 6)))
    direct = qa.compute(preds, refs)
    for m in ("accuracy", "wer", "cer"):
        assert whole[m][0] == pytest.approx(direct[m], rel=1e-12)
    labels = ["dog", "cat", "bird"]
    cp = ["a dog", "cat", "something", "bird", "dog", "dog"]
    gold = ["dog", "cat", "bird", "bird", "cat", "dog"]
    cm = ClassificationMetric()
    whole = resampled(cm.sample_stats(cp, gold, labels=labels), np.ones((1, 6)))
    direct = cm.compute(cp, gold, labels=labels)
    for m in ("accuracy_exact", "f1_exact", "unmapped_exact"):
        assert whole[m][0] == pytest.approx(direct[m], rel=1e-12)

"""The built-in metrics plugin: caption scores equal pycocoevalcap's own, label mapping, QA.

Caption tests run Java (PTB tokeniser, METEOR). METEOR's JVM takes 5-10 s to start, so the
module starts one pycocoevalcap ``Meteor`` and both the reference run and our metric use it
(the process is stateless between EVAL calls; what is compared is how each side feeds it).
"""

from __future__ import annotations

import re
import subprocess

import pytest
import torch

from mats_core import MatsError, build
from mats_core.testing import check_metric
from mats_metrics import caption as caption_mod
from mats_metrics.classification import map_exact, normalize

CAPTION_PREDICTIONS = [
    "A dog barks loudly in the distance.",
    "rain falls on a roof",
    "",  # empty answers happen (generation failures) and must score 0, not crash
    "Birds chirp;  a man whistles!",
    "water runs",
    "a car engine idles and then revs up",
]
CAPTION_REFERENCES = [
    ["A dog is barking far away.", "a dog barks in the distance", "Dogs bark outside."],
    ["Heavy rain falls on a metal roof.", "rain is falling onto a roof"],
    ["Wind blows through the trees."],
    ["Birds are chirping while a man whistles.", "a man whistles and birds sing"],
    ["Water is running from a tap.", "a stream of water runs"],
    ["A car engine idles, then accelerates.", "an engine revs"],
]


@pytest.fixture(autouse=True)
def _never_download_corenlp(monkeypatch):
    """SPICE must never trigger pycocoevalcap's CoreNLP download."""
    from pycocoevalcap.spice import spice

    def refuse():
        raise AssertionError("pycocoevalcap's CoreNLP download was triggered")

    monkeypatch.setattr(spice, "get_stanford_models", refuse)


@pytest.fixture(scope="module")
def meteor():
    from pycocoevalcap.meteor.meteor import Meteor

    scorer = Meteor()
    yield scorer
    del scorer


@pytest.fixture(scope="module")
def caption_metric(meteor):
    metric = build("metric", "caption")
    metric._meteor = meteor  # share the one METEOR JVM (see the module docstring)
    yield metric
    metric.close()


def pycocoevalcap_scores(predictions, references, meteor):
    """The reference numbers: pycocoevalcap's tokenizer and scorers called the documented way."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({i: [{"caption": r} for r in refs] for i, refs in enumerate(references)})
    res = tokenizer.tokenize({i: [{"caption": p}] for i, p in enumerate(predictions)})
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    out = {f"bleu_{i + 1}": b for i, b in enumerate(bleu)}
    out["meteor"] = meteor.compute_score(gts, res)[0]
    out["rouge_l"] = Rouge().compute_score(gts, res)[0]
    out["cider"] = Cider().compute_score(gts, res)[0]
    return out


def test_caption_metrics_equal_pycocoevalcaps_own(caption_metric, meteor):
    theirs = pycocoevalcap_scores(CAPTION_PREDICTIONS, CAPTION_REFERENCES, meteor)
    ours = caption_metric.compute(CAPTION_PREDICTIONS, CAPTION_REFERENCES)
    assert set(ours) == {
        "bleu_1",
        "bleu_2",
        "bleu_3",
        "bleu_4",
        "meteor",
        "rouge_l",
        "cider",
        "spice",
        "spider",
        "distinct",
    }
    for name, value in theirs.items():
        assert ours[name] == pytest.approx(value, abs=1e-12), name
        assert isinstance(ours[name], float)
    assert 0 < ours["bleu_4"] < 1 and 0 < ours["meteor"] < 1 and ours["cider"] > 0


def test_caption_perfect_high_garbage_low(caption_metric):
    perfect = caption_metric.compute([refs[0] for refs in CAPTION_REFERENCES], CAPTION_REFERENCES)
    garbage = caption_metric.compute(["purple quantum spreadsheet"] * len(CAPTION_REFERENCES), CAPTION_REFERENCES)
    assert perfect["bleu_4"] > 0.9 and perfect["bleu_1"] > 0.95 and perfect["cider"] > 2.0 and perfect["meteor"] > 0.8
    assert (
        garbage["bleu_1"] < 0.05 and garbage["bleu_4"] < 1e-4 and garbage["cider"] < 0.05 and garbage["rouge_l"] < 0.05
    )
    assert perfect["rouge_l"] == pytest.approx(1.0)
    n = len(CAPTION_REFERENCES)
    assert garbage["distinct"] == pytest.approx(1 / n)  # one caption for every clip
    assert perfect["distinct"] == len({refs[0].lower().rstrip(".") for refs in CAPTION_REFERENCES}) / n


def test_spice_is_none_with_reason_when_corenlp_is_missing(caption_metric, monkeypatch, tmp_path):
    monkeypatch.setattr(caption_mod, "spice_lib_dir", lambda: tmp_path)
    assert caption_metric._spice_score({0: ["a"]}, {0: ["a"]}) is None
    notes = caption_metric.notes
    assert "stanford-corenlp-3.6.0.jar" in notes["spice"] and str(tmp_path) in notes["spice"]
    assert "SPICE" in notes["spider"]


def test_spice_failure_is_reported_not_raised(caption_metric, monkeypatch, tmp_path):
    for jar in caption_mod.CORENLP_JARS:
        (tmp_path / jar).write_bytes(b"")
    monkeypatch.setattr(caption_mod, "spice_lib_dir", lambda: tmp_path)
    assert caption_mod.spice_missing() is None

    class BrokenSpice:
        def compute_score(self, gts, res):
            raise subprocess.CalledProcessError(1, ["java", "-jar", "spice-1.0.jar"])

    from pycocoevalcap.spice import spice

    monkeypatch.setattr(spice, "Spice", BrokenSpice)
    assert caption_metric._spice_score({0: ["a"]}, {0: ["a"]}) is None
    assert "spice-1.0.jar" in caption_metric.notes["spice"]
    caption_metric._spice_error = None


def test_tokenizer_keeps_captions_aligned_across_stray_line_breaks():
    gts, res = caption_mod.tokenize(["a\rb", "c\u2028d", "e"], [["x"], ["y"], ["z"]])
    assert res == {0: ["a b"], 1: ["c d"], 2: ["e"]}
    assert gts == {0: ["x"], 1: ["y"], 2: ["z"]}


@pytest.mark.parametrize(
    "predictions, references, message",
    [
        ([], [], "no predictions to score"),
        (["a"], [["b"], ["c"]], "1 predictions but 2 references"),
        (["a"], [[""]], r"references\[0\]\[0\] is an empty string"),
        (["a"], [[]], r"references\[0\] is an empty list"),
        ("a dog", [["a dog"]], "predictions must be a list of strings"),
        ([None], [["a dog"]], r"predictions\[0\] must be a string"),
    ],
)
def test_caption_bad_input_is_a_clear_error(predictions, references, message):
    with pytest.raises(MatsError, match=message):
        build("metric", "caption").compute(predictions, references)


def test_caption_without_java_says_what_to_install(monkeypatch):
    monkeypatch.setattr(caption_mod.shutil, "which", lambda name: None)
    with pytest.raises(MatsError, match="install a JRE"):
        build("metric", "caption").compute(["a"], [["a"]])


# -- classification -------------------------------------------------------------------
LABELS = ["dog", "cat", "hot dog", "car_horn"]


def test_exact_mapping_rules():
    assert normalize("The Dog!") == "dog"
    assert map_exact("Dog.", LABELS) == "dog"
    assert map_exact("I hear a dog barking outside", LABELS) == "dog"
    assert map_exact("a hot dog sizzles", LABELS) == "hot dog"  # "dog" yields to the longer label
    assert map_exact("a dog chases a cat", LABELS) is None  # two labels: ambiguous
    assert map_exact("a car horn honks", LABELS) == "car_horn"  # underscores read as spaces
    assert map_exact("a horn", LABELS) is None
    assert map_exact("", LABELS) is None


class ConceptEncoder:
    """Fake text encoder: each word votes for a concept, so synonyms land near each other."""

    dim, sample_rate = 4, 16000
    CONCEPTS = {
        "dog": 0,
        "puppy": 0,
        "barking": 0,
        "cat": 1,
        "kitten": 1,
        "meows": 1,
        "hot": 2,
        "sausage": 2,
        "car": 3,
        "horn": 3,
        "honk": 3,
    }

    def embed_text(self, texts):
        out = torch.full((len(texts), self.dim), 0.01)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                if word in self.CONCEPTS:
                    out[row, self.CONCEPTS[word]] += 1.0
        return out

    def embed_audio(self, waveforms):
        raise NotImplementedError


def test_classification_exact_and_embedding_scores():
    predictions = ["Dog.", "a kitten meows", "a puppy", "car horn", "", "a barking dog and a cat"]
    references = ["dog", "cat", "dog", "car_horn", "cat", "dog"]
    scores = build("metric", "classification").compute(predictions, references, labels=LABELS, encoder=ConceptEncoder())
    # exact: dog, None, None, car_horn, None, None -> 2/6 right
    assert scores["accuracy_exact"] == pytest.approx(2 / 6)
    assert scores["unmapped_exact"] == pytest.approx(4 / 6)
    # per-label F1 = 2tp / (2tp + fp + fn): dog 2/(2+0+2), cat 0, car_horn 1; hot dog absent everywhere -> skipped
    assert scores["f1_exact"] == pytest.approx((2 / 4 + 0 + 1) / 3)
    # embedding: dog, cat, dog, car_horn, None (empty), dog (2 dog words vs 1 cat) -> 5/6 right; F1 1, 2/3, 1
    assert scores["accuracy_embed"] == pytest.approx(5 / 6)
    assert scores["f1_embed"] == pytest.approx((1 + 2 / 3 + 1) / 3)


def test_classification_without_encoder_reports_none():
    scores = build("metric", "classification").compute(["dog"], ["dog"], labels=LABELS)
    assert scores["accuracy_exact"] == 1.0 and scores["f1_exact"] == 1.0
    assert scores["accuracy_embed"] is None and scores["f1_embed"] is None


@pytest.mark.parametrize(
    "references, labels, message",
    [
        (["bird"], LABELS, r"references \['bird'\] are not in labels"),
        (["dog"], None, "pass labels="),
        (["dog"], ["dog", "Dog."], "same after normalisation"),
    ],
)
def test_classification_bad_input(references, labels, message):
    with pytest.raises(MatsError, match=message):
        build("metric", "classification").compute(["dog"], references, labels=labels)


# -- qa -------------------------------------------------------------------------------
def test_qa_accuracy_wer_cer_hand_computed():
    predictions = ["Yes.", "two dogs", "a man is speaking", ""]
    references = ["yes", ["three dogs", "2 dogs"], "A man speaks", ["birds"]]
    scores = build("metric", "qa").compute(predictions, references)
    assert scores["accuracy"] == pytest.approx(1 / 4)
    # words: 0 + 1 sub ("three dogs", first of the tie) + 1 sub 1 ins + 1 del = 4 edits / 7 reference words
    assert scores["wer"] == pytest.approx(4 / 7)
    # chars: 0/3 + "2 dogs" 3/6 (closer than "three dogs": 4) + "a man speaks" 6/12 + 5/5 = 14/26
    assert scores["cer"] == pytest.approx(14 / 26)


def test_qa_any_reference_counts_and_perfect_is_perfect():
    scores = build("metric", "qa").compute(["No", "Three."], [["yes", "no"], ["3", "three"]])
    assert scores == {"accuracy": 1.0, "wer": 0.0, "cer": 0.0}


def test_qa_rejects_reference_that_is_only_punctuation():
    with pytest.raises(MatsError, match=r"references\[0\]"):
        build("metric", "qa").compute(["yes"], [["?"]])


@pytest.mark.parametrize(
    "name, references, context",
    [("qa", [["yes"], ["a dog"]], {}), ("classification", ["dog", "cat"], {"labels": LABELS})],
)
def test_builtin_metrics_pass_the_conformance_checker(name, references, context):
    check_metric(build("metric", name), predictions=["yes", "a dog"], references=references, **context)


def test_a_dead_meteor_jvm_is_a_clear_error_not_a_hang(monkeypatch):
    """Run pycocoevalcap's real Meteor.compute_score against a process that dies at once."""
    import sys
    import threading

    from pycocoevalcap.meteor import meteor as meteor_mod

    def start_dead_jvm(self):
        code = "import sys; sys.stderr.write('Error: could not load paraphrase table'); sys.exit(1)"
        pipes = {k: subprocess.PIPE for k in ("stdin", "stdout", "stderr")}
        self.meteor_p = subprocess.Popen([sys.executable, "-c", code], **pipes)
        self.lock = threading.Lock()

    monkeypatch.setattr(meteor_mod.Meteor, "__init__", start_dead_jvm)
    metric = caption_mod.CaptionMetric()
    with pytest.raises(MatsError, match="METEOR .* failed: .*Java said: Error: could not load paraphrase table"):
        metric._meteor_score({0: ["a dog"]}, {0: ["a dog"]})
    assert metric._meteor is None


# -- hf-evaluate: a Hugging Face evaluate metric from a local script ----------------------------
HF_METRIC = '''
import datasets
import evaluate


class ExactRatio(evaluate.Metric):
    """A tiny local metric: the share of exact matches, and the per-item hits."""

    def _info(self):
        return evaluate.MetricInfo(
            description="share of exact matches", citation="", inputs_description="",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}))

    def _compute(self, predictions, references, ignore_case=False):
        norm = (lambda s: s.lower()) if ignore_case else (lambda s: s)
        hits = [float(norm(p) == norm(r)) for p, r in zip(predictions, references)]
        return {"exact_ratio": sum(hits) / len(hits), "per_item": hits, "label": "exact"}
'''


@pytest.fixture(scope="module")
def hf_metric_dir(tmp_path_factory):
    import os

    # evaluate copies loaded scripts into HF_MODULES_CACHE (read when it is imported): keep it in tmp
    os.environ.setdefault("HF_MODULES_CACHE", str(tmp_path_factory.mktemp("hf-modules")))
    pytest.importorskip("evaluate", reason="optional: pip install 'mats-bench[evaluate]'")
    folder = tmp_path_factory.mktemp("hf") / "exact_ratio"
    folder.mkdir()
    (folder / "exact_ratio.py").write_text(HF_METRIC)
    return folder


def test_hf_evaluate_runs_a_local_metric_script(hf_metric_dir):
    metric = build("metric", "hf-evaluate", path=str(hf_metric_dir))
    assert metric.module_name == "exact_ratio"
    assert metric.compute(["a dog", "A Cat"], ["a dog", "a cat"]) == {"exact_ratio": 0.5}
    assert set(metric.notes) == {"per_item", "label"} and "average=" in metric.notes["per_item"]
    cased = build(
        "metric",
        "hf-evaluate",
        path=str(hf_metric_dir / "exact_ratio.py"),
        prefix="hf_",
        compute_args={"ignore_case": True},
        average=["per_item"],
    )
    assert cased.compute(["a dog", "A Cat", "x"], ["a dog", "a cat", "y"]) == pytest.approx(
        {"hf_exact_ratio": 2 / 3, "hf_per_item": 2 / 3}
    )
    first = build("metric", "hf-evaluate", path=str(hf_metric_dir), references="first")
    assert first.compute(["yes", "no"], [["yes", "yeah"], ["maybe"]]) == {"exact_ratio": 0.5}
    check_metric(first, predictions=["yes", "a dog"], references=[["yes"], ["a dog", "the dog"]])


def test_hf_evaluate_errors_say_what_to_do(hf_metric_dir, tmp_path):
    metric = build("metric", "hf-evaluate", path=str(hf_metric_dir))
    with pytest.raises(
        MatsError, match=r"(?s)'exact_ratio' .* failed: ValueError: .*Check references= \(as_given or first\)"
    ):
        metric.compute(["yes"], [["yes", "yeah"]])  # lists of references to a one-string feature
    with pytest.raises(MatsError, match="2 predictions but 1 references"):
        metric.compute(["a", "b"], ["a"])
    with pytest.raises(MatsError, match="average= names \\['f1'\\], which it does not return"):
        build("metric", "hf-evaluate", path=str(hf_metric_dir), average=["f1"]).compute(["a"], ["a"])
    with pytest.raises(MatsError, match=r"nope does not exist; pass path=<a metric directory"):
        build("metric", "hf-evaluate", path=str(tmp_path / "nope"))
    with pytest.raises(
        MatsError, match=r"cannot load 'no-such-metric-xyz' \(HF_HUB_OFFLINE is set\).*local metric directory"
    ):
        build("metric", "hf-evaluate", path="no-such-metric-xyz")
    with pytest.raises(MatsError, match="metric 'hf-evaluate': param 'references'"):
        build("metric", "hf-evaluate", path=str(hf_metric_dir), references="all")


def test_hf_evaluate_without_the_package_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "evaluate", None)  # import evaluate -> ImportError
    with pytest.raises(MatsError, match=r"needs the 'evaluate' package .*pip install 'mats-bench\[evaluate\]'"):
        build("metric", "hf-evaluate", path="bleu")
    with pytest.raises(MatsError, match="param 'path': Field required"):
        build("metric", "hf-evaluate")

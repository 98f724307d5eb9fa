"""mats_core.testing: every checker passes a minimal correct plugin object and fails a broken
one with a message that names the problem. The fakes are tiny torch modules built here."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mats_core import MatsError, Sample, build, hookimpl
from mats_core.registry.plugins import get_host
from mats_core.testing import (
    check_bridge,
    check_corpus,
    check_encoder,
    check_llm,
    check_metric,
    check_task,
    plugin_host,
)


def test_importing_testing_does_not_import_torch():
    code = "import sys, mats_core.testing; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# -- encoder --------------------------------------------------------------------------
class TinyEncoder(torch.nn.Module):
    """Random linear maps on mel-free features: mean |FFT| of 256-sample frames, byte counts."""

    dim, sample_rate, frame = 8, 8000, 256

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.audio_proj = torch.nn.Parameter(torch.randn(self.frame // 2 + 1, self.dim, generator=g))
        self.text_proj = torch.nn.Parameter(torch.randn(64, self.dim, generator=g))

    def embed_audio(self, waveforms):
        usable = waveforms.shape[1] // self.frame * self.frame
        frames = waveforms[:, :usable].reshape(waveforms.shape[0], -1, self.frame)
        return torch.log1p(torch.fft.rfft(frames).abs().mean(1)) @ self.audio_proj

    def embed_text(self, texts):
        counts = torch.zeros(len(texts), 64)
        for row, text in enumerate(texts):
            for byte in text.encode():
                counts[row, byte % 64] += 1
        return counts @ self.text_proj


class WrongShapeEncoder(TinyEncoder):
    def embed_audio(self, waveforms):
        return super().embed_audio(waveforms)[:, :-1]


class NoisyTextEncoder(TinyEncoder):
    def embed_text(self, texts):
        return super().embed_text(texts) + torch.randn(len(texts), self.dim)


class BatchNormEncoder(TinyEncoder):
    def embed_audio(self, waveforms):
        z = super().embed_audio(waveforms)
        return z - z.mean(0, keepdim=True) + 0.1


class NaNEncoder(TinyEncoder):
    def embed_text(self, texts):
        return super().embed_text(texts) / 0.0 * 0.0


class ConstantEncoder(TinyEncoder):
    def embed_audio(self, waveforms):
        return torch.ones(waveforms.shape[0], self.dim)


class InPlaceEncoder(TinyEncoder):
    def embed_audio(self, waveforms):
        return super().embed_audio(waveforms.mul_(0.5))


class FloatRateEncoder(TinyEncoder):
    sample_rate = 8000.0


def test_check_encoder_passes_a_correct_encoder():
    check_encoder(TinyEncoder(), n=3, seconds=0.5)


@pytest.mark.parametrize(
    "encoder, message",
    [
        (WrongShapeEncoder(), r"embed_audio on a batch of 2 returned shape \[2, 7\], expected \[2, 8\]"),
        (NoisyTextEncoder(), "embed_text is not deterministic"),
        (BatchNormEncoder(), "embed_audio is not batch-consistent: row 0"),
        (NaNEncoder(), "embed_text on a batch of 2 returned non-finite values"),
        (ConstantEncoder(), "embed_audio returned identical embeddings for two different inputs"),
        (InPlaceEncoder(), "embed_audio modified its input in place"),
        (FloatRateEncoder(), "encoder.sample_rate must be a positive int, got 8000.0"),
        (object(), "object does not implement AlignmentEncoder: missing dim, embed_audio, embed_text, sample_rate"),
    ],
)
def test_check_encoder_fails_broken_encoders(encoder, message):
    with pytest.raises(AssertionError, match=message):
        check_encoder(encoder, seconds=0.25)


# -- bridge ---------------------------------------------------------------------------
class NearestBridge:
    """Noise at training; at inference, the mean of the audio and its nearest memory item."""

    def __init__(self, std=0.1):
        self.std = std

    def fit(self, memory):
        self.memory = memory

    def train(self, text, generator):
        return F.normalize(text + self.std * torch.randn(text.shape, generator=generator, dtype=text.dtype), dim=-1)

    def infer(self, audio, generator):
        nearest = self.memory[(audio @ self.memory.T).argmax(-1)]
        return F.normalize(audio + nearest, dim=-1)


class UnnormalisedBridge(NearestBridge):
    def train(self, text, generator):
        return text + self.std * torch.randn(text.shape, generator=generator)


class GlobalRNGBridge(NearestBridge):
    def train(self, text, generator):
        return F.normalize(text + self.std * torch.randn(text.shape), dim=-1)


class InPlaceBridge(NearestBridge):
    def infer(self, audio, generator):
        return F.normalize(audio.add_(self.memory[:1]), dim=-1)


class DoubleBridge(NearestBridge):
    def infer(self, audio, generator):
        return super().infer(audio, generator).double()


class MemoryEditingBridge(NearestBridge):
    def fit(self, memory):
        self.memory = memory.mul_(2.0)


class DroppingBridge(NearestBridge):
    def infer(self, audio, generator):
        return super().infer(audio, generator)[:-1]


def test_check_bridge_passes_a_correct_bridge():
    check_bridge(NearestBridge())
    check_bridge(NearestBridge(), bank=F.normalize(torch.randn(10, 5), dim=-1), batch=3)


@pytest.mark.parametrize(
    "bridge, message",
    [
        (UnnormalisedBridge(), r"bridge.train output rows are not L2-normalised: norms range"),
        (GlobalRNGBridge(), r"bridge.train is not deterministic under a seeded generator"),
        (InPlaceBridge(), "bridge.infer modified its input in place"),
        (DoubleBridge(), "bridge.infer returned dtype torch.float64 for torch.float32 input"),
        (MemoryEditingBridge(), "bridge.fit modified the memory bank in place"),
        (DroppingBridge(), r"bridge.infer returned shape \[7, 16\], expected \[8, 16\]"),
    ],
)
def test_check_bridge_fails_broken_bridges(bridge, message):
    with pytest.raises(AssertionError, match=message):
        check_bridge(bridge)


# -- language model -------------------------------------------------------------------
VOCAB = list(" abcdefghijklmnopqrstuvwxyz.?!:\n")


class TinyLM(torch.nn.Module):
    """A character-level Embedding + GRU language model that takes input embeddings."""

    template = "{audio} {instruction}\nAnswer:"
    hidden_size = 16

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(len(VOCAB), self.hidden_size)
        self.gru = torch.nn.GRU(self.hidden_size, self.hidden_size, batch_first=True)
        self.head = torch.nn.Linear(self.hidden_size, len(VOCAB))

    def tokenize(self, text):
        return [VOCAB.index(c) for c in text.lower() if c in VOCAB]

    def embed(self, ids):
        return self.emb(ids)

    def loss(self, inputs_embeds, attention_mask, labels):
        logits = self.head(self.gru(inputs_embeds)[0][:, :-1])
        return F.cross_entropy(logits.reshape(-1, len(VOCAB)), labels[:, 1:].reshape(-1), ignore_index=-100)

    def generate(self, inputs_embeds, attention_mask, max_new_tokens=8, **decoding):
        texts = []
        for row, mask in zip(inputs_embeds, attention_mask):
            out, state = self.gru(self._visible(row, mask)[None])
            chars = []
            for _ in range(max_new_tokens):
                token = self.head(out[:, -1]).argmax(-1)
                chars.append(VOCAB[int(token)])
                out, state = self.gru(self.emb(token)[:, None], state)
            texts.append("".join(chars))
        return texts

    def _visible(self, row, mask):
        return row[mask.bool()]  # drop the left padding

    def trainable_parameters(self):
        return list(self.parameters())


class NoAudioSlotLM(TinyLM):
    template = "{instruction}\nAnswer:"


class TensorTokenizeLM(TinyLM):
    def tokenize(self, text):
        return torch.tensor(super().tokenize(text))


class DetachedLossLM(TinyLM):
    def loss(self, inputs_embeds, attention_mask, labels):
        return super().loss(inputs_embeds.detach(), attention_mask, labels)


class NoGradLossLM(TinyLM):
    def loss(self, inputs_embeds, attention_mask, labels):
        with torch.no_grad():
            return super().loss(inputs_embeds, attention_mask, labels)


class FloatLossLM(TinyLM):
    def loss(self, inputs_embeds, attention_mask, labels):
        return float(super().loss(inputs_embeds, attention_mask, labels).detach())


class StringGenerateLM(TinyLM):
    def generate(self, inputs_embeds, attention_mask, **decoding):
        return " ".join(super().generate(inputs_embeds, attention_mask, **decoding))


class RightPaddingLM(TinyLM):
    def _visible(self, row, mask):
        return row[: int(mask.sum())]  # assumes right padding: reads the zeros, drops the prompt's end


class TupleParamsLM(TinyLM):
    def trainable_parameters(self):
        return tuple(self.parameters())


def test_check_llm_passes_a_correct_llm():
    lm = TinyLM()
    check_llm(lm, prefix_len=3, decoding={"max_new_tokens": 6}, padding_invariance=True)
    assert all(p.grad is None for p in lm.parameters()), "the check must not leave gradients behind"


@pytest.mark.parametrize(
    "llm, message",
    [
        (NoAudioSlotLM(), r"llm.template must contain '\{audio\}' exactly once"),
        (TensorTokenizeLM(), "llm.tokenize must return a non-empty list of ints, got Tensor"),
        (DetachedLossLM(), "no gradient reached the prefix in inputs_embeds through llm.loss"),
        (NoGradLossLM(), "llm.loss returned a tensor without grad"),
        (FloatLossLM(), "llm.loss must return a torch.Tensor, got float"),
        (StringGenerateLM(), "llm.generate must return a list of 2 strings"),
        (TupleParamsLM(), "llm.trainable_parameters must return a list, got tuple"),
    ],
)
def test_check_llm_fails_broken_llms(llm, message):
    with pytest.raises(AssertionError, match=message):
        check_llm(llm)


def test_check_llm_padding_invariance_catches_a_model_that_assumes_right_padding():
    check_llm(RightPaddingLM())  # the basic contract holds ...
    with pytest.raises(AssertionError, match="llm.generate depends on left padding"):
        check_llm(
            RightPaddingLM(), decoding={"max_new_tokens": 8}, padding_invariance=True
        )  # ... the strict one does not


# -- task -----------------------------------------------------------------------------
class ToyTask:
    """Classification over in-memory clips; scores exact-match accuracy and an error rate."""

    name, kind = "toy", "classification"
    LABELS = ["dog", "cat"]

    def samples(self, split=None):
        for i, label in enumerate(["dog", "cat", "dog", "cat"]):
            audio = np.full(800, 0.01 * (i + 1), dtype=np.float32)
            yield Sample(
                id=f"toy-{i}",
                audio=audio,
                instruction="Which animal?",
                sample_rate=8000,
                label=label,
                labels=self.LABELS,
            )

    def score(self, predictions, **context):
        accuracy = sum(r["prediction"] == r["label"] for r in predictions) / len(predictions)
        return {"accuracy": accuracy, "error_rate": 1 - accuracy, "map": None}


class ToyCaptionTask:
    name, kind = "toy-captions", "caption"

    def __init__(self, folder):
        self.clip = folder / "clip.wav"
        self.clip.write_bytes(b"RIFF")

    def samples(self, split=None):
        yield Sample(
            id="c0", audio=str(self.clip), instruction="Describe the sound.", references=["a dog barks", "barking"]
        )

    def score(self, predictions, **context):
        return {"cider": 1.5, "wer": 0.0}


class DuplicateIdTask(ToyTask):
    def samples(self, split=None):
        for s in super().samples(split):
            yield Sample(**{**s.__dict__, "id": "same"})


class LabelOutsideSetTask(ToyTask):
    def samples(self, split=None):
        for s in super().samples(split):
            yield Sample(**{**s.__dict__, "labels": ["bird"]})


class Float64AudioTask(ToyTask):
    def samples(self, split=None):
        for s in super().samples(split):
            yield Sample(**{**s.__dict__, "audio": s.audio.astype(np.float64)})


class NoRateTask(ToyTask):
    def samples(self, split=None):
        for s in super().samples(split):
            yield Sample(**{**s.__dict__, "sample_rate": None})


class NumpyScoreTask(ToyTask):
    def score(self, predictions, **context):
        return {"accuracy": np.float32(1.0)}


class OffByOneTask(ToyTask):
    higher_is_better = {"accuracy": True}  # declared: check_task holds the scores to it

    def score(self, predictions, **context):
        hits = sum(a["prediction"] == b["label"] for a, b in zip(predictions, predictions[1:]))
        return {"accuracy": hits / len(predictions)}


class ShuffledTask(ToyTask):
    calls = 0

    def samples(self, split=None):
        ShuffledTask.calls += 1
        items = list(super().samples(split))
        yield from (items if self.calls % 2 else items[::-1])


class TaggingTask(ToyTask):
    kind = "tagging"


def test_check_task_passes_correct_tasks(tmp_path):
    check_task(ToyTask(), limit=4)
    check_task(ToyCaptionTask(tmp_path))


@pytest.mark.parametrize(
    "task, message",
    [
        (DuplicateIdTask(), "sample ids are not unique"),
        (LabelOutsideSetTask(), r"sample 0.label 'dog' is not in its labels \['bird'\]"),
        (
            Float64AudioTask(),
            "sample 0.audio must be a non-empty 1-D float32 array, got shape \\(800,\\) dtype float64",
        ),
        (NoRateTask(), r"sample 0.sample_rate \(required with array audio\) must be a positive int"),
        (NumpyScoreTask(), r"task.score\['accuracy'\] must be a float or None, got float32"),
        (OffByOneTask(), r"task.score\['accuracy'\] = 0.0 on perfect predictions"),
        (ShuffledTask(), "task.samples\\(\\) is not repeatable"),
        (TaggingTask(), "task.kind must be one of"),
    ],
)
def test_check_task_fails_broken_tasks(task, message):
    with pytest.raises(AssertionError, match=message):
        check_task(task, limit=4)


class DeclaredTask(ToyTask):
    headline = ["accuracy"]
    higher_is_better = {"accuracy": True, "error_rate": False}


class UnknownHeadlineTask(ToyTask):
    headline = ["accuracy", "bleu"]


class WrongWayTask(ToyTask):
    higher_is_better = {"error_rate": True}


def test_check_task_holds_declarations_to_the_scores():
    check_task(DeclaredTask(), limit=4)
    check_task(ToyTask(), limit=4)  # no declarations: the bare path (no direction checks)
    with pytest.raises(AssertionError, match=r"declares \['bleu'\]"):
        check_task(UnknownHeadlineTask(), limit=4)
    with pytest.raises(AssertionError, match=r"task.score\['error_rate'\] = 0.0 on perfect predictions but 1.0"):
        check_task(WrongWayTask(), limit=4)


class PairedBridge(NearestBridge):
    pairs_with = "clean"


class BadPairBridge(NearestBridge):
    pairs_with = "text"


def test_check_bridge_checks_optional_members_when_present():
    check_bridge(PairedBridge())
    with pytest.raises(AssertionError, match="pairs_with must be 'clean' or 'noise'"):
        check_bridge(BadPairBridge())


def test_check_task_fails_a_missing_audio_file(tmp_path):
    task = ToyCaptionTask(tmp_path)
    task.clip.unlink()
    with pytest.raises(AssertionError, match="sample 0.audio = .*clip.wav' is not an existing file"):
        check_task(task)


# -- metric ---------------------------------------------------------------------------
class ExactMatch:
    name = "exact"

    def compute(self, predictions, references, **context):
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions, {len(references)} references")
        return {"accuracy": sum(p in refs for p, refs in zip(predictions, references)) / len(predictions), "bleu": None}


class ZipTruncatingMetric(ExactMatch):
    def compute(self, predictions, references, **context):
        return {"accuracy": sum(p in refs for p, refs in zip(predictions, references)) / len(references)}


class SortingMetric(ExactMatch):
    def compute(self, predictions, references, **context):
        predictions.sort()
        return super().compute(predictions, references)


class RandomMetric(ExactMatch):
    def compute(self, predictions, references, **context):
        return {"accuracy": float(torch.rand(()))}


class NaNMetric(ExactMatch):
    def compute(self, predictions, references, **context):
        return {"accuracy": float("nan")}


def test_check_metric_passes_a_correct_metric():
    check_metric(ExactMatch())
    check_metric(ExactMatch(), predictions=["yes"], references=[["yes", "yeah"]])


@pytest.mark.parametrize(
    "metric, message",
    [
        (ZipTruncatingMetric(), "metric.compute accepted 3 predictions with 2 references; it must raise"),
        (SortingMetric(), "metric.compute modified its predictions or references"),
        (RandomMetric(), "metric.compute is not deterministic"),
        (NaNMetric(), r"metric.compute\['accuracy'\] is nan; report None when undefined"),
    ],
)
def test_check_metric_fails_broken_metrics(metric, message):
    with pytest.raises(AssertionError, match=message):
        check_metric(metric, predictions=["rain", "a dog"], references=[["a dog"], ["rain"]])


# -- corpus ---------------------------------------------------------------------------
RECORDS = [
    {
        "text": "a dog barks twice",
        "instruction": "Describe the audio.",
        "answer": "A dog barks twice.",
        "task": "caption",
    },
    {
        "text": "rain on a roof",
        "instruction": "What is the sound?",
        "answer": "rain",
        "task": "classification",
        "source": "x",
    },
]


class ListCorpus:
    name = "toy-corpus"

    def __init__(self, records):
        self._records = records

    def records(self):
        return iter(self._records)


class OneShotCorpus(ListCorpus):
    def __init__(self, records):
        self._iterator = iter(records)

    def records(self):
        return self._iterator


@pytest.mark.parametrize(
    "corpus, message",
    [
        (ListCorpus([{**RECORDS[0], "answer": " "}]), r"record 0\['answer'\] must be a non-empty string"),
        (ListCorpus([{k: v for k, v in RECORDS[0].items() if k != "task"}]), "record 0 has no 'task' key"),
        (ListCorpus([("text", "instruction")]), "record 0 is a tuple, expected a dict"),
        (ListCorpus([]), r"corpus.records\(\) yielded no records"),
        (OneShotCorpus(RECORDS), r"corpus.records\(\) is not re-iterable"),
    ],
)
def test_check_corpus_fails_broken_corpora(corpus, message):
    with pytest.raises(AssertionError, match=message):
        check_corpus(corpus)


def test_check_corpus_passes_a_correct_corpus():
    check_corpus(ListCorpus(RECORDS))


# -- plugin_host ----------------------------------------------------------------------
class ExactPlugin:
    @hookimpl
    def register_metrics(self, register):
        register("test-exact", ExactMatch)


class BrokenPlugin:
    @hookimpl
    def register_metrics(self, register):
        raise RuntimeError("boom")


class ShadowingPlugin:
    @hookimpl
    def register_metrics(self, register):
        register("qa", ExactMatch)


def test_plugin_host_registers_for_the_block_only():
    with plugin_host(ExactPlugin(), "test-exact-plugin") as info:
        assert info.provides == {"metric": ["test-exact"]}
        check_metric(build("metric", "test-exact"))
    assert get_host().get("metric", "test-exact") is None
    assert "test-exact-plugin" not in get_host().plugins


def test_plugin_host_reports_a_plugin_that_fails_and_still_cleans_up():
    with pytest.raises(
        AssertionError, match="plugin 'broken' failed to register: register_metrics: RuntimeError: boom"
    ):
        with plugin_host(BrokenPlugin(), "broken"):
            pass
    assert "broken" not in get_host().plugins


def test_plugin_host_refuses_a_taken_name_and_undoes_conflicts():
    with pytest.raises(AssertionError, match="a plugin named 'mats_metrics' is already registered"):
        with plugin_host(ExactPlugin(), "mats_metrics"):
            pass
    with plugin_host(ShadowingPlugin(), "shadow"):
        with pytest.raises(MatsError, match="registered by two packages"):
            build("metric", "qa")
    assert build("metric", "qa").name == "qa"

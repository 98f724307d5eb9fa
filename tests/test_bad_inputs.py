"""The bad-input regression suite (issue 12): each bad input is built here and the recorded
per-sample error, or the refusal, is asserted.

Audio: every broken file fails its own sample (``AudioError`` -> ``errors`` of
``Pipeline.embed_audio``, i.e. the sample's row in samples.jsonl) and the others embed.
Already covered elsewhere, so not repeated here: a missing file, undecodable bytes, empty
audio, NaN, WAV/FLAC/OGG decoding (tests/test_results_audio.py); missing audio in the
dataset layouts and bad CSV/JSONL metadata (tests/test_datasets.py).
"""

from __future__ import annotations

import json
import os
import signal
import struct

import numpy as np
import pytest
import soundfile as sf

from mats_core import MatsError
from mats_core.model.audio import AudioError, load_audio

SR = 16_000


def _tone(seconds: float = 2.0, sr: int = SR, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return np.stack([x * (1 + c / 10) for c in range(channels)], axis=1) if channels > 1 else x


def _wav_bytes(tmp_path, seconds: float = 2.0) -> bytes:
    sf.write(tmp_path / "src.wav", _tone(seconds), SR, subtype="PCM_16")
    return (tmp_path / "src.wav").read_bytes()


def _with_rate(data: bytes, rate: int) -> bytes:
    out = bytearray(data)
    out[24:28] = struct.pack("<I", rate)  # the canonical 44-byte header: fmt chunk at 12
    out[28:32] = struct.pack("<I", (rate * 2) & 0xFFFFFFFF)
    return bytes(out)


# -- each broken file -> its error ---------------------------------------------------------
def _truncated_half(p, tmp_path):  # header 32,000 frames, 16,000 present
    p.write_bytes(_wav_bytes(tmp_path)[: 44 + 16_000 * 2])


def _first_60_bytes(p, tmp_path):
    p.write_bytes(_wav_bytes(tmp_path)[:60])


def _cut_in_header(p, tmp_path):
    p.write_bytes(_wav_bytes(tmp_path)[:36])


def _rate(rate):
    def make(p, tmp_path):
        p.write_bytes(_with_rate(_wav_bytes(tmp_path), rate))

    return make


def _fifo(p, tmp_path):
    os.mkfifo(p)


def _symlink_loop(p, tmp_path):
    os.symlink(tmp_path / "b.wav", p)
    os.symlink(p, tmp_path / "b.wav")


def _dangling(p, tmp_path):
    os.symlink(tmp_path / "gone.wav", p)


def _directory(p, tmp_path):
    p.mkdir()


def _text(p, tmp_path):
    p.write_text("this is a caption, not audio\n" * 20)


def _header_only(p, tmp_path):
    sf.write(p, np.zeros(0, dtype=np.float32), SR, subtype="PCM_16")


def _inf(p, tmp_path):
    x = _tone()
    x[100] = np.inf
    sf.write(p, x, SR, subtype="FLOAT")


BROKEN = {
    "truncated_half": (_truncated_half, "truncated WAV: the header declares 32000 frames, 16000 are present"),
    "first_60_bytes": (_first_60_bytes, "truncated WAV: the header declares 32000 frames, 8 are present"),
    "cut_in_header": (_cut_in_header, "WAV header without a data chunk"),
    "rate_1hz": (_rate(1), "header sample rate 1 Hz is implausible"),
    "rate_0": (_rate(0), "header sample rate 0 Hz is implausible"),
    "rate_2^32-1": (_rate(2**32 - 1), "header sample rate 4294967295 Hz is implausible"),
    "fifo": (_fifo, r"not a regular file \(a FIFO"),
    "symlink_loop": (_symlink_loop, "symlink loop"),
    "dangling_symlink": (_dangling, "dangling symlink"),
    "directory": (_directory, r"not a regular file \(a directory\)"),
    "text_as_audio": (_text, "cannot decode audio"),
    "header_only": (_header_only, r"empty audio \(0 samples\)"),
    "inf_samples": (_inf, "NaN or infinite"),
}


@pytest.fixture
def no_blocking():
    """A FIFO opened for reading blocks until a writer comes: fail, never hang the suite."""

    def boom(*_):
        raise TimeoutError("load_audio blocked")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_audio_is_an_error_naming_the_file(tmp_path, name, no_blocking):
    make, message = BROKEN[name]
    path = tmp_path / f"{name}.wav"
    make(path, tmp_path)
    with pytest.raises(AudioError, match=message) as err:
        load_audio(path, SR, clip_seconds=3.0)
    assert str(path) in str(err.value)


def test_in_memory_rate_must_be_plausible():
    for rate in (0, 1, 2**32 - 1):
        with pytest.raises(AudioError, match=f"sample rate {rate} Hz is implausible"):
            load_audio(_tone(), SR, source_sr=rate)


def test_valid_wav_with_trailing_chunk_and_odd_sizes_loads(tmp_path):
    data = _wav_bytes(tmp_path, seconds=1.0) + b"LIST" + struct.pack("<I", 3) + b"abc\x00"  # odd chunk + pad byte
    (tmp_path / "ok.wav").write_bytes(data)
    assert load_audio(tmp_path / "ok.wav", SR).shape == (SR,)


@pytest.mark.parametrize(
    "sr, channels, fmt", [(7_350, 1, "wav"), (22_050, 8, "wav"), (44_100, 2, "mp3"), (48_000, 1, "ogg")]
)
def test_odd_rates_many_channels_and_compressed_formats_decode(tmp_path, sr, channels, fmt):
    path = tmp_path / f"a.{fmt}"
    sf.write(path, _tone(1.5, sr, channels), sr)
    wav = load_audio(path, SR)
    assert wav.ndim == 1 and abs(wav.shape[0] - int(1.5 * SR)) <= SR // 20  # mp3 adds encoder delay
    assert 0.1 < float(np.abs(wav).max()) < 1.0


def test_each_bad_file_fails_only_its_sample(tmp_path, no_blocking):
    """Through the core's audio path of a run: one error per broken file, the rest embedded."""
    from mats_core import build
    from mats_core.interfaces import Sample
    from mats_core.run.harness import Pipeline, RunConfig

    samples = []
    for name, (make, _) in BROKEN.items():
        make(tmp_path / f"{name}.wav", tmp_path)
        samples.append(Sample(id=name, audio=str(tmp_path / f"{name}.wav"), instruction=""))
    sf.write(tmp_path / "good.wav", _tone(3.0), SR)
    samples.insert(3, Sample(id="good", audio=str(tmp_path / "good.wav"), instruction=""))
    pipe = Pipeline(build("encoder", "tiny-clap"), None, {})
    z, ok, errors = pipe.embed_audio(samples, RunConfig())
    assert ok == [3] and z.shape[0] == 1
    assert sorted(errors) == [i for i in range(len(samples)) if i != 3]
    for i, message in zip([i for i in range(len(samples)) if i != 3], [m for _, m in BROKEN.values()]):
        assert errors[i].startswith(str(tmp_path)) and __import__("re").search(message, errors[i]), errors[i]


def test_path_traversal_in_a_manifest_leaks_nothing(tmp_path):
    """A manifest row pointing outside its folder at a non-audio file: an error, no content."""
    from mats_core import build

    secret = tmp_path / "secret.txt"
    secret.write_text("password=hunter2\n" * 50)
    (tmp_path / "set").mkdir()
    manifest = tmp_path / "set" / "m.jsonl"
    manifest.write_text(json.dumps({"id": "x", "audio": "../secret.txt", "label": "dog"}) + "\n")
    task = build("task", "jsonl", path=str(manifest), task_kind="classification")
    (sample,) = list(task.samples())
    with pytest.raises(AudioError) as err:
        load_audio(sample.audio, SR)
    assert "cannot decode audio" in str(err.value) and "hunter2" not in str(err.value)


def test_audio_errors_are_user_errors():
    assert issubclass(AudioError, MatsError)


# -- training: checkpoints written as one unit ------------------------------------------------
MAPPER = {"type": "transformer", "prefix_length": 2, "clip_length": 2, "num_layers": 1, "width": 32, "heads": 2}


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    from fakes import CORPUS, make_tiny_gpt2

    return make_tiny_gpt2(
        tmp_path_factory.mktemp("gpt2"), [r["text"] + " " + r["instruction"] + " " + r["answer"] for r in CORPUS]
    )


def _train(gpt2_dir, out, steps=12, records=None, corpus="fake", llm=None, **kw):
    import torch
    from fakes import CORPUS, HashEncoder

    from mats_core import build
    from mats_core.hf import HFCausalLM
    from mats_core.train.trainer import TrainConfig, train

    cfg = {
        "steps": steps,
        "batch_size": 8,
        "lr": 1e-2,
        "warmup": 2,
        "checkpoint_every": 5,
        "log_every": 1,
        "seed": 3,
        "device": "cpu",
        **kw.pop("cfg", {}),
    }
    spec = {
        "encoder": {"name": "hash", "params": {}},
        "llm": {"name": "x", "params": {}},
        "bridge": {"name": "noise", "params": {"noise_variance": 0.01}},
        "corpus": {"name": corpus, "params": {}},
    }
    torch.manual_seed(0)  # LoRA A is initialised from the global RNG
    lm = llm or HFCausalLM(
        gpt2_dir, template="{audio} {instruction}\nAnswer:", lora={"r": 4, "alpha": 8, "target_modules": ["c_attn"]}
    )
    return train(
        HashEncoder(),
        lm,
        build("bridge", "noise", noise_variance=0.01),
        records or CORPUS,
        out,
        TrainConfig(**cfg),
        mapper=MAPPER,
        spec=spec,
        progress=False,
        **kw,
    )


def _same_weights(a, b) -> None:
    import torch
    from safetensors.torch import load_file

    for name in ("mapper.safetensors", "adapter.safetensors"):
        x, y = load_file(a / name), load_file(b / name)
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x), name


@pytest.fixture(scope="module")
def full_run(gpt2_dir, tmp_path_factory):
    return _train(gpt2_dir, tmp_path_factory.mktemp("full") / "ck")


def test_kill_between_files_of_a_checkpoint_resumes_bit_identical(gpt2_dir, full_run, tmp_path, monkeypatch):
    """Die right after mapper.safetensors of the step-10 checkpoint is written (issue 12.2:
    the mapper was the new step's, config.json and the trainer state the old one's)."""
    import safetensors.torch

    real, calls = safetensors.torch.save_file, []

    def dying(tensors, filename, *a, **k):
        real(tensors, filename, *a, **k)
        calls.append(os.path.basename(filename))
        if calls.count("mapper.safetensors") == 2:
            raise KeyboardInterrupt("killed inside the checkpoint write")

    monkeypatch.setattr(safetensors.torch, "save_file", dying)
    with pytest.raises(KeyboardInterrupt):
        _train(gpt2_dir, tmp_path / "ck")
    monkeypatch.setattr(safetensors.torch, "save_file", real)
    out = tmp_path / "ck"
    assert json.loads((out / "config.json").read_text())["step"] == 5  # the checkpoint on disk is step 5's, whole
    with pytest.raises(MatsError, match="already holds a checkpoint .step 5.; pass --resume"):
        _train(gpt2_dir, out)
    _train(gpt2_dir, out, resume=True)
    _same_weights(full_run, out)
    assert not (out / ".incoming").exists()
    log = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert log == list(range(1, 13))  # the rows of the steps redone are not doubled


def test_kill_while_moving_files_into_place_rolls_forward(gpt2_dir, full_run, tmp_path, monkeypatch):
    import mats_core.model.checkpoints as ck
    from mats_core.model.pipeline import read_checkpoint_config

    real, moved = os.replace, []

    def dying(src, dst):
        real(src, dst)
        if str(src).endswith(".safetensors") and ".incoming" in str(src):
            moved.append(dst)
            if len(moved) == 4:  # the second checkpoint (3 weight files each): one moved, config.json not yet
                raise KeyboardInterrupt("killed while moving files into place")

    monkeypatch.setattr(ck.os, "replace", dying)
    with pytest.raises(KeyboardInterrupt):
        _train(gpt2_dir, tmp_path / "ck")
    monkeypatch.setattr(ck.os, "replace", real)
    with pytest.raises(MatsError, match="is being written, or its write was interrupted.*--resume"):
        read_checkpoint_config(tmp_path / "ck")  # `run` on it refuses, never mixes steps
    _train(gpt2_dir, tmp_path / "ck", resume=True)
    _same_weights(full_run, tmp_path / "ck")


def test_corrupt_or_truncated_safetensors_is_a_clear_error(gpt2_dir, full_run, tmp_path):
    import shutil

    from mats_core.hf import HFCausalLM
    from mats_core.model.pipeline import MATSModel

    ck = tmp_path / "ck"
    shutil.copytree(full_run, ck)
    data = (ck / "mapper.safetensors").read_bytes()
    (ck / "mapper.safetensors").write_bytes(data[: len(data) // 2])
    model = MATSModel(HFCausalLM(gpt2_dir, template="{audio} {instruction}\nAnswer:"), 16, MAPPER)
    with pytest.raises(MatsError, match=r"mapper.safetensors: corrupt or truncated safetensors file .*--overwrite"):
        model.load_weights(ck)
    (ck / "trainer_state.safetensors").write_bytes(b"\x00" * 40)
    (ck / "mapper.safetensors").write_bytes(data)
    with pytest.raises(MatsError, match=r"trainer_state.safetensors: corrupt or truncated"):
        _train(gpt2_dir, ck, resume=True)


# -- training: no silent overwrite, no mixed resume ---------------------------------------
@pytest.mark.parametrize(
    "change, keys",
    [
        ({"cfg": {"lr": 5e-3}}, ["train.lr"]),
        ({"cfg": {"seed": 4}}, ["train.seed"]),
        ({"cfg": {"batch_size": 4}}, ["train.batch_size"]),
        ({"steps": 20}, ["train.steps"]),
        ({"corpus": "other"}, ["corpus.name"]),
    ],
)
def test_resume_with_other_settings_is_refused_naming_them(gpt2_dir, full_run, tmp_path, change, keys):
    import shutil

    shutil.copytree(full_run, tmp_path / "ck")
    before = (tmp_path / "ck" / "config.json").read_text()
    with pytest.raises(MatsError, match="trained with other settings") as err:
        _train(gpt2_dir, tmp_path / "ck", resume=True, **change)
    for key in keys:
        assert key in str(err.value)
    assert (tmp_path / "ck" / "config.json").read_text() == before  # untouched: config.json stays honest


def test_resume_may_change_what_does_not_define_training(gpt2_dir, full_run, tmp_path):
    import shutil

    shutil.copytree(full_run, tmp_path / "ck")
    _train(
        gpt2_dir, tmp_path / "ck", resume=True, cfg={"log_every": 3, "checkpoint_every": 4}
    )  # finished: no steps left
    _same_weights(full_run, tmp_path / "ck")


def test_resume_without_trainer_state_is_refused(gpt2_dir, full_run, tmp_path):
    import shutil

    shutil.copytree(full_run, tmp_path / "ck")
    for name in ("trainer_state.json", "trainer_state.safetensors"):  # as the shipped checkpoints are
        (tmp_path / "ck" / name).unlink()
    with pytest.raises(MatsError, match="without its trainer state .* --overwrite"):
        _train(gpt2_dir, tmp_path / "ck", resume=True)


def test_overwrite_replaces_the_checkpoint(gpt2_dir, full_run, tmp_path):
    import shutil

    shutil.copytree(full_run, tmp_path / "ck")
    _train(gpt2_dir, tmp_path / "ck", steps=6, overwrite=True, cfg={"lr": 5e-3})
    cfg = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert cfg["step"] == 6 and cfg["train"]["lr"] == 5e-3 and cfg["train"]["steps"] == 6
    assert len((tmp_path / "ck" / "train_log.jsonl").read_text().splitlines()) == 6


def test_cli_train_has_overwrite_and_refuses_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from mats_core.cli.main import app

    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "config.json").write_text(json.dumps({"format": "mats-bench/checkpoint", "step": 7}))
    assert "--overwrite" in CliRunner().invoke(app, ["train", "--help"]).stdout
    res = CliRunner().invoke(app, ["train", "--output", str(tmp_path / "ck"), "--steps", "2", "--device", "cpu"])
    said = " ".join(res.output.split())  # rich wraps the line to the terminal width
    assert res.exit_code == 2 and "already holds a checkpoint (step 7); pass --resume" in said
    assert "--overwrite" in said and "Traceback" not in said


# -- training: inputs beyond the LLM's context ----------------------------------------------
@pytest.fixture(scope="module")
def tiny_lm():
    from mats_core import build

    return build("llm", "tiny-lm")


def test_tiny_lm_declares_its_context(tiny_lm):
    assert tiny_lm.max_length == tiny_lm.model.config.n_positions == 128


def test_instruction_past_the_context_is_refused_before_training(gpt2_dir, tiny_lm, tmp_path):
    from fakes import CORPUS

    records = [*CORPUS[:10], {**CORPUS[3], "instruction": "Describe every sound you hear in this clip. " * 40}]
    with pytest.raises(MatsError, match=r"corpus record 10 .*prompt is \d+ tokens.*context is 128"):
        _train(gpt2_dir, tmp_path / "ck", steps=2, records=records, llm=tiny_lm)
    assert not (tmp_path / "ck" / "config.json").exists()


def test_answer_past_the_context_is_truncated_and_counted(gpt2_dir, tiny_lm, tmp_path):
    """Before: IndexError in GPT-2's position embedding mid-training, no checkpoint."""
    from fakes import CORPUS

    records = [*CORPUS[:12], {**CORPUS[0], "answer": "a dog barks and a bell rings " * 60}]
    out = _train(gpt2_dir, tmp_path / "ck", steps=6, records=records, llm=tiny_lm, cfg={"batch_size": 13})
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["step"] == 6 and cfg["context"] == {"max_length": 128, "records": 13, "truncated_answers": 1}

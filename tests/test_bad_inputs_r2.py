"""Bad inputs, round 2 (issue 33): one regression test (or more) per class of the issue.

1. a failed command deletes work        2. one bad file kills the evaluation
3. a documented option crashes           4. input/output failures give tracebacks
5. unvalidated model settings            6. metadata that is silently wrong
7. options accepted and ignored          8. unbounded resources
9. an untrusted checkpoint imports code

Each test builds its bad input here and asserts the refusal (a ``MatsError`` / one ``error:``
line, exit 2) or the recorded per-sample error, and that nothing else was lost. The
property-based suite over the parsers is tests/test_properties.py; docs/reference/robustness.md
lists what is covered, by class.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from mats_core import MatsError

SR = 16_000
MAPPER = {"type": "transformer", "prefix_length": 2, "clip_length": 2, "num_layers": 1, "width": 32, "heads": 2}


def _tone(seconds: float = 2.0, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def _cli(*args: str):
    from typer.testing import CliRunner

    from mats_core.cli.main import app

    res = CliRunner().invoke(app, list(args))
    return res, " ".join(res.output.split())  # rich wraps the line to the terminal width


def _one_error_line(res, said: str, *fragments: str) -> None:
    assert res.exit_code == 2, (res.exit_code, said, res.exception)
    assert said.count("error:") == 1 and "Traceback" not in said, said  # train prints its spec line first
    line = said.split("error:", 1)[1]
    for f in fragments:
        assert f in line, (f, said)


# -- 1. a failed command deletes work ------------------------------------------------------------
@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    from fakes import CORPUS, make_tiny_gpt2

    return make_tiny_gpt2(
        tmp_path_factory.mktemp("gpt2"), [r["text"] + " " + r["instruction"] + " " + r["answer"] for r in CORPUS]
    )


def _train(gpt2_dir, out, steps=6, **kw):
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
        "corpus": {"name": "fake", "params": {}},
    }
    torch.manual_seed(0)
    lm = HFCausalLM(
        gpt2_dir, template="{audio} {instruction}\nAnswer:", lora={"r": 4, "alpha": 8, "target_modules": ["c_attn"]}
    )
    return train(
        HashEncoder(),
        lm,
        build("bridge", "noise", noise_variance=0.01),
        kw.pop("records", CORPUS),
        out,
        TrainConfig(**cfg),
        mapper=kw.pop("mapper", MAPPER),
        spec=spec,
        progress=False,
        **kw,
    )


@pytest.fixture(scope="module")
def trained(gpt2_dir, tmp_path_factory):
    return _train(gpt2_dir, tmp_path_factory.mktemp("trained") / "ck")


def _files(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def _misfit(trained, where):
    """A checkpoint whose mapper has other shapes than MAPPER's."""
    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(trained, where)
    state = load_file(where / "mapper.safetensors")
    save_file({k: torch.zeros(*(s + 1 for s in v.shape)) for k, v in state.items()}, where / "mapper.safetensors")
    return where


@pytest.mark.parametrize("init_from", ["missing", "misfit"])
def test_overwrite_with_a_bad_init_from_keeps_the_checkpoint(gpt2_dir, trained, tmp_path, init_from):
    shutil.copytree(trained, tmp_path / "ck")
    before = _files(tmp_path / "ck")
    source = tmp_path / "nowhere" if init_from == "missing" else _misfit(trained, tmp_path / "other")
    with pytest.raises(MatsError, match="init_from|nowhere|config.json"):
        _train(gpt2_dir, tmp_path / "ck", overwrite=True, cfg={"init_from": str(source)})
    assert _files(tmp_path / "ck") == before  # nothing of the old checkpoint removed


def test_overwrite_with_a_context_too_short_keeps_the_checkpoint(gpt2_dir, trained, tmp_path):
    from fakes import CORPUS

    shutil.copytree(trained, tmp_path / "ck")
    before = _files(tmp_path / "ck")
    long = [{**CORPUS[0], "instruction": " ".join(["word"] * 5000)}]
    with pytest.raises(MatsError, match="context"):
        _train(gpt2_dir, tmp_path / "ck", overwrite=True, records=long, cfg={"batch_size": 1})  # one record
    assert _files(tmp_path / "ck") == before


def test_train_resume_with_overwrite_is_refused_before_anything(tmp_path):
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "config.json").write_text(json.dumps({"format": "mats-bench/checkpoint", "step": 7}))
    res, said = _cli(
        "train", "--output", str(tmp_path / "ck"), "--resume", "--overwrite", "--steps", "2", "--device", "cpu"
    )
    _one_error_line(res, said, "--resume and --overwrite")
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["config.json"]


# -- 2. one bad file never kills the evaluation --------------------------------------------------
def _samples(tmp_path, names):
    from mats_core.interfaces import Sample

    out = []
    for n in names:
        sf.write(tmp_path / f"{n}.wav", _tone(), SR)
        out.append(Sample(id=n, audio=str(tmp_path / f"{n}.wav"), instruction="", label="x"))
    return out


def _pipe():
    from mats_core import build
    from mats_core.run.harness import Pipeline

    return Pipeline(build("encoder", "tiny-clap"), None, {})


@pytest.mark.parametrize("exc", [PermissionError(13, "Permission denied"), RuntimeError("decoder bug"), MemoryError()])
def test_any_exception_reading_one_file_fails_only_that_sample(tmp_path, monkeypatch, exc):
    import mats_core.model.audio as audio
    from mats_core.run.harness import RunConfig

    samples = _samples(tmp_path, ["a", "bad", "c"])
    real = audio._wav_problem

    def flaky(path):
        if path.endswith("bad.wav"):
            raise exc
        return real(path)

    monkeypatch.setattr(audio, "_wav_problem", flaky)
    z, ok, errors = _pipe().embed_audio(samples, RunConfig())
    assert ok == [0, 2] and z.shape[0] == 2 and list(errors) == [1]
    assert "bad.wav" in errors[1] and type(exc).__name__ in errors[1]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file without read permission")
def test_an_unreadable_file_is_its_samples_error(tmp_path):
    from mats_core.run.harness import RunConfig

    samples = _samples(tmp_path, ["a", "locked"])
    os.chmod(tmp_path / "locked.wav", 0)
    z, ok, errors = _pipe().embed_audio(samples, RunConfig())
    assert ok == [0] and "locked.wav" in errors[1]


def test_a_float_wav_of_huge_values_is_an_error_not_a_nan_prediction(tmp_path):
    from mats_core.run.harness import RunConfig

    samples = _samples(tmp_path, ["a", "loud", "c"])
    sf.write(tmp_path / "loud.wav", np.full(SR * 2, 1e30, dtype=np.float32), SR, subtype="FLOAT")
    z, ok, errors = _pipe().embed_audio(samples, RunConfig())
    assert ok == [0, 2] and bool(np.isfinite(z.numpy()).all())
    assert "loud.wav" in errors[1] and "not finite" in errors[1]


def test_an_encoder_failing_on_one_clip_fails_only_that_sample(tmp_path, monkeypatch):
    import torch

    from mats_core.run.harness import RunConfig

    pipe = _pipe()
    samples = _samples(tmp_path, ["a", "b", "c"])
    sf.write(tmp_path / "b.wav", _tone(amplitude=0.9), SR)
    real = pipe.encoder.embed_audio
    before, _, _ = pipe.embed_audio(samples, RunConfig())

    def picky(wav):
        if bool((wav.abs().amax(dim=-1) > 0.5).any()):
            raise RuntimeError("kernel failed")
        return real(wav)

    monkeypatch.setattr(pipe.encoder, "embed_audio", picky)
    z, ok, errors = pipe.embed_audio(samples, RunConfig())
    assert ok == [0, 2] and list(errors) == [1] and "kernel failed" in errors[1]
    assert torch.allclose(z, before[[0, 2]], atol=1e-6)  # the others embed as they would have


def test_a_file_name_that_is_not_utf8_is_written_and_read_back(tmp_path):
    from mats_core.run.results import SamplesWriter, read_samples

    name = os.fsdecode(b"caf\xe9-\xff.wav")  # a Latin-1 file name on a UTF-8 system: lone surrogates
    w = SamplesWriter(tmp_path / "samples.jsonl")
    w.write(
        [
            {"task": "t", "id": name, "prediction": "p", "references": ["é"]},
            {"task": "t", "id": "ok", "prediction": "q"},
        ]
    )
    w.close()
    rows = read_samples(tmp_path / "samples.jsonl")
    assert [r["id"] for r in rows] == [name, "ok"] and rows[0]["references"] == ["é"]
    again = SamplesWriter(tmp_path / "samples.jsonl")  # a rerun reopens it and skips both
    assert again.done("t") == {name, "ok"}
    again.close()


@pytest.mark.slow
def test_a_run_with_one_bad_file_records_its_error_and_scores_the_rest(tmp_path):
    """Through ``mats-bench run`` on a manifest: the 1e30 file is an error row, never a prediction."""
    for n in ("a", "b", "c"):
        sf.write(tmp_path / f"{n}.wav", _tone(), SR)
    sf.write(tmp_path / "b.wav", np.full(SR * 2, 1e30, dtype=np.float32), SR, subtype="FLOAT")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        "".join(json.dumps({"id": n, "audio": f"{n}.wav", "label": "dog" if n != "c" else "cat"}) + "\n" for n in "abc")
    )
    res, said = _cli(
        "run",
        "--tasks",
        "jsonl",
        "--set",
        f"task.path={manifest}",
        "--set",
        "task.task_kind=classification",
        "--bridge",
        "noise",
        "--no-reference",
        "--device",
        "cpu",
        "-o",
        str(tmp_path / "out"),
    )
    assert res.exit_code == 0, said
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "out" / "samples.jsonl").read_text().splitlines())}
    assert rows["b"]["prediction"] is None and "not finite" in rows["b"]["error"]
    assert rows["a"]["error"] is None and rows["a"]["prediction"] is not None


# -- 9. an untrusted checkpoint imports code -----------------------------------------------------
@pytest.fixture
def trap_package(tmp_path, monkeypatch):
    """An installed package whose import leaves a mark: importing it is running its code."""
    root = tmp_path / "site"
    (root / "trap33" / "inner").mkdir(parents=True)
    mark = tmp_path / "imported"
    for init in (root / "trap33" / "__init__.py", root / "trap33" / "inner" / "__init__.py"):
        init.write_text(f"open({str(mark)!r}, 'a').write({init.parent.name!r})\n")
    (root / "trap33" / "inner" / "corpus.jsonl").write_text(
        json.dumps({"text": "t", "instruction": "i", "answer": "a"}) + "\n"
    )
    (root / "trapmod33.py").write_text(f"open({str(mark)!r}, 'a').write('mod')\n")
    monkeypatch.syspath_prepend(str(root))
    yield root, mark
    for name in ("trap33", "trap33.inner", "trapmod33"):
        __import__("sys").modules.pop(name, None)


@pytest.mark.parametrize(
    "value, rel",
    [
        ("pkg:trap33.inner/corpus.jsonl", "trap33/inner/corpus.jsonl"),
        ("pkg:trap33/inner/corpus.jsonl", "trap33/inner/corpus.jsonl"),
    ],
)
def test_pkg_paths_resolve_without_importing(trap_package, value, rel):
    from mats_core.registry.presets import resolve_path

    root, mark = trap_package
    assert resolve_path(value).resolve() == (root / rel).resolve()
    assert not mark.exists(), "resolving a pkg: path imported the package"


@pytest.mark.parametrize(
    "value, why",
    [
        ("pkg:trapmod33/x.jsonl", "not a package"),
        ("pkg:nosuch33.sub/x", "not installed"),
        ("pkg:trap33.nosuch/x", "not installed"),
        ("pkg:../etc/x", "not a package name"),
        ("pkg:trap33/../../x", "outside"),
    ],
)
def test_bad_pkg_paths_are_refused_without_importing(trap_package, value, why):
    from mats_core.registry.presets import resolve_path

    _, mark = trap_package
    with pytest.raises(MatsError, match=why):
        resolve_path(value)
    assert not mark.exists()


def test_a_checkpoint_naming_a_pkg_corpus_imports_nothing(trap_package):
    """The memory/Santa bridges load the corpus a checkpoint's config.json names."""
    from mats_core.corpus import load_corpus

    _, mark = trap_package
    _, records = load_corpus("pkg:trap33.inner/corpus.jsonl")
    assert records[0]["text"] == "t" and not mark.exists()


# -- 4. input/output failures: one error line, exit 2 ----------------------------------------------
RUN = ("run", "--tasks", "tiny-classify", "--bridge", "noise", "--no-reference", "--limit", "2", "--device", "cpu")


@pytest.mark.parametrize("target", ["file", "devnull", "under_file"])
@pytest.mark.parametrize("command", ["run", "train", "sweep"])
def test_output_that_is_not_a_directory_is_one_error_line(tmp_path, target, command):
    (tmp_path / "afile").write_text("keep me")
    out = {"file": tmp_path / "afile", "devnull": "/dev/null", "under_file": tmp_path / "afile" / "sub"}[target]
    grid = tmp_path / "grid.yaml"
    grid.write_text("tasks: [tiny-classify]\ngrid:\n  - bridge: noise\n")
    args = {
        "run": [*RUN, "-o", str(out)],
        "train": ["train", "--steps", "1", "--device", "cpu", "--output", str(out)],
        "sweep": ["sweep", str(grid), "-o", str(out)],
    }[command]
    res, said = _cli(*args)
    _one_error_line(res, said, str(out), "--output")
    assert (tmp_path / "afile").read_text() == "keep me"


def test_read_only_output_is_one_error_line(tmp_path, monkeypatch):
    """A read-only directory (as a non-root user would meet it; root is let through by the kernel)."""
    (tmp_path / "ro").mkdir()
    real = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode, **kw: False if str(p).startswith(str(tmp_path / "ro")) else real(p, mode, **kw)
    )
    res, said = _cli(*RUN, "-o", str(tmp_path / "ro" / "out"))
    _one_error_line(res, said, "not writable")
    assert list((tmp_path / "ro").iterdir()) == []


def test_empty_registry_file_is_not_a_traceback(tmp_path):
    (tmp_path / "empty.yaml").write_text("")
    from mats_core.registry.presets import checkpoint_sets, cli_defaults

    assert "tiny+tiny" in checkpoint_sets(tmp_path / "empty.yaml") and cli_defaults(tmp_path / "empty.yaml")["encoder"]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("--limit", "inf"), "--limit must be a finite"),
        (("--seed", str(2**64 + 1)), "run.seed"),
        (("--seed", "-1"), "run.seed"),
        (("--set", "run.seed=99999999999999999999"), "run.seed"),
    ],
)
def test_out_of_range_numbers_are_one_error_line(tmp_path, args, fragment):
    res, said = _cli(*RUN, "-o", str(tmp_path / "out"), *args)
    _one_error_line(res, said, fragment)
    assert not (tmp_path / "out").exists()


def test_train_seed_beyond_32_bits_is_refused(tmp_path):
    res, said = _cli("train", "--steps", "1", "--device", "cpu", "--output", str(tmp_path / "ck"), "--seed", str(2**64))
    _one_error_line(res, said, "train.seed")


@pytest.mark.slow
def test_full_disk_mid_run_is_one_error_line_and_the_rerun_recovers(tmp_path, monkeypatch):
    import errno

    from mats_core.run.results import SamplesWriter

    real = SamplesWriter.write

    def full(self, records):
        self._fh.write('{"task": "tiny-classify", "id": "torn')  # the disk filled mid-line
        self._fh.flush()
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path))

    monkeypatch.setattr(SamplesWriter, "write", full)
    res, said = _cli(*RUN, "-o", str(tmp_path / "out"))
    _one_error_line(res, said, "No space left on device", "samples.jsonl")
    monkeypatch.setattr(SamplesWriter, "write", real)
    res, said = _cli(*RUN, "-o", str(tmp_path / "out"))
    assert res.exit_code == 0, said
    rows = [json.loads(line) for line in (tmp_path / "out" / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["prediction"] for r in rows)


# -- 8. unbounded resources ----------------------------------------------------------------------
def test_resamples_are_bounded_before_anything_runs(tmp_path):
    res, said = _cli(*RUN, "-o", str(tmp_path / "out"), "--resamples", "10000000")
    _one_error_line(res, said, "run.resamples")
    from mats_core.config.validation import check_resamples

    with pytest.raises(MatsError, match="--resamples 10000000: must be 0"):
        check_resamples(10_000_000)


def test_score_and_report_bound_resamples(tmp_path):
    (tmp_path / "r").mkdir()
    res, said = _cli("report", str(tmp_path / "r"), "--resamples", "10000000")
    _one_error_line(res, said, "--resamples 10000000")


def test_a_second_run_into_the_same_output_is_refused(tmp_path):
    from mats_core.process.output_dir import output_lock

    (tmp_path / "out").mkdir()
    with output_lock(tmp_path / "out"):  # a first run holds it
        res, said = _cli(*RUN, "-o", str(tmp_path / "out"))
        _one_error_line(res, said, "another mats-bench process is writing")
        res, said = _cli("train", "--steps", "1", "--device", "cpu", "--output", str(tmp_path / "out"))
        _one_error_line(res, said, "another mats-bench process is writing")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) in ([], ["mats-bench.log"])
    with output_lock(tmp_path / "out"):  # released: the next holder gets it
        pass


# -- 6. metadata that is silently wrong ------------------------------------------------------------
def _dataset(tmp_path, make):
    import dataset_fixtures

    getattr(dataset_fixtures, make)(tmp_path)
    return tmp_path


def test_clotho_caption_with_an_unquoted_comma_is_refused(tmp_path):
    from mats_core import build

    root = _dataset(tmp_path, "make_clotho")
    csv_path = root / "clotho" / "clotho_captions_evaluation.csv"
    lines = csv_path.read_text().splitlines()
    lines[3] = "birds.wav,Birds chirp, loudly.,Birds are singing.,Birds sing at dawn.,Many birds chirp.,Chirping."
    csv_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(MatsError, match=r"clotho_captions_evaluation.csv:4: 7 fields, expected 6"):
        build("task", "clotho", data_root=str(root)).samples()


def test_extra_csv_fields_are_an_error_not_discarded(tmp_path):
    import dataset_fixtures

    from mats_datasets._common import read_csv

    path = dataset_fixtures.write_csv(tmp_path / "m.csv", [["a", "b", "c", "surplus"]], ["x", "y", "z"])
    with pytest.raises(MatsError, match="m.csv:2: 4 fields, expected 3"):
        list(read_csv(path, ["x", "y"]))


@pytest.mark.parametrize("name", ["/etc/hostname", "../../outside.wav", "sub/../../x.wav"])
@pytest.mark.parametrize("dataset", ["esc50", "clotho"])
def test_official_layout_file_names_stay_inside_the_data_root(tmp_path, name, dataset):
    from mats_core import build

    root = _dataset(tmp_path, f"make_{dataset}")
    csv_path = (
        root / "esc50" / "meta" / "esc50.csv"
        if dataset == "esc50"
        else root / "clotho" / "clotho_captions_evaluation.csv"
    )
    lines = csv_path.read_text().splitlines()
    first = lines[1].split(",", 1)
    lines[1] = f"{name},{first[1]}"
    csv_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(MatsError, match=r"outside the dataset folder"):
        build("task", dataset, data_root=str(root)).samples()


def test_duplicate_keys_in_a_json_line_are_refused(tmp_path):
    from mats_core.corpus import load_corpus

    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "a dog", "instruction": "i", "answer": "x", "answer": "y"}\n')
    with pytest.raises(MatsError, match=r"c.jsonl:1: key 'answer' is given twice"):
        load_corpus(str(path))


# -- 7. options accepted and ignored, runs that succeed empty ---------------------------------------
@pytest.mark.parametrize(
    "args, fragment",
    [
        (("--tasks", ""), "--tasks is empty"),
        (("--tasks", " , "), "--tasks is empty"),
        (("--bridge", "noise,noise"), "--bridge names noise twice"),
        (("--tasks", "tiny-qa,tiny-qa"), "--tasks names tiny-qa twice"),
        (("--checkpoint", ""), "--checkpoint '' names no checkpoint"),
        (("--bridge", "noise,santa", "--reference-row", "nosuch"), "--reference-row 'nosuch' names no row"),
        (("--set", "bridge.lam=1", "--set", "bridge.lam.x=2"), "cannot also hold keys"),
        (("--set", "llm.lora.r=4", "--set", "llm.lora=8"), "would drop them"),
    ],
)
def test_empty_or_ignored_run_options_are_refused(tmp_path, args, fragment):
    base = ["run", "--no-reference", "--limit", "2", "--device", "cpu", "-o", str(tmp_path / "out")]
    if "--tasks" not in args:
        base += ["--tasks", "tiny-classify"]
    if "--bridge" not in args:
        base += ["--bridge", "noise"]
    res, said = _cli(*base, *args)
    _one_error_line(res, said, fragment)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "grid, fragment",
    [
        ("grid: []\n", "grid"),
        ("grid:\n  - bridge: santa\n    params: {lam: []}\n", "an empty list sweeps nothing"),
        ("grid:\n  - bridge: santa\n    params: {lam: [0.5, 0.5]}\n", "listed twice"),
        ("seeds: [0, 0]\ngrid:\n  - bridge: noise\n", "listed twice"),
        ("grid:\n  - bridge: noise\n  - bridge: noise\n", "repeats a point"),
        ("tasks: []\ngrid:\n  - bridge: noise\n", "tasks"),
    ],
)
def test_empty_or_duplicate_sweep_grids_are_refused(tmp_path, grid, fragment):
    from mats_core.bench.sweep_spec import load_spec

    path = tmp_path / "grid.yaml"
    path.write_text(("" if grid.startswith("tasks") else "tasks: [tiny-classify]\n") + grid)
    with pytest.raises(MatsError, match=fragment):
        load_spec(path)


# -- 3. a documented option crashes: run.crop=chunks ------------------------------------------------
@pytest.mark.parametrize("encoder", ["tiny-clap", "hash"])
def test_crop_chunks_embeds_every_window_and_averages(tmp_path, encoder):
    import torch
    from fakes import HashEncoder

    from mats_core import build
    from mats_core.capabilities import capability
    from mats_core.interfaces import Sample
    from mats_core.model.audio import load_audio
    from mats_core.run.harness import Pipeline, RunConfig

    enc = build("encoder", "tiny-clap") if encoder == "tiny-clap" else HashEncoder()
    clip = capability(enc, "clip_seconds") or 1.0
    if capability(enc, "clip_seconds") is None:
        enc.clip_seconds = clip  # a fixed-window encoder for the test
    pipe = Pipeline(enc, None, {})
    sf.write(tmp_path / "long.wav", _tone(3.5 * clip), SR)
    sf.write(tmp_path / "short.wav", _tone(0.5 * clip), SR)
    samples = [Sample(id=n, audio=str(tmp_path / f"{n}.wav"), instruction="") for n in ("long", "short")]
    z, ok, errors = pipe.embed_audio(samples, RunConfig(crop="chunks"), raw=True)
    assert ok == [0, 1] and not errors and bool(torch.isfinite(z).all())
    windows = load_audio(str(tmp_path / "long.wav"), enc.sample_rate, None, clip, "chunks")
    assert windows.shape[0] == 3
    with torch.no_grad():
        alone = torch.stack([enc.embed_audio(torch.from_numpy(w[None])).float()[0] for w in windows]).mean(0)
    assert torch.allclose(z[0], alone, atol=1e-5)


@pytest.mark.slow
def test_crop_chunks_runs_through_the_cli(tmp_path):
    res, said = _cli(*RUN, "-o", str(tmp_path / "out"), "--set", "run.crop=chunks")
    assert res.exit_code == 0, said
    rows = [json.loads(line) for line in (tmp_path / "out" / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["error"] is None and r["prediction"] for r in rows)


# -- 5. model settings validated before torch/peft see them ------------------------------------------
TEMPLATE = "{audio} {instruction}\nAnswer:"


@pytest.mark.parametrize(
    "lora, fragment",
    [
        ({"r": -1, "target_modules": ["c_attn"]}, "llm.lora.r"),
        ({"r": 4.5, "target_modules": ["c_attn"]}, "llm.lora.r"),
        ({"r": "four", "target_modules": ["c_attn"]}, "llm.lora.r"),
        ({"rank": 4, "target_modules": ["c_attn"]}, "unknown setting 'llm.lora.rank'"),
        ({"r": 4, "alpha": -2, "target_modules": ["c_attn"]}, "llm.lora.alpha"),
        ({"r": 4, "dropout": 1.5, "target_modules": ["c_attn"]}, "llm.lora.dropout"),
    ],
)
def test_bad_lora_settings_are_refused_before_the_model_loads(gpt2_dir, lora, fragment, monkeypatch):
    import transformers

    from mats_core.hf import HFCausalLM

    monkeypatch.setattr(
        transformers.AutoModelForCausalLM, "from_pretrained", lambda *a, **k: pytest.fail("the model loaded")
    )
    with pytest.raises(MatsError, match=fragment.replace(".", r"\.")):
        HFCausalLM(gpt2_dir, template=TEMPLATE, lora=lora)


def test_lora_targets_that_match_nothing_name_the_modules(gpt2_dir):
    from mats_core.hf import HFCausalLM

    with pytest.raises(MatsError, match=r"llm\.lora\.target_modules .*nosuch.* match no module.*c_attn"):
        HFCausalLM(gpt2_dir, template=TEMPLATE, lora={"r": 4, "target_modules": ["nosuch"]})


def test_mapper_heads_must_divide_the_width(tmp_path):
    res, said = _cli(
        "train",
        "--steps",
        "1",
        "--device",
        "cpu",
        "--output",
        str(tmp_path / "ck"),
        "--set",
        "mapper.width=30",
        "--set",
        "mapper.heads=4",
    )
    _one_error_line(res, said, "mapper", "heads", "30")
    assert not (tmp_path / "ck").exists()


def test_an_edited_checkpoint_config_is_a_clear_error(gpt2_dir, trained, tmp_path):
    from mats_core.hf import HFCausalLM
    from mats_core.model.pipeline import MATSModel

    lm = HFCausalLM(gpt2_dir, template=TEMPLATE, lora={"r": 4, "alpha": 8, "target_modules": ["c_attn"]})
    model = MATSModel(lm, 16, {**MAPPER, "width": 64})  # config.json says 64, the tensors are 32 wide
    with pytest.raises(MatsError, match=r"does not match .*config\.json"):
        model.load_weights(trained)


def test_a_model_folder_without_tokenizer_files_is_a_clear_error(gpt2_dir, tmp_path):
    from mats_core.hf import HFCausalLM

    folder = tmp_path / "no-tokenizer"
    shutil.copytree(gpt2_dir, folder)
    for p in folder.iterdir():
        if "token" in p.name or p.name in ("vocab.json", "merges.txt"):
            p.unlink()
    with pytest.raises(MatsError, match=str(folder)):
        HFCausalLM(str(folder), template=TEMPLATE)


def test_a_training_batch_larger_than_the_corpus_is_refused(gpt2_dir, trained, tmp_path):
    from fakes import CORPUS

    shutil.copytree(trained, tmp_path / "ck")
    before = _files(tmp_path / "ck")
    with pytest.raises(MatsError, match=r"train\.batch_size 8 is larger than the corpus \(4 records\).*--batch-size 4"):
        _train(gpt2_dir, tmp_path / "ck", overwrite=True, records=CORPUS[:4])
    assert _files(tmp_path / "ck") == before  # refused before --overwrite removed anything


def test_a_training_batch_larger_than_the_corpus_is_one_error_line(tmp_path):
    from fakes import CORPUS

    corpus = tmp_path / "small.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in CORPUS[:3]))
    res, said = _cli(
        "train",
        "--corpus",
        str(corpus),
        "--batch-size",
        "4",
        "--steps",
        "1",
        "--device",
        "cpu",
        "--output",
        str(tmp_path / "ck"),
    )
    _one_error_line(res, said, "train.batch_size 4", "3 records")
    assert not (tmp_path / "ck").exists()


def test_training_out_of_memory_names_the_batch_and_keeps_the_checkpoint(gpt2_dir, tmp_path, monkeypatch):
    import torch

    from mats_core.model.pipeline import MATSModel

    real, calls = MATSModel.loss, []

    def loss(self, *a, **k):
        calls.append(1)
        if len(calls) > 5:  # step 6: the device is full
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 4.00 GiB")
        return real(self, *a, **k)

    monkeypatch.setattr(MATSModel, "loss", loss)
    with pytest.raises(MatsError, match=r"out of memory at training step 6 with train\.batch_size 8 .*grad_accum"):
        _train(gpt2_dir, tmp_path / "ck")
    assert json.loads((tmp_path / "ck" / "config.json").read_text())["step"] == 5  # the checkpoint at step 5 stays


SHIPPED = os.path.join(os.path.dirname(__file__), "..", "plugins", "mats_tiny", "weights", "mats", "noise")


@pytest.mark.skipif(not os.path.exists(os.path.join(SHIPPED, "config.json")), reason="shipped checkpoints not built")
def test_generation_out_of_memory_at_a_fixed_batch_size_keeps_the_rows(tmp_path, monkeypatch):
    import torch

    from mats_core.model.pipeline import MATSModel
    from mats_core.run.harness import Pipeline, RunConfig, evaluate

    pipe = Pipeline.from_checkpoint(SHIPPED, device="cpu")
    real, calls = MATSModel.generate, []

    def generate(self, *a, **k):
        calls.append(1)
        if len(calls) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, *a, **k)

    cfg = RunConfig(limit=4, device="cpu", batch_size=2, resamples=0)
    monkeypatch.setattr(MATSModel, "generate", generate)
    with pytest.raises(MatsError, match=r"out of memory generating a batch of 2 .*--batch-size auto"):
        evaluate(pipe, SHIPPED, "noise", ["tiny-qa"], tmp_path / "out", cfg)
    kept = (tmp_path / "out" / "samples.jsonl").read_text().splitlines()
    assert len(kept) == 2  # the first batch's rows are written
    monkeypatch.setattr(MATSModel, "generate", real)
    evaluate(pipe, SHIPPED, "noise", ["tiny-qa"], tmp_path / "out", cfg)  # the rerun resumes after them
    rows = (tmp_path / "out" / "samples.jsonl").read_text().splitlines()
    assert len(rows) == 4 and rows[:2] == kept

"""One error contract, no silent config (issues 11.3/11.4, 12.9): every user mistake is one
``error:`` line, exit 2, no traceback, before a model loads or anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import mats_core.registry.presets
import mats_core.run.fitted_bridge
import mats_core.run.harness
import mats_core.run.pipeline
from mats_core import MatsError, build
from mats_core.cli.main import app
from mats_core.config.validation import DecodingConfig, check_decoding, config_diff, split_task_params
from mats_core.registry.hints import format_errors

SHIPPED = Path(__file__).resolve().parents[1] / "plugins" / "mats_tiny" / "weights" / "mats"


@pytest.fixture
def built(monkeypatch):
    """Kinds of everything built during a command: a refusal must come before any encoder/llm."""
    kinds: list[str] = []
    real = mats_core.registry.presets.build

    def spy(kind, name, /, registry=None, **params):
        kinds.append(kind)
        return real(kind, name, registry, **params)

    monkeypatch.setattr(mats_core.registry.presets, "build", spy)
    for module in (mats_core.run.harness, mats_core.run.pipeline, mats_core.run.fitted_bridge):
        monkeypatch.setattr(module, "build", spy)
    return kinds


def invoke(args):
    res = CliRunner().invoke(app, args)
    text = res.output
    return res.exit_code, text


def assert_one_error(code, text, message):
    assert code == 2, text
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[0].startswith("error: "), text
    assert message in " ".join(text.split()), text


RUN_CASES = [
    (["--device", "gpu"], "--device 'gpu': not a device; did you mean 'cuda'?"),
    (["--device", "bogus"], "--device 'bogus': not a device."),
    (["--encoder", "lain"], "unknown encoder 'lain'; did you mean 'laion'?"),
    (["--llm", "tinny"], "unknown llm 'tinny'; did you mean 'tiny'?"),
    (
        ["--set", "task.splt=val"],
        "no task of this run (tiny-caption, tiny-classify, tiny-qa) takes 'splt'; did you mean 'split'?",
    ),
    (["--set", "task.bogus=1"], "no task of this run (tiny-caption, tiny-classify, tiny-qa) takes 'bogus'"),
    (["--set", "task.split=sideways"], "task 'tiny-caption': param 'split': Input should be 'test' or 'val'"),
    (["--set", "foo.bar=1"], "--set foo.*: unknown kind 'foo'"),
    (["--set", "mapper.width=8"], "'mapper' is a training setting (mats-bench train --set mapper.*)"),
    (["--set", "train.steps=8"], "'train' is a training setting"),
    (["--set", "llm.bogus=1"], "llm 'tiny': unknown param 'bogus'"),
    (["--set", "encoder.bogus=1"], "encoder 'tiny': unknown param 'bogus'"),
    (["--set", "decoding.bogus=1"], "unknown setting 'decoding.bogus'"),
    (["--set", "decoding.num_beam=2"], "unknown setting 'decoding.num_beam'; did you mean 'num_beams'?"),
    (
        ["--set", "decoding.max_new_tokens=-5"],
        "setting 'decoding.max_new_tokens': Input should be greater than or equal to 1 (got -5)",
    ),
    (
        ["--set", "run.crop=sideways"],
        "setting 'run.crop': Input should be 'center', 'random' or 'chunks' (got 'sideways')",
    ),
    (["--set", "run.memory_sise=9"], "unknown setting 'run.memory_sise'; did you mean 'memory_size'?"),
    (["--set", "bridge.lam=0.5"], "bridge 'none': unknown param 'lam' (--set bridge.* goes to every bridge of the run"),
    (["--set", "bridge.lam=5", "--bridge", "santa"], "bridge 'santa': param 'lam'"),
]


@pytest.mark.parametrize("args,message", RUN_CASES)
def test_run_refuses_before_loading_or_writing(tmp_path, built, args, message):
    out = tmp_path / "out"
    code, text = invoke(["run", "--output", str(out), "--limit", "1", *args])
    assert_one_error(code, text, message)
    assert "encoder" not in built and "llm" not in built
    assert not out.exists()  # no stamped run dir blocks the corrected rerun


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_a_cpu_machine(tmp_path, built):
    for cmd in (["run", "--output", str(tmp_path / "o")], ["train", "--output", str(tmp_path / "t"), "--steps", "1"]):
        code, text = invoke([*cmd, "--device", "cuda"])
        assert_one_error(code, text, "--device cuda: CUDA is not available on this machine; use --device cpu")
    code, text = invoke(["run", "--output", str(tmp_path / "o"), "--set", "run.device=cuda:1"])
    assert_one_error(code, text, "CUDA is not available")
    assert not built and not (tmp_path / "o").exists()


TRAIN_CASES = [
    (["--device", "gpu"], "did you mean 'cuda'?"),
    (["--set", "train.wamup=3"], "unknown setting 'train.wamup'; did you mean 'warmup'?"),
    (["--set", "mapper.widht=8"], "unknown setting 'mapper.widht'; did you mean 'width'?"),
    (["--set", "mapper.width=4"], "setting 'mapper.width': Input should be greater than or equal to 8"),
    (["--set", "llm.bogus=1"], "llm 'tiny': unknown param 'bogus'"),
    (["--set", "decoding.num_beams=2"], "'decoding' is an evaluation setting"),
    (["--set", "bridge.noise_variance=-1"], "bridge 'noise': param 'noise_variance'"),
    (["--set", "corpus.nn=3"], "corpus 'tiny': unknown param 'nn'; did you mean 'n'?"),
    (["--corpus", "/nonexistent/c.jsonl"], "--corpus /nonexistent/c.jsonl: no such file"),
    (["--corpus", "tinny"], "unknown corpus 'tinny'; did you mean 'tiny'?"),
]


@pytest.mark.parametrize("args,message", TRAIN_CASES)
def test_train_refuses_before_loading(tmp_path, built, args, message):
    out = tmp_path / "ckpt"
    code, text = invoke(["train", "--output", str(out), "--steps", "1", *args])
    assert_one_error(code, text, message)
    assert not built and not out.exists()


def test_train_missing_encoder_weights_is_one_error_line(tmp_path, built):
    out = tmp_path / "ckpt"
    code, text = invoke(["train", "--output", str(out), "--steps", "1", "--set", "encoder.weights=/nonexistent"])
    assert code == 2 and "Traceback" not in text
    assert "error: tiny-clap weights: /nonexistent lacks config.json" in " ".join(text.split())
    assert "llm" not in built and not out.exists()


@pytest.mark.parametrize(
    "text,message",
    [
        ("- a\n- b\n", "the top level must be a mapping of sections"),
        ("encoder: [a, b]\n", "section 'encoder' must be a mapping of preset name"),
        ("bridge:\n  x: [santa]\n", "bridge preset 'x'"),
        ("checkpoints: [a, b]\n", "checkpoints must be a mapping of '<encoder>+<llm>' -> directory"),
        ("checkpoints: {tiny+tiny: [a]}\n", "checkpoints must be a mapping"),
    ],
)
def test_malformed_registry_files(tmp_path, built, text, message):
    reg = tmp_path / "reg.yaml"
    reg.write_text(text)
    code, out = invoke(["run", "--registry", str(reg), "--output", str(tmp_path / "o")])
    assert_one_error(code, out, message)
    assert str(reg) in " ".join(out.split()).replace("\n", "")
    assert not built


@pytest.mark.parametrize(
    "text,message",
    [
        ("tasks: [tiny-qa\ngrid: {", "is not valid YAML"),
        ("- 1\n", "expected a mapping"),
        (
            "tasks: [tiny-qa]\nrun: {crop: sideways}\ngrid: [{bridge: none}]\n",
            "run: setting 'run.crop': Input should be 'center', 'random' or 'chunks'",
        ),
        (
            "tasks: [tiny-qa]\nrun: {decoding: {max_new_tokens: 0}}\ngrid: [{bridge: none}]\n",
            "setting 'decoding.max_new_tokens'",
        ),
        ("tasks: [tiny-qa]\nrun: {device: gpu}\ngrid: [{bridge: none}]\n", "run.device 'gpu': not a device"),
        ("tasks: [tiny-qa]\ngrid: [{bridge: none}]\nseed: [1]\n", "unknown key 'seed'; did you mean 'seeds'?"),
    ],
)
def test_malformed_sweep_grids(tmp_path, built, text, message):
    grid = tmp_path / "grid.yaml"
    grid.write_text(text)
    code, out = invoke(["sweep", str(grid), "--output", str(tmp_path / "s")])
    assert_one_error(code, out, message)
    assert not built and not (tmp_path / "s").exists()


def test_plugins_raise_the_public_error_type():
    from mats_bridges.noise import NoiseBridge
    from mats_tiny import data
    from mats_tiny.clap import resolve_device

    with pytest.raises(MatsError, match="noise_variance must be a finite number >= 0"):
        NoiseBridge(noise_variance=-1.0)
    with pytest.raises(MatsError, match="not a device; did you mean 'cuda'"):
        resolve_device("gpu")
    with pytest.raises(MatsError, match="unknown split"):
        data.make_scenes("nope")
    with pytest.raises(MatsError, match="no predictions"):
        build("task", "tiny-qa").score([])
    with pytest.raises(MatsError, match="rows without 'label'"):
        build("task", "tiny-classify").score([{"id": "a", "prediction": "dog"}])


def test_decoding_is_typed_and_kept_as_given():
    assert check_decoding({"num_beams": 4, "do_sample": False}) == {"num_beams": 4, "do_sample": False}
    for bad, message in [
        ({"top_p": 1.5}, "decoding.top_p"),
        ({"max_new_token": 3}, "did you mean 'max_new_tokens'?"),
        ({"num_beams": "many"}, "decoding.num_beams"),
    ]:
        with pytest.raises(MatsError, match=message):
            check_decoding(bad)
    assert "num_return_sequences" not in DecodingConfig.model_fields  # would break the one-row-per-sample contract
    run = mats_core.run.harness.RunConfig(decoding={"max_new_tokens": 9})
    assert run.model_dump()["decoding"] == {
        "max_new_tokens": 9
    }  # the config (and its fingerprint) holds only what was set


def test_one_formatter_names_the_key_and_the_closest_match():
    from pydantic import ValidationError

    try:
        mats_core.run.harness.RunConfig(limt=3, seed="x")
    except ValidationError as exc:
        text = format_errors(exc, "run.", mats_core.run.harness.RunConfig.model_fields, noun="setting")
    assert "unknown setting 'run.limt'; did you mean 'limit'?" in text and "setting 'run.seed'" in text


def test_task_params_reach_only_their_task():
    tasks = ["tiny-qa", "tiny-classify"]
    assert split_task_params({}, tasks, None, {"tiny-qa": {"split": "val"}}) == {
        "tiny-qa": {"split": "val"},
        "tiny-classify": {},
    }
    both = split_task_params({"limit": 3, "data_root": "/x"}, tasks, None, {"tiny-qa": {"limit": 1}})
    assert both == {
        "tiny-qa": {"limit": 3},
        "tiny-classify": {"limit": 3},
    }  # --set wins over a suite; data_root: taken by none
    with pytest.raises(MatsError, match="param 'split': Input should be 'test' or 'val'"):
        split_task_params({}, tasks, None, {"tiny-qa": {"split": "train"}})
    from mats_core.run.harness import params_for_task

    assert params_for_task({"tiny-qa": {"split": "val"}}, "tiny-classify", tasks, None) == {}
    assert params_for_task({"split": "val", "data_root": "/x"}, "tiny-qa", tasks, None) == {
        "split": "val"
    }  # old flat configs


def test_config_refusal_names_the_keys_that_differ(tmp_path):
    from mats_core.run.config_guard import guard_config
    from mats_core.run.distributed import Shards

    old = {"bridge": {"name": "santa", "params": {"lam": 0.3, "k": 32}}, "run": {"seed": 0}, "tasks": ["tiny-qa"]}
    new = json.loads(json.dumps(old))
    new["bridge"]["params"]["lam"] = 0.5
    new["run"]["crop"] = "random"
    guard_config(tmp_path, old, overwrite=False, shards=Shards.from_env())
    with pytest.raises(MatsError) as exc:
        guard_config(tmp_path, new, overwrite=False, shards=Shards.from_env())
    msg = str(exc.value)
    assert "holds a run with a different config" in msg and "bridge.params.lam: 0.3 -> 0.5" in msg
    assert "run.crop: (absent) -> 'random'" in msg and "--overwrite" in msg
    assert config_diff(old, old) == []


@pytest.mark.skipif(not (SHIPPED / "noise" / "config.json").exists(), reason="shipped tiny checkpoints not built")
def test_a_suites_task_params_reach_their_task_in_a_real_run(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "bridges: [noise]\ntasks: {tiny-qa: {split: val}, tiny-classify: {}}\nrun: {limit: 2, batch_size: 2}\n"
        "decoding: {max_new_tokens: 4}\nreference: false\n"
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["run", "--suite", str(suite), "--device", "cpu", "--output", str(out)])
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["task_params"] == {"tiny-qa": {"split": "val"}}
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert {r["id"].split("-")[1] for r in rows if r["task"] == "tiny-qa"} == {"val"}
    assert {r["id"].split("-")[1] for r in rows if r["task"] == "tiny-classify"} == {"test"}

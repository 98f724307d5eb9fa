"""Scale-out of evaluation: 2 CPU processes under `accelerate launch` give the single-process
samples.jsonl and results.json (and resume from any earlier shards); --batch-size auto backs
off on out-of-memory; the static-KV-cache default is chosen only where it applies."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mats_core.errors import MatsError
from mats_core.model.generation import generation_settings, supports_static_cache
from mats_core.model.pipeline import MATSModel, read_checkpoint_config
from mats_core.run.distributed import Shards
from mats_core.run.harness import Pipeline, RunConfig, evaluate

SHIPPED = Path(__file__).resolve().parents[1] / "plugins" / "mats_tiny" / "weights" / "mats"
needs_shipped = pytest.mark.skipif(
    not (SHIPPED / "noise" / "config.json").exists(), reason="shipped tiny MATS checkpoints not built"
)
CLI = [sys.executable, "-m", "mats_core.cli"]
# the noise bridge needs no caption bank (fast); small bridge blocks give each process several blocks
RUN = [
    "run",
    "--bridge",
    "noise",
    "--no-reference",
    "--tasks",
    "tiny-classify,tiny-qa",
    "--limit",
    "8",
    "--device",
    "cpu",
    "--set",
    "run.bridge_block=2",
    "--batch-size",
    "3",
]


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@needs_shipped
@pytest.mark.slow  # end to end, > 30 s on a 2-core machine (fast tier: python -m pytest -q)
def test_two_processes_give_the_single_process_run_and_resume_from_shards(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one, two = tmp_path / "one", tmp_path / "two"
    proc = subprocess.run([*CLI, *RUN, "--output", str(one)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    single = rows(one / "samples.jsonl")
    assert len(single) == 16
    # An interrupted earlier run left rows in the merged file and in per-rank files, one of them
    # from a run with more processes. They must be kept (marked rows), not generated again.
    two.mkdir()
    seeded = {"samples.jsonl": [0, 9], "samples.rank1.jsonl": [3], "samples.rank5.jsonl": [12, 4]}
    for name, idx in seeded.items():
        (two / name).write_text("".join(json.dumps({**single[i], "resumed": name}) + "\n" for i in idx))
    launch = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--main_process_port",
        "0",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "mats_core.cli",
    ]
    proc = subprocess.run([*launch, *RUN, "--output", str(two)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("results in") == 1  # only rank 0 prints the table
    merged = rows(two / "samples.jsonl")
    assert [(r["task"], r["id"], r["prediction"]) for r in merged] == [
        (r["task"], r["id"], r["prediction"]) for r in single
    ]
    assert {merged[i]["resumed"] for name, idx in seeded.items() for i in idx} == set(seeded)
    assert sum("resumed" in r for r in merged) == 5
    assert not list(two.glob("samples.rank*.jsonl"))
    a, b = (json.loads((d / "results.json").read_text()) for d in (one, two))
    assert b["results"] == a["results"] and b["samples_count"] == a["samples_count"]
    assert b["fingerprints"] == a["fingerprints"]
    assert a["execution"]["processes"] == 1 and b["execution"]["processes"] == 2
    assert a["execution"]["generated"] == [16]
    assert (
        sum(b["execution"]["generated"]) == 16 - 5 and min(b["execution"]["generated"]) > 0
    )  # shared, seeded rows skipped
    assert a["execution"]["batch_size"] == 2  # blocks of 2 cap the batch of 3


# -- in-process: one pipeline for the rest ------------------------------------------------------
@pytest.fixture(scope="module")
def pipe():
    if not (SHIPPED / "noise" / "config.json").exists():
        pytest.skip("shipped tiny MATS checkpoints not built")
    return Pipeline.from_checkpoint(SHIPPED / "noise", device="cpu")


def _eval(pipe, out, **run):
    cfg = RunConfig(limit=10, device="cpu", **{"bridge_block": 16, **run})
    return evaluate(pipe, SHIPPED / "noise", "noise", ["tiny-qa"], out, cfg)


def _oom_above(monkeypatch, limit: int) -> list[int]:
    """MATSModel.generate raises CUDA's out-of-memory error for batches above ``limit``."""
    real, sizes = MATSModel.generate, []

    def generate(self, z, instructions, **decoding):
        sizes.append(z.shape[0])
        if z.shape[0] > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, z, instructions, **decoding)

    monkeypatch.setattr(MATSModel, "generate", generate)
    return sizes


def test_auto_batch_size_halves_on_out_of_memory(pipe, tmp_path, monkeypatch):
    pipe.auto_batch_size = None
    fixed = _eval(pipe, tmp_path / "bs4", batch_size=4)
    sizes = _oom_above(monkeypatch, 4)
    auto = _eval(pipe, tmp_path / "auto", batch_size="auto")
    assert sizes[:5] == [10, 10, 10, 8, 4]  # tries 64, 32, 16 (the block's 10 samples), then 8 fail; 4 fits
    pred = lambda d: [(r["id"], r["prediction"]) for r in rows(d / "samples.jsonl")]
    assert pred(tmp_path / "auto") == pred(tmp_path / "bs4") and len(pred(tmp_path / "auto")) == 10
    assert auto.results == fixed.results
    assert auto.execution["batch_size"] == 4 and fixed.execution["batch_size"] == 4
    sizes.clear()
    _eval(pipe, tmp_path / "again", batch_size="auto", seed=1)  # the size found is kept for the next run
    assert max(sizes) == 4
    pipe.auto_batch_size = None


def test_auto_batch_size_gives_up_at_one_and_fixed_sizes_do_not_back_off(pipe, tmp_path, monkeypatch):
    pipe.auto_batch_size = None
    _oom_above(monkeypatch, 0)
    with pytest.raises(MatsError, match="out of memory generating even one sample"):
        _eval(pipe, tmp_path / "auto", batch_size="auto")
    with pytest.raises(MatsError, match="out of memory generating a batch of 2 .*--batch-size auto"):
        _eval(pipe, tmp_path / "fixed", batch_size=2)  # a fixed size never backs off: it says what to change
    monkeypatch.setattr(MATSModel, "generate", lambda *a, **k: (_ for _ in ()).throw(ValueError("not memory")))
    with pytest.raises(ValueError, match="not memory"):
        _eval(pipe, tmp_path / "other", batch_size="auto")
    pipe.auto_batch_size = None


def test_single_process_resumes_and_merges_a_sharded_run(pipe, tmp_path):
    full = tmp_path / "full"
    _eval(pipe, full, batch_size=4, bridge_block=3)
    ref = rows(full / "samples.jsonl")
    out = tmp_path / "resumed"
    out.mkdir()
    (out / "samples.rank0.jsonl").write_text(
        "".join(json.dumps({**ref[i], "prediction": "KEPT"}) + "\n" for i in (0, 1, 2, 9))
    )
    (out / "samples.rank1.jsonl").write_text(
        json.dumps({**ref[4], "prediction": "KEPT"}) + "\n" + '{"task": "tiny-qa", "id"'
    )  # torn
    _eval(pipe, out, batch_size=4, bridge_block=3)
    got = rows(out / "samples.jsonl")
    assert [r["id"] for r in got] == [r["id"] for r in ref]  # single-process order
    assert [i for i, r in enumerate(got) if r["prediction"] == "KEPT"] == [0, 1, 2, 4, 9]
    assert all(got[i] == ref[i] for i in (3, 5, 6, 7, 8)) and not list(out.glob("samples.rank*"))


def test_overwrite_clears_shard_files(pipe, tmp_path):
    _eval(pipe, tmp_path, batch_size=4)
    (tmp_path / "samples.rank3.jsonl").write_text(
        json.dumps({"task": "tiny-qa", "id": "x", "prediction": "stale"}) + "\n"
    )
    with pytest.raises(MatsError, match="--overwrite"):
        evaluate(pipe, SHIPPED / "noise", "noise", ["tiny-qa"], tmp_path, RunConfig(limit=3, device="cpu"))
    evaluate(pipe, SHIPPED / "noise", "noise", ["tiny-qa"], tmp_path, RunConfig(limit=3, device="cpu"), overwrite=True)
    assert len(rows(tmp_path / "samples.jsonl")) == 3 and not list(tmp_path.glob("samples.rank*"))


# -- pure units ------------------------------------------------------------------------------
def test_shards_from_the_launcher_environment(monkeypatch):
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    assert Shards.from_env() == Shards(0, 1, 0) and Shards().samples_file() == "samples.jsonl"
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "2")
    s = Shards.from_env()
    assert s.active and not s.is_main and s.samples_file() == "samples.rank2.jsonl"
    assert [b for b in range(8) if s.owns(b)] == [2, 5]
    assert s.device("cpu") == "cpu"
    monkeypatch.setenv("RANK", "3")
    with pytest.raises(MatsError, match="RANK=3 with WORLD_SIZE=3"):
        Shards.from_env()
    for k in ("WORLD_SIZE", "RANK"):
        monkeypatch.delenv(k)
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")  # what `accelerate launch --cpu --num_processes 2` leaves
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    with pytest.warns(UserWarning, match="--multi_gpu --num_processes N"):
        assert Shards.from_env() == Shards()


@needs_shipped
def test_each_process_builds_on_its_own_gpu_with_the_config_of_a_single_process(monkeypatch):
    from mats_core.run import pipeline

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    built = {}
    monkeypatch.setattr(pipeline, "build", lambda kind, name, registry=None, **p: built.setdefault(kind, p))
    pipe = Pipeline.from_checkpoint(SHIPPED / "noise", device="auto", overrides={"encoder": {"device": "cuda"}})
    assert built["llm"]["device"] == "cuda:1" and built["encoder"]["device"] == "cuda:1"
    assert pipe.spec["llm"]["params"]["device"] == "auto" and pipe.spec["encoder"]["params"]["device"] == "cuda"
    assert Shards.from_env().device("cpu") == "cpu" and Shards.from_env().device("cuda:0") == "cuda:0"


@needs_shipped
def test_the_run_device_beats_the_checkpoints_training_device(monkeypatch):
    """The shipped checkpoints were trained with device cpu: on a GPU the encoder must follow the
    run's device, and an explicit --set encoder.device still wins."""
    from mats_core.run import pipeline

    built = {}
    monkeypatch.setattr(pipeline, "build", lambda kind, name, registry=None, **p: built.setdefault(kind, p))
    assert read_checkpoint_config(SHIPPED / "noise")["encoder"]["params"]["device"] == "cpu"
    Pipeline.from_checkpoint(SHIPPED / "noise", device="cuda")
    assert built["encoder"]["device"] == "cuda" and built["llm"]["device"] == "cuda"
    built.clear()
    Pipeline.from_checkpoint(SHIPPED / "noise", device="cuda", overrides={"encoder": {"device": "cpu"}})
    assert built["encoder"]["device"] == "cpu" and built["llm"]["device"] == "cuda"


class _LLM:
    def __init__(self, device, model=None, generation=None):
        self.device, self.model, self.generation = torch.device(device), model, generation or {}


def test_static_kv_cache_only_on_cuda_for_models_that_support_it(pipe):
    lm = pipe.llm.model  # the tiny GPT-2 wrapped by peft (LoRA)
    assert supports_static_cache(lm)
    assert generation_settings(_LLM("cuda", lm), {"max_new_tokens": 4}) == {
        "max_new_tokens": 4,
        "cache_implementation": "static",
    }
    assert generation_settings(_LLM("cuda:1", lm), {}) == {"cache_implementation": "static"}
    assert generation_settings(_LLM("cpu", lm), {}) == {}  # never on CPU
    assert generation_settings(pipe.llm, {}) == {}
    # the user's settings win: run decoding, the preset's generation params, or no cache at all
    assert generation_settings(_LLM("cuda", lm), {"cache_implementation": "dynamic"}) == {
        "cache_implementation": "dynamic"
    }
    assert generation_settings(_LLM("cuda", lm, {"cache_implementation": "offloaded"}), {}) == {}
    assert generation_settings(_LLM("cuda", lm), {"use_cache": False}) == {"use_cache": False}

    class NoCompile(torch.nn.Module):  # a custom model transformers cannot give a static cache
        config = lm.get_base_model().config

    class OwnCache(type(lm.get_base_model())):
        @classmethod
        def _supports_default_dynamic_cache(cls):
            return False

    assert not supports_static_cache(NoCompile()) and not supports_static_cache(None)
    assert not supports_static_cache(OwnCache(lm.get_base_model().config))
    picky = OwnCache.__mro__[1](lm.get_base_model().config)
    assert supports_static_cache(picky)
    picky.generation_config.cache_implementation = "dynamic"  # the model's own choice stands
    assert not supports_static_cache(picky)
    assert generation_settings(_LLM("cuda", NoCompile()), {}) == {}


def test_batch_size_option_accepts_auto_and_rejects_junk():
    from typer.testing import CliRunner

    from mats_core.cli.main import app
    from mats_core.config.run_spec import parse_batch_size as _batch_size

    assert _batch_size("auto") == "auto" and _batch_size("8") == 8
    assert RunConfig(batch_size="auto").batch_size == "auto" and RunConfig(batch_size=3).batch_size == 3
    with pytest.raises(ValueError):
        RunConfig(batch_size="big")
    out = CliRunner().invoke(app, ["run", "--batch-size", "0", "--output", "/nonexistent/x"])
    assert out.exit_code == 2 and "--batch-size must be a positive integer or 'auto'" in out.output

"""API v1.1: a third-party package implementing EXACTLY the v1 members (an LLM wrapping a
transformers model by hand, a Task with name/kind/samples/score) trains and runs end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import CORPUS, make_tiny_gpt2

from mats_core import hookimpl

FIXTURES = Path(__file__).parent / "fixtures"
V1_LLM_MEMBERS = {"hidden_size", "template", "tokenize", "embed", "loss", "generate", "trainable_parameters"}


@pytest.fixture(scope="module")
def v1_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("v1")
    target = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "--target",
            str(target),
            str(FIXTURES / "mats-v1-plugin"),
        ],
        check=True,
        capture_output=True,
    )
    lm = make_tiny_gpt2(root / "lm", [r["text"] + " " + r["instruction"] + " " + r["answer"] for r in CORPUS])
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in CORPUS))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]),
        "MATS_NO_PLUGIN_COMMANDS": "1",
    }
    return root, lm, corpus, env


def _cli(env, *args):
    out = subprocess.run([sys.executable, "-m", "mats_core.cli", *args], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return out.stdout


def test_fixture_llm_has_exactly_the_v1_members(v1_env):
    root, lm, _, env = v1_env
    code = (
        "import json, mats_core\n"
        f"llm = mats_core.build('llm', 'v1-lm', path={lm!r})\n"
        "from mats_core.testing import check_llm, check_task\n"
        "check_llm(llm)  # the bare path: no device, token ids, train() or adapter state\n"
        "check_task(mats_core.build('task', 'v1-tones'))\n"
        "print(json.dumps([isinstance(llm, mats_core.LanguageModel), sorted(n for n in dir(llm) if not n.startswith('_'))]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    conforms, public = json.loads(out.stdout)
    assert conforms and set(public) == V1_LLM_MEMBERS


@pytest.mark.slow  # end to end, > 30 s on a 2-core machine (fast tier: python -m pytest -q)
def test_v1_plugin_trains_and_runs_end_to_end(v1_env):
    root, lm, corpus, env = v1_env
    ck = root / "ck"
    _cli(
        env,
        "train",
        "--encoder",
        "tiny",
        "--llm",
        "v1-lm",
        "--set",
        f"llm.path={lm}",
        "--corpus",
        str(corpus),
        "--steps",
        "3",
        "--batch-size",
        "4",
        "--device",
        "cpu",
        "--output",
        str(ck),
        "--set",
        "train.log_every=1",
    )
    cfg = json.loads((ck / "config.json").read_text())
    assert "device" not in cfg["llm"]["params"]  # the factory has no device param: the core never passed one
    assert (ck / "llm_trainable.safetensors").exists()  # no adapter_state_dict: trainables saved by position
    assert len((ck / "train_log.jsonl").read_text().splitlines()) == 3
    out = root / "run"
    stdout = _cli(
        env,
        "run",
        "--encoder",
        "tiny",
        "--llm",
        "v1-lm",
        "--checkpoint",
        str(ck),
        "--tasks",
        "v1-tones",
        "--bridge",
        "none,santa",
        "--no-reference",
        "--limit",
        "4",
        "--device",
        "cpu",
        "--output",
        str(out),
        "--set",
        "decoding.max_new_tokens=4",
    )
    assert "v1-tones" in stdout and "word_overlap" in stdout
    for bridge in ("none", "santa"):
        res = json.loads((out / bridge / "results.json").read_text())
        assert res["samples_count"] == {"v1-tones": 4} and res["errors_count"] == 0
        assert set(res["results"]["v1-tones"]) == {"word_overlap"}
        assert res["headline"] == {"v1-tones": None} and res["higher_is_better"] == {"v1-tones": {}}
        rows = [json.loads(line) for line in (out / bridge / "samples.jsonl").read_text().splitlines()]
        assert len(rows) == 4 and all(isinstance(r["prediction"], str) for r in rows)


def test_trainables_saved_by_position_load_back(v1_env, tmp_path):
    root, lm, _, env = v1_env
    code = (
        "import torch, mats_core\n"
        "from mats_core.model.pipeline import MATSModel\n"
        f"llm = mats_core.build('llm', 'v1-lm', path={lm!r})\n"
        "m = MATSModel(llm, 8, {'type': 'mlp', 'prefix_length': 2})\n"
        "for p in llm.trainable_parameters():\n"
        "    p.data.add_(1.5)\n"
        f"m.save({str(tmp_path)!r}, {{}})\n"
        f"fresh = mats_core.build('llm', 'v1-lm', path={lm!r})\n"
        "m2 = MATSModel(fresh, 8, {'type': 'mlp', 'prefix_length': 2})\n"
        f"m2.load_weights({str(tmp_path)!r})\n"
        "print(all(torch.equal(a, b) for a, b in zip(llm.trainable_parameters(), fresh.trainable_parameters())))\n"
        f"bad = mats_core.build('llm', 'v1-lm', path={lm!r}, train_norm=False)\n"
        "try:\n"
        f"    MATSModel(bad, 8, {{'type': 'mlp', 'prefix_length': 2}}).load_weights({str(tmp_path)!r})\n"
        "except mats_core.MatsError as e:\n"
        "    print('refused', 'trainable_parameters' in str(e))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["True", "refused", "True"]


class _CleanBridge:
    pairs_with = "clean"

    def fit(self, memory):
        pass

    def train(self, text, generator):
        return text

    def infer(self, audio, generator):
        return audio


class _OddBridge(_CleanBridge):
    pairs_with = "audio"


class _BridgePlugin:
    @hookimpl
    def register_bridges(self, register):
        register("test-clean", _CleanBridge)
        register("test-odd", _OddBridge)


def test_bridges_pick_their_checkpoint_by_pairs_with():
    from mats_core import MatsError
    from mats_core.bench.pairing import paired_checkpoint
    from mats_core.testing import plugin_host

    ck = {"clean": Path("clean"), "noise": Path("noise")}
    assert paired_checkpoint(ck, "none", {}, None) == Path("clean")  # the built-in none declares it
    assert paired_checkpoint(ck, "santa", {"lam": 0.5}, None) == Path("noise")  # the default
    with plugin_host(_BridgePlugin(), "test-pairs"):
        assert paired_checkpoint(ck, "test-clean", {}, None) == Path("clean")
        with pytest.raises(MatsError, match="pairs_with must be 'clean' or 'noise'"):
            paired_checkpoint(ck, "test-odd", {}, None)


def test_a_set_missing_a_half_is_refused_not_stood_in_for(tmp_path):
    """A set with only noise/ once ran bridge none (pairs_with clean) on the noise checkpoint in
    silence (issue 35); now the bridge that needs the missing half is refused, naming it."""
    import shutil

    from mats_core import MatsError
    from mats_core.bench.pairing import any_checkpoint, find_checkpoints, paired_checkpoint
    from mats_core.registry.presets import checkpoint_sets, resolve_path

    shipped = resolve_path(checkpoint_sets(None)["tiny+tiny"])
    shutil.copytree(shipped / "noise", tmp_path / "set" / "noise")
    ckpts = find_checkpoints(tmp_path / "set", "tiny", "tiny", None)
    assert set(ckpts) == {"noise"} and any_checkpoint(ckpts) == tmp_path / "set" / "noise"
    assert paired_checkpoint(ckpts, "santa", {}, None) == tmp_path / "set" / "noise"
    with pytest.raises(MatsError, match=r"bridge 'none' runs on the clean-trained checkpoint.*only noise/"):
        paired_checkpoint(ckpts, "none", {}, None)
    shutil.copytree(shipped / "audio", tmp_path / "set" / "audio")  # a third half is no stand-in either
    with pytest.raises(MatsError, match=r"has only audio/, noise/"):
        paired_checkpoint(find_checkpoints(tmp_path / "set", "tiny", "tiny", None), "none", {}, None)
    single = find_checkpoints(tmp_path / "set" / "noise", "tiny", "tiny", None)  # one checkpoint: both
    assert paired_checkpoint(single, "none", {}, None) == tmp_path / "set" / "noise"


def test_tables_show_the_declared_headline_metrics():
    from mats_core.report.markdown import as_markdown, columns

    rows = [("a", {"t": {"bleu_4": 0.1, "cider": 0.2, "n": 4.0}, "u": {"x": 1.0, "n": 4.0}})]
    kinds = {"t": "caption", "u": "qa"}
    assert columns(rows, kinds, {"t": ["cider", "bleu_4", "spider"], "u": None}) == [
        ("t", "cider"),
        ("t", "bleu_4"),
        ("u", "n"),
        ("u", "x"),
    ]  # declared order; undeclared: every metric
    assert "t cider | t bleu_4 |" in as_markdown(rows, kinds, {"t": ["cider", "bleu_4"]})


class _WideBridge(_CleanBridge):
    key_params = ("width",)  # what the run's footer shows next to the row

    def __init__(self, width: float = 2.0, k: int = 3):
        self.width, self.k = width, k


class _WidePlugin:
    @hookimpl
    def register_bridges(self, register):
        register("test-wide", _WideBridge)


def test_the_footer_shows_the_params_a_bridge_names():
    from mats_core.bench.rundir import key_bridge_params
    from mats_core.testing import plugin_host

    assert key_bridge_params("santa", None, {"lam": 0.5}) == {
        "k": 32,
        "lam": 0.5,
        "temperature": 10.0,
        "search": "exact",
    }
    assert key_bridge_params("noise", None, {}) == {}
    with plugin_host(_WidePlugin(), "test-wide"):
        assert key_bridge_params("test-wide", None, {"width": 4.0}) == {"width": 4.0}  # its own, not Santa's `k`

"""The real CLAP encoders (plugin mats_clap): laion-clap and msclap.

Light tests (registration, the missing-extra message, safe checkpoint loading) run in any
venv. The rest need the packages (pip install 'mats-bench[laion,msclap]') and are skipped
without them. They never touch the network: both packages load hard-coded hub repos, so a
fake hub cache of small random models is built once here (tests/fake_hub.py, a few
seconds), random CLAP weights are saved by the test, and each plugin must reproduce the
package's own embeddings from them.

HF_HUB_OFFLINE / HF_HUB_CACHE must be set before transformers is imported: tests/conftest.py
sets HF_HUB_OFFLINE=1 for the session; HF_HUB_CACHE is set below at import time, and the
``hub`` fixture also points already-imported hub modules at it (for when another test
module imported transformers first).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

HAVE_LAION = importlib.util.find_spec("laion_clap") is not None
HAVE_MSCLAP = importlib.util.find_spec("msclap") is not None
FAKE_HUB = Path(tempfile.gettempdir()) / f"mats-fake-hub-{os.getpid()}"
HUB_ENV = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "HF_HUB_CACHE")}  # restored after the module
if HAVE_LAION or HAVE_MSCLAP:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_HUB_CACHE"] = str(FAKE_HUB)

import torch  # noqa: E402  (after the environment above)

from mats_core import MatsError, build  # noqa: E402
from mats_core.testing import check_encoder, tones  # noqa: E402

# Not pytest.importorskip: importing laion_clap loads tokenizers from the hub (before the
# fake hub exists), and a broken msclap import raises OSError, not ImportError.
needs_laion = pytest.mark.skipif(not HAVE_LAION, reason="laion-clap not installed (pip install 'mats-bench[laion]')")
needs_msclap = pytest.mark.skipif(not HAVE_MSCLAP, reason="msclap not installed (pip install 'mats-bench[msclap]')")
TEXTS = ["a dog barks in the distance", "rain falls on a tin roof"]


# -- registration and missing extras (any venv) ------------------------------------------------
def test_plugins_lists_both_encoders_without_importing_them():
    code = (
        "import json, sys; from mats_core.registry.plugins import get_host; p = get_host().plugins['mats_clap']; "
        "print(json.dumps({'status': p.status, 'provides': p.provides, "
        "'imported': [m for m in ('laion_clap', 'msclap', 'mats_clap.laion', 'mats_clap.ms') if m in sys.modules]}))"
    )
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert out == {"status": "ok", "provides": {"encoder": ["laion-clap", "msclap"]}, "imported": []}
    listing = subprocess.run(
        [sys.executable, "-m", "mats_core.cli", "plugins", "--json"], capture_output=True, text=True, check=True
    )
    rows = {r["name"]: r for r in json.loads(listing.stdout)}
    assert rows["mats_clap"]["provides"]["encoder"] == ["laion-clap", "msclap"]


@pytest.mark.parametrize(
    "name, module, extra, params",
    [
        ("laion-clap", "laion_clap", "laion", {"checkpoint": "clap.pt"}),
        ("msclap", "msclap", "msclap", {"model_fp": "clap.pth"}),
    ],
)
def test_missing_package_says_what_to_install(monkeypatch, name, module, extra, params):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(MatsError, match=rf"pip install 'mats-bench\[{extra}\]'"):
        build("encoder", name, **params)


def test_params_are_validated():
    with pytest.raises(MatsError, match="version"):
        build("encoder", "msclap", version="2024")
    with pytest.raises(MatsError, match="tmodel"):
        build("encoder", "laion-clap", tmodel="gpt")


# -- safe checkpoint loading (any venv) ---------------------------------------------------------
def _read(path, trust=False):
    from mats_clap._checkpoint import read_checkpoint

    return read_checkpoint(path, plugin="laion-clap", param="checkpoint", trust=trust)


def test_checkpoint_plain_tensors_and_safetensors_load(tmp_path):
    from safetensors.torch import save_file

    state = {"w": torch.randn(3, 2), "b": torch.zeros(3)}
    torch.save({"state_dict": state, "epoch": 7}, tmp_path / "plain.pt")
    loaded = _read(tmp_path / "plain.pt")
    assert loaded["epoch"] == 7 and torch.equal(loaded["state_dict"]["w"], state["w"])
    save_file(state, tmp_path / "w.safetensors")
    assert torch.equal(_read(tmp_path / "w.safetensors")["b"], state["b"])


def test_checkpoint_pickle_refused_unless_trusted_and_convertible(tmp_path):
    weights = {"w": torch.arange(6.0).reshape(2, 3).T, "b": torch.ones(2)}  # w is not contiguous
    torch.save({"state_dict": weights, "args": argparse.Namespace(lr=0.1)}, tmp_path / "pickled.pt")
    with pytest.raises(MatsError) as err:
        _read(tmp_path / "pickled.pt")
    msg = str(err.value)
    for part in (
        "refusing to unpickle",
        "argparse.Namespace",
        "arbitrary code",
        "trust_checkpoint=true",
        "safetensors",
    ):
        assert part in msg
    assert _read(tmp_path / "pickled.pt", trust=True)["args"].lr == 0.1
    # the conversion command the message gives works, and its output loads
    command = msg.splitlines()[-1].strip().replace("python -c", f"'{sys.executable}' -c", 1)
    subprocess.run(command, shell=True, cwd=tmp_path, check=True, capture_output=True)
    converted = _read(tmp_path / "clap.safetensors")
    assert converted.keys() == weights.keys() and all(torch.equal(converted[k], weights[k]) for k in weights)


def test_checkpoint_bad_files(tmp_path):
    with pytest.raises(MatsError, match="is not a file"):
        _read(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint" * 8)
    with pytest.raises(MatsError, match="not a readable PyTorch checkpoint"):
        _read(tmp_path / "junk.pt", trust=True)


def test_state_dict_fitting():
    from mats_clap._checkpoint import fingerprint, load_into, state_dict_of

    model = torch.nn.Sequential(torch.nn.Linear(2, 3))
    state = {f"module.{k}": v.clone() + 1 for k, v in model.state_dict().items()}  # saved from DDP
    state["module.text.embeddings.position_ids"] = torch.arange(4)  # a legacy buffer: dropped
    fitted = state_dict_of({"state_dict": state, "epoch": 1}, plugin="p", where="f")
    before = fingerprint(model)
    load_into(model, fitted, plugin="p", where="f", what="the model")
    assert torch.equal(model[0].bias, state["module.0.bias"]) and fingerprint(model) != before
    with pytest.raises(MatsError, match=r"1 weights missing \(e.g. 0.bias\)"):
        load_into(model, {"0.weight": torch.zeros(3, 2)}, plugin="p", where="f", what="the model")
    with pytest.raises(MatsError, match="1 unknown weights"):
        load_into(model, {**model.state_dict(), "head.weight": torch.zeros(1)}, plugin="p", where="f", what="the model")
    with pytest.raises(MatsError, match="size mismatch"):
        load_into(
            model, {"0.weight": torch.zeros(5, 2), "0.bias": torch.zeros(5)}, plugin="p", where="f", what="the model"
        )
    with pytest.raises(MatsError, match="holds no state dict"):
        state_dict_of({"epoch": 1}, plugin="p", where="f")


# -- the packages, offline against a fake hub ---------------------------------------------------
@pytest.fixture(scope="module")
def hub():
    """The fake hub cache, also for hub modules imported before this file set HF_HUB_CACHE."""
    from fake_hub import build_fake_hub

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_HUB_CACHE", str(FAKE_HUB))
        if "huggingface_hub.constants" in sys.modules:
            mp.setattr(sys.modules["huggingface_hub.constants"], "HF_HUB_CACHE", str(FAKE_HUB))
            mp.setattr(sys.modules["huggingface_hub.constants"], "HF_HUB_OFFLINE", True)
        if "transformers.utils.hub" in sys.modules:
            mp.setattr(sys.modules["transformers.utils.hub"], "TRANSFORMERS_CACHE", str(FAKE_HUB), raising=False)
            mp.setattr(sys.modules["transformers.utils.hub"], "_is_offline_mode", True, raising=False)
        yield build_fake_hub(FAKE_HUB)
    shutil.rmtree(FAKE_HUB, ignore_errors=True)
    for key, value in HUB_ENV.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def laion(hub, tmp_path_factory):
    """Random LAION-CLAP weights saved as a training-style pickle, the package's embeddings
    from them, and the plugin built from that file."""
    from mats_clap._compat import import_laion_clap

    laion_clap = import_laion_clap()
    torch.manual_seed(0)
    ref = laion_clap.CLAP_Module(enable_fusion=False, device="cpu", amodel="HTSAT-tiny", tmodel="roberta").eval()
    waves = tones(2, 48_000, seconds=1.5)
    with torch.no_grad():
        want_audio = ref.get_audio_embedding_from_data(waves, use_tensor=True)
        want_text = ref.get_text_embedding(TEXTS, use_tensor=True)
    ckpt = tmp_path_factory.mktemp("laion") / "epoch_1.pt"
    torch.save(
        {"epoch": 1, "state_dict": ref.model.state_dict(), "args": argparse.Namespace(amodel="HTSAT-tiny")}, ckpt
    )
    del ref
    encoder = build("encoder", "laion-clap", checkpoint=str(ckpt), trust_checkpoint=True)
    return SimpleNamespace(encoder=encoder, ckpt=ckpt, waves=waves, want_audio=want_audio, want_text=want_text)


@needs_laion
def test_laion_refuses_a_pickle_without_trust(laion):
    with pytest.raises(MatsError, match="refusing to unpickle .*argparse.Namespace.*trust_checkpoint=true"):
        build("encoder", "laion-clap", checkpoint=str(laion.ckpt))


@needs_laion
def test_laion_reproduces_the_package_from_a_checkpoint(laion):
    enc = laion.encoder
    assert (enc.dim, enc.sample_rate, enc.clip_seconds) == (512, 48_000, 10.0)
    audio, text = enc.embed_audio(laion.waves), enc.embed_text(TEXTS)
    assert audio.shape == (2, 512) and text.shape == (2, 512) and audio.dtype == torch.float32
    torch.testing.assert_close(audio, laion.want_audio, atol=1e-5, rtol=0)
    torch.testing.assert_close(text, laion.want_text, atol=1e-5, rtol=0)
    assert len(enc.fingerprint) == 64


@needs_laion
def test_laion_conforms_and_long_clips_are_deterministic(laion):
    enc = laion.encoder
    check_encoder(enc)
    long = tones(1, 48_000, seconds=12.0) * torch.linspace(0.2, 1.0, 12 * 48_000)  # not periodic over 10 s
    torch.testing.assert_close(enc.embed_audio(long), enc.embed_audio(long[:, 48_000 : 11 * 48_000]), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match=r"\[batch, samples\]"):
        enc.embed_audio(long[0])


@needs_laion
def test_laion_without_checkpoint_offline_says_what_to_pass(hub):
    with pytest.raises(MatsError, match="Pass --set encoder.checkpoint=PATH"):
        build("encoder", "laion-clap")
    with pytest.raises(MatsError, match="enable_fusion=false"):
        build("encoder", "laion-clap", tag="630k-audioset-fusion-best")


@needs_laion
@pytest.mark.slow  # two more model builds (~15 s of CPU)
def test_laion_fusion_is_the_package_with_a_fixed_chunk_draw(hub, tmp_path):
    import numpy as np

    from mats_clap._compat import import_laion_clap

    torch.manual_seed(0)
    ref = import_laion_clap().CLAP_Module(enable_fusion=True, device="cpu").eval()
    torch.save(ref.model.state_dict(), tmp_path / "fusion.pt")
    long = tones(1, 48_000, seconds=12.0) * torch.linspace(
        0.2, 1.0, 12 * 48_000
    )  # > 10 s: random chunks in the package
    with torch.no_grad():
        np.random.seed(0)
        want = ref.get_audio_embedding_from_data(long, use_tensor=True)
    enc = build(
        "encoder",
        "laion-clap",
        checkpoint=str(tmp_path / "fusion.pt"),
        enable_fusion=True,
        tag="630k-audioset-fusion-best",
    )
    assert enc.clip_seconds is None  # fusion reads whole clips
    state = np.random.get_state()
    got = enc.embed_audio(torch.cat([long, long.flip(-1)]))
    assert np.array_equal(np.random.get_state()[1], state[1])  # the global RNG is left alone
    torch.testing.assert_close(got[:1], want, atol=1e-5, rtol=0)
    torch.testing.assert_close(enc.embed_audio(long.flip(-1)), got[1:], atol=1e-5, rtol=0)


# Each MS-CLAP version's architecture and clip length, as its config ships them: 2023 is
# HTSAT audio + GPT-2 text, 7 s clips; 2022 is Cnn14 audio + BERT text (CLS token), 5 s clips.
MS_CLIP_SECONDS = {"2023": 7, "2022": 5}


@pytest.fixture(scope="module", params=sorted(MS_CLIP_SECONDS, reverse=True))
def ms(request, hub, tmp_path_factory):
    """Random MS-CLAP weights of one version in the package's file format, the package's own
    embeddings (CLAPWrapper, audio read from a file), and the plugin built from the file."""
    import soundfile as sf

    from mats_clap._compat import import_msclap

    version, seconds = request.param, MS_CLIP_SECONDS[request.param]
    msclap = import_msclap()
    d = tmp_path_factory.mktemp(f"msclap{version}")
    torch.save({"model": {}}, d / "empty.pth")  # CLAPWrapper loads with strict=False: random init
    torch.manual_seed(0)
    ref = msclap.CLAP(model_fp=str(d / "empty.pth"), version=version, use_cuda=False)
    ckpt = d / f"CLAP_weights_{version}.pth"
    torch.save({"model": ref.clap.state_dict()}, ckpt)
    waves = tones(2, 44_100, seconds=seconds)  # exactly the clip length: the wrapper neither crops nor pads
    files = []
    for i, w in enumerate(waves):
        files.append(str(d / f"{i}.wav"))
        sf.write(files[-1], w.numpy(), 44_100, subtype="FLOAT")
    want_audio = ref.get_audio_embeddings(files, resample=False)
    want_text = ref.get_text_embeddings(TEXTS)
    del ref
    encoder = build("encoder", "msclap", version=version, model_fp=str(ckpt))
    return SimpleNamespace(
        encoder=encoder,
        version=version,
        seconds=seconds,
        waves=waves,
        want_audio=want_audio,
        want_text=want_text,
        dir=d,
    )


@needs_msclap
def test_msclap_reproduces_the_package_from_a_checkpoint(ms):
    enc = ms.encoder
    assert (enc.version, enc.dim, enc.sample_rate, enc.clip_seconds) == (ms.version, 1024, 44_100, ms.seconds)
    audio, text = enc.embed_audio(ms.waves), enc.embed_text(TEXTS)
    assert audio.shape == (2, 1024) and text.shape == (2, 1024) and audio.dtype == torch.float32
    torch.testing.assert_close(audio, ms.want_audio, atol=1e-5, rtol=0)
    torch.testing.assert_close(text, ms.want_text, atol=1e-5, rtol=0)


@needs_msclap
def test_msclap_conforms_and_fits_clip_length(ms):
    enc = ms.encoder
    check_encoder(enc)
    # The tones repeat every second, so 3 s repeated to the clip length (as the package pads)
    # is the clip, and the middle of the clip with a second added on each side is that clip too.
    torch.testing.assert_close(enc.embed_audio(ms.waves[:, : 3 * 44_100]), ms.want_audio, atol=1e-4, rtol=0)
    long = torch.cat([ms.waves[:, -44_100:], ms.waves, ms.waves[:, :44_100]], dim=1)
    torch.testing.assert_close(enc.embed_audio(long), ms.want_audio, atol=1e-5, rtol=0)


@needs_msclap
def test_msclap_refuses_the_other_versions_checkpoint(ms):
    other = next(v for v in MS_CLIP_SECONDS if v != ms.version)  # the file names differ by the year only
    with pytest.raises(
        MatsError, match=f"CLAP_weights_{ms.version}.pth does not fit MS-CLAP version {other}: .*size mismatch"
    ):
        build("encoder", "msclap", version=other, model_fp=str(ms.dir / f"CLAP_weights_{ms.version}.pth"))


@needs_msclap
def test_msclap_refuses_pickles_and_needs_a_file_offline(ms):
    torch.save(
        {"model": {"logit_scale": torch.ones(())}, "args": argparse.Namespace(version="2023")}, ms.dir / "pickled.pth"
    )
    with pytest.raises(MatsError, match="refusing to unpickle .*trust_checkpoint=true"):
        build("encoder", "msclap", model_fp=str(ms.dir / "pickled.pth"))
    with pytest.raises(MatsError, match="Pass --set encoder.model_fp=PATH"):
        build("encoder", "msclap")


@needs_msclap
def test_msclap_import_keeps_host_warnings_and_logging(monkeypatch):
    # On import msclap's __init__ ignores all warnings and sets transformers' logging to
    # errors only; import it afresh (the old modules come back after the test).
    from transformers.utils import logging

    from mats_clap._compat import import_msclap

    for name in [m for m in sys.modules if m == "msclap" or m.startswith("msclap.")]:
        monkeypatch.delitem(sys.modules, name)
    level, before = logging.get_verbosity(), list(warnings.filters)
    import_msclap()
    assert "msclap.CLAPWrapper" in sys.modules
    assert not [
        f for f in warnings.filters if f not in before and f[0] == "ignore" and f[1] is None and f[2] is Warning
    ]
    assert logging.get_verbosity() == level

"""Plugin loading: entry points, isolation of broken plugins, filters, conflicts, presets."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mats_core
from mats_core import MatsError, build, hookimpl
from mats_core.registry.plugins import PluginHost, get_host, reset_host

FIXTURES = Path(__file__).parent / "fixtures"


class GoodPlugin:
    @hookimpl
    def register_bridges(self, register):
        register("test-identity", lambda scale: ("identity", scale))


class BrokenHookPlugin:
    @hookimpl
    def register_bridges(self, register):
        raise RuntimeError("boom in hook")


class ConflictPlugin:
    @hookimpl
    def register_bridges(self, register):
        register("test-identity", lambda: "other")


def test_builtin_plugins_load():
    host = get_host()
    assert host.plugins["mats_bridges"].status == "ok"
    assert host.plugins["mats_bridges"].source == "builtin"
    assert {"none", "noise", "memory", "santa"} <= set(host.names("bridge"))


def test_broken_hook_is_reported_and_others_keep_working():
    host = PluginHost(autoload=False)
    host.register_plugin(BrokenHookPlugin(), "broken")
    host.register_plugin(GoodPlugin(), "good")
    assert host.plugins["broken"].status == "error"
    assert "boom in hook" in host.plugins["broken"].error
    assert host.plugins["good"].status == "ok"
    assert host.get("bridge", "test-identity") is not None


def test_name_conflict_names_both_packages(monkeypatch):
    host = PluginHost(autoload=False)
    host.register_plugin(GoodPlugin(), "good", package="pkg-a")
    host.register_plugin(ConflictPlugin(), "clash", package="pkg-b")
    monkeypatch.setattr("mats_core.registry.plugins._HOST", host)
    with pytest.raises(MatsError) as exc:
        build("bridge", "test-identity", scale=1)
    assert "pkg-a" in str(exc.value) and "pkg-b" in str(exc.value) and "MATS_DISABLE_PLUGINS" in str(exc.value)


def test_build_validates_params_against_the_factory_signature(monkeypatch):
    host = PluginHost(autoload=False)

    def factory(scale: float, name: str = "x"):
        return scale, name

    class P:
        @hookimpl
        def register_bridges(self, register):
            register("typed", factory)

    host.register_plugin(P(), "p")
    monkeypatch.setattr("mats_core.registry.plugins._HOST", host)
    assert build("bridge", "typed", scale="0.5") == (0.5, "x")
    with pytest.raises(MatsError, match="param 'scale'"):
        build("bridge", "typed", scale="not a number")
    with pytest.raises(MatsError, match="unknown param 'bogus'"):
        build("bridge", "typed", scale=1, bogus=2)


def test_filters_by_env(monkeypatch):
    monkeypatch.setenv("MATS_DISABLE_PLUGINS", "mats_bridges")
    host = PluginHost()
    assert host.plugins["mats_bridges"].status == "disabled"
    assert "santa" not in host.names("bridge")
    monkeypatch.delenv("MATS_DISABLE_PLUGINS")
    monkeypatch.setenv("MATS_PLUGINS", "mats_bridges")
    host = PluginHost()
    assert host.plugins["mats_bridges"].status == "ok"
    assert host.plugins["mats_hf"].status == "disabled"


def test_unknown_name_suggests_the_closest():
    with pytest.raises(MatsError, match=r"unknown encoder 'lain'; did you mean 'laion'\?"):
        mats_core.build("encoder", "lain")


def test_preset_bad_param_names_the_field():
    with pytest.raises(MatsError, match=r"bridge 'santa'.*'lam'"):
        build("bridge", "santa", lam=1.5)


def test_user_registry_adds_and_overrides(tmp_path):
    reg = tmp_path / "mine.yaml"
    reg.write_text("bridge:\n  gentle:\n    plugin: santa\n    params: {lam: 0.1, k: 4}\n")
    obj = build("bridge", "gentle", registry=reg)
    assert obj is not None
    bad = tmp_path / "bad.yaml"
    bad.write_text("bridges:\n  x: {plugin: santa}\n")
    with pytest.raises(MatsError, match="unknown section 'bridges'"):
        build("bridge", "x", registry=bad)


def test_missing_plugin_gives_install_hint(tmp_path):
    reg = tmp_path / "r.yaml"
    reg.write_text("encoder:\n  fancy:\n    plugin: not-installed-clap\n    extra: fancy\n")
    with pytest.raises(MatsError, match=r"pip install 'mats-bench\[fancy\]'"):
        build("encoder", "fancy", registry=reg)


def _pip_target(tmp_path, name):
    target = tmp_path / "site"
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
            str(FIXTURES / name),
        ],
        check=True,
        capture_output=True,
    )
    return target


def test_third_party_package_installed_with_pip(tmp_path):
    """A separate package (own pyproject, `mats` entry point) appears and builds; a broken one is
    listed with its error while every other plugin keeps working."""
    good = _pip_target(tmp_path / "a", "mats-example-plugin")
    bad = _pip_target(tmp_path / "b", "mats-broken-plugin")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(good), str(bad)])}
    out = subprocess.run(
        [sys.executable, "-m", "mats_core.cli", "plugins", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert rows["example"]["source"] == "third-party" and rows["example"]["status"] == "ok"
    assert rows["example"]["package"] == "mats-example-plugin"
    assert rows["example"]["provides"] == {"encoder": ["example-encoder"], "bridge": ["example-shift"]}
    assert rows["broken"]["status"] == "error" and "ModuleNotFoundError" in rows["broken"]["error"]
    assert rows["mats_bridges"]["status"] == "ok"
    code = (
        "import mats_core, torch\n"
        "enc = mats_core.build('encoder', 'example-encoder', dim=8)\n"
        "br = mats_core.build('bridge', 'example-shift', amount=0.5)\n"
        "z = torch.nn.functional.normalize(enc.embed_text(['a', 'b']), dim=-1)\n"
        "print(tuple(br.infer(z, torch.Generator()).shape))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(2, 8)"


def test_reset_host_reloads():
    h1 = get_host()
    reset_host()
    assert get_host() is not h1

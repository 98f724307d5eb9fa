"""Benchmark suites (benchmarks/suites/*.yaml, mats_core.config.suites): every shipped suite names
only known presets, tasks and params; bad suites fail with the file and the key; a suite
turns into the options `mats-bench run` takes."""

from pathlib import Path

import pytest

from mats_core import MatsError
from mats_core.config.suites import check_suite, load_suite, shipped_suites, suite_options

ROOT = Path(__file__).resolve().parents[1]
SUITES = sorted((ROOT / "benchmarks" / "suites").glob("*.yaml"))


def test_the_four_suites_are_shipped():
    assert [p.name for p in SUITES] == [
        "paper-captioning.yaml",
        "paper-closed-ended.yaml",
        "paper-comparison.yaml",
        "tiny.yaml",
    ]
    assert shipped_suites() == [str(p) for p in SUITES]


@pytest.mark.parametrize("path", SUITES, ids=lambda p: p.stem)
def test_every_shipped_suite_validates_every_name_and_param(path):
    from mats_core.registry.presets import resolved_params

    suite = load_suite(path)
    check_suite(suite)
    registry = suite.registry_path()
    for name, params in suite.tasks.items():  # task_token is the suite's, not a task param
        assert (
            resolved_params("task", name, registry, **{k: v for k, v in params.items() if k != "task_token"})["plugin"]
            == name
        )
    assert suite.description and suite.bridges


def test_the_suites_hold_the_papers_tasks_and_settings():
    from mats_core.model.generation import resolve_decoding

    by_name = {p.stem: p for p in SUITES}
    closed, captioning, tiny = (load_suite(by_name[n]) for n in ("paper-closed-ended", "paper-captioning", "tiny"))
    assert list(closed.tasks) == ["esc50", "urbansound8k", "vggsound", "clotho-aqa"]
    assert list(captioning.tasks) == ["clotho", "audiocaps", "musiccaps"]
    assert list(tiny.tasks) == ["tiny-caption", "tiny-classify", "tiny-qa"]
    for suite in (closed, captioning):
        assert suite.registry_path().endswith("benchmarks/recipes/mats-llama.yaml")
        assert suite.run["memory_size"] == 5172 and suite.run["crop"] == "random"
        assert resolve_decoding(suite.decoding) == {
            "num_beams": 4,
            "do_sample": False,
            "max_new_tokens": 200,
            "min_length": 1,
            "no_repeat_ngram_size": 2,
            "repetition_penalty": 2.0,
            "length_penalty": 1.0,
        }
    from mats_core.registry.presets import resolved_params

    santa = resolved_params("bridge", "mats-santa", closed.registry_path())["params"]
    assert {k: santa[k] for k in ("k", "lam", "temperature", "search", "clusters")} == {
        "k": 32,
        "lam": 0.3,
        "temperature": 10.0,
        "search": "kmeans",
        "clusters": 100,
    }
    splits = {n: resolved_params("task", n, None)["params"]["split"] for n in [*closed.tasks, *captioning.tasks]}
    assert splits == {
        "esc50": "all",
        "urbansound8k": "all",
        "vggsound": "test",
        "clotho-aqa": "test",
        "clotho": "evaluation",
        "audiocaps": "test",
        "musiccaps": "eval",
    }


def write(tmp_path, text, name="suite.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


BAD = [
    ("tasks: {tiny-qaa: {}}", "tasks.tiny-qaa: unknown task 'tiny-qaa'; did you mean 'tiny-qa'?"),
    ("tasks: {esc50: {fold: 9}}", "tasks.esc50: task 'esc50': param 'fold': Input should be less than or equal to 5"),
    ("tasks: {esc50: {folds: 1}}", "tasks.esc50: task 'esc50': unknown param 'folds'"),
    ("bridges: [none, santta]\ntasks: {tiny-qa: {}}", "bridges[1]: unknown bridge 'santta'"),
    ("encoder: nope\ntasks: {tiny-qa: {}}", "encoder: unknown encoder 'nope'"),
    (
        "tasks: {tiny-qa: {}}\nrun: {crop: middle}",
        "run: setting 'run.crop': Input should be 'center', 'random' or 'chunks'",
    ),
    ("tasks: {tiny-qa: {}}\nrun: {limt: 3}", "run: unknown setting 'run.limt'; did you mean 'limit'?"),
    (
        "tasks: {tiny-qa: {}}\ndecoding: {num_beam: 3}",
        "run: unknown setting 'decoding.num_beam'; did you mean 'num_beams'?",
    ),
    (
        "tasks: {tiny-qa: {}}\ndecoding: {max_new_tokens: -5}",
        "run: setting 'decoding.max_new_tokens': Input should be greater than",
    ),
    ("registry: missing.yaml\ntasks: {tiny-qa: {}}", "registry: "),
]


@pytest.mark.parametrize("text,message", BAD)
def test_a_bad_suite_names_the_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(MatsError) as exc:
        check_suite(load_suite(path))
    assert str(exc.value).startswith(f"{path}: ") and message in str(exc.value)


def test_malformed_and_missing_suite_files(tmp_path):
    with pytest.raises(
        MatsError, match=r"suite\.yaml: key 'tasks': Field required .*; unknown key 'bridge'; did you mean 'bridges'\?"
    ):
        load_suite(write(tmp_path, "bridge: [santa]\n"))
    with pytest.raises(MatsError, match=r"key 'tasks': Dictionary should have at least 1 item"):
        load_suite(write(tmp_path, "tasks: {}\n"))
    with pytest.raises(MatsError, match=r"not valid YAML"):
        load_suite(write(tmp_path, "tasks: [\n"))
    with pytest.raises(MatsError, match=r"nope\.yaml does not exist \(shipped suites: .*tiny\.yaml"):
        load_suite(tmp_path / "nope.yaml")


def test_params_two_tasks_share_and_the_command_line_wins(tmp_path):
    path = write(
        tmp_path,
        "tasks: {esc50: {fold: 2, esc10: true}, vggsound: {}, clotho: {}}\n"
        "run: {memory_size: 100, batch_size: 8, decoding: {num_beams: 2}}\ndecoding: {max_new_tokens: 9}\n",
    )
    opts = suite_options(path, sets={"run": {"batch_size": 4}, "bridge": {"lam": 0.5}})
    assert (opts.encoder, opts.llm, opts.bridge, opts.tasks) == (
        "tiny",
        "tiny",
        "none,noise,memory,santa",
        "esc50,vggsound,clotho",
    )
    assert opts.overrides == {
        "run": {"memory_size": 100, "batch_size": 4},
        "decoding": {"num_beams": 2, "max_new_tokens": 9},
        "tasks": {"esc50": {"fold": 2, "esc10": True}},
        "bridge": {"lam": 0.5},
    }
    assert opts.registry is None and opts.reference is True


def test_the_suite_registry_is_relative_to_the_suite_file(tmp_path):
    (tmp_path / "presets").mkdir()
    write(tmp_path / "presets", "bridge:\n  my-santa: {plugin: santa, params: {lam: 0.7}}\n", "reg.yaml")
    path = write(tmp_path, "registry: presets/reg.yaml\nbridges: [my-santa]\ntasks: {tiny-qa: {}}\n")
    opts = suite_options(path)
    assert opts.registry == str(tmp_path / "presets" / "reg.yaml") and opts.bridge == "my-santa"
    assert suite_options(path, registry=str(tmp_path / "presets" / "reg.yaml")).registry == opts.registry
    other = write(tmp_path, "bridge: {}\n", "other.yaml")
    with pytest.raises(MatsError, match="registry: the suite names .*reg.yaml and --registry gives .*other.yaml"):
        suite_options(path, registry=str(other))
    with pytest.raises(MatsError, match="bridges\\[0\\]: unknown bridge 'my-santa'"):
        check_suite(load_suite(write(tmp_path, "bridges: [my-santa]\ntasks: {tiny-qa: {}}\n", "noreg.yaml")))


SHIPPED = ROOT / "plugins" / "mats_tiny" / "weights" / "mats"


@pytest.mark.skipif(not (SHIPPED / "noise" / "config.json").exists(), reason="shipped tiny checkpoints not built")
def test_run_suite_through_the_cli(tmp_path):
    """`mats-bench run --suite FILE`: the suite's bridges, tasks, run and decoding settings drive the run."""
    import json

    from typer.testing import CliRunner

    from mats_core.cli.main import app

    path = write(
        tmp_path,
        "bridges: [noise]\ntasks: {tiny-qa: {}, tiny-classify: {}}\nrun: {limit: 2, batch_size: 2}\n"
        "decoding: {max_new_tokens: 4}\nreference: false\n",
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        ["run", "--suite", str(path), "--device", "cpu", "--output", str(out), "--set", "run.limit=3", "--seed", "5"],
    )
    assert res.exit_code == 0, res.output
    assert not any(p.is_dir() for p in out.iterdir())  # one bridge, no reference rows: the run is --output itself
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["bridge"]["name"] == "noise"
    assert results["config"]["tasks"] == ["tiny-qa", "tiny-classify"]
    assert results["config"]["run"]["limit"] == 3  # --set wins over the suite
    assert results["seed"] == 5  # so does an explicit option
    assert results["execution"]["batch_size"] == 2  # the suite's, where the command line says nothing
    assert results["results"]["tiny-qa"]["n"] == 3.0


def test_the_comparison_suite_puts_the_supervised_rows_beside_the_mats_rows():
    suite = load_suite(ROOT / "benchmarks" / "suites" / "paper-comparison.yaml")
    assert suite.audio_lms == ["qwen2-audio"] and "mats-santa" in suite.bridges and suite.reference
    assert {"mmau", "fsd50k", "esc50", "clotho-aqa", "clotho"} <= set(suite.tasks)
    assert suite_options(ROOT / "benchmarks" / "suites" / "paper-comparison.yaml").audio_lms == ["qwen2-audio"]


def test_a_suites_unknown_audio_lm_names_the_key(tmp_path):
    bad = tmp_path / "s.yaml"
    bad.write_text("tasks: {tiny-qa: {}}\naudio_lms: [qwen2-audoi]\n")
    with pytest.raises(MatsError, match=r"audio_lms\[0\]: .*qwen2-audio"):
        check_suite(load_suite(bad))

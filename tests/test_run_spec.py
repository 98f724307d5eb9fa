"""The run spec (mats_core.config.run_spec): one typed object per run, resolved by one rule:
registry defaults < suite < command line < --set; the training settings' defaults live once."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from mats_core.cli.main import app
from mats_core.config.run_spec import RunOptions, resolve_run_spec
from mats_core.config.train_config import TrainConfig
from mats_core.errors import MatsError


def command_params(name: str) -> set[str]:
    group = typer.main.get_group(app)
    return {p.name for p in group.commands[name].params}


def options(**given) -> RunOptions:
    """``mats-bench run``'s options as typer fills them, with ``given`` on top."""
    ctx = typer.main.get_group(app).commands["run"].make_context("run", [], resilient_parsing=True)
    return RunOptions.model_validate({**ctx.params, **given})


def test_every_run_option_is_a_field_of_the_spec_options_and_nothing_else():
    assert command_params("run") == set(RunOptions.model_fields)
    with pytest.raises(ValueError):
        RunOptions.model_validate({**options().model_dump(), "not_an_option": 1})  # no option bypasses the spec


def test_registry_defaults_fill_what_the_command_line_leaves_out(tmp_path: Path):
    spec = resolve_run_spec(options())
    assert (spec.encoder, spec.llm) == ("tiny", "tiny")
    assert spec.bridges == ["none", "noise", "memory", "santa"]
    assert spec.tasks == ["tiny-caption", "tiny-classify", "tiny-qa"]
    registry = tmp_path / "reg.yaml"
    registry.write_text("defaults:\n  bridges: santa\n  tasks: tiny-qa\n")
    spec = resolve_run_spec(options(registry=registry))
    assert (spec.bridges, spec.tasks, spec.registry) == (["santa"], ["tiny-qa"], str(registry))
    assert resolve_run_spec(options(registry=registry, bridge="none, noise")).bridges == ["none", "noise"]


def test_suite_then_command_line_then_set(tmp_path: Path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "encoder: tiny\nllm: tiny\nbridges: [memory]\ntasks: {tiny-qa: {}}\nrun: {limit: 7, seed: 3, batch_size: 4}\n"
    )
    spec = resolve_run_spec(options(suite=suite))
    assert spec.bridges == ["memory"] and spec.tasks == ["tiny-qa"]
    assert (spec.run_params["limit"], spec.run_params["seed"], spec.run_params["batch_size"]) == (7, 3, 4)
    spec = resolve_run_spec(options(suite=suite, limit=5, seed=1))  # the command line beats the suite
    assert (spec.run_params["limit"], spec.run_params["seed"], spec.run_params["batch_size"]) == (5, 1, 4)
    spec = resolve_run_spec(options(suite=suite, limit=5, set_=["run.limit=2", "run.batch_size=8"]))  # --set wins
    assert (spec.run_params["limit"], spec.run_params["batch_size"]) == (2, 8)


def test_values_are_checked_when_the_spec_is_built():
    for bad, why in (
        ({"limit": 1.5}, "whole number"),
        ({"batch_size": "0"}, "positive integer or 'auto'"),
        ({"controls": "silense"}, "unknown control"),
        ({"checkpoint": " , "}, "names no checkpoint"),
        ({"set_": ["mapper.width=4"]}, "mapper"),
    ):
        with pytest.raises(MatsError, match=why):
            resolve_run_spec(options(**bad))


def test_the_default_run_directory_key_names_what_changes_results():
    a, b = resolve_run_spec(options()), resolve_run_spec(options(limit=4))
    assert a.identity != b.identity and a.identity == resolve_run_spec(options()).identity
    assert a.identity["limit"] is None and b.identity["limit"] == 4


def test_the_training_defaults_live_once_in_train_config():
    from mats_core.cli.train import TrainOptions

    assert command_params("train") == set(TrainOptions.model_fields)
    ctx = typer.main.get_group(app).commands["train"].make_context("train", [], resilient_parsing=True)
    defaults = TrainOptions.model_validate(ctx.params)
    for key in ("steps", "batch_size", "lr", "seed", "device", "supervision"):
        assert getattr(defaults, key) is None, f"--{key} keeps its own default; TrainConfig.{key} is the one place"
        help_text = next(p.help for p in typer.main.get_group(app).commands["train"].params if p.name == key)
        assert f"({TrainConfig.model_fields[key].default})" in help_text

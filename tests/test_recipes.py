"""The paper recipes are valid user registries: every preset resolves and its params validate."""

from pathlib import Path

import pytest
import yaml

from mats_core.config.overrides import parse_sets
from mats_core.registry.presets import resolved_params

RECIPES = sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_presets_validate(recipe):
    raw = yaml.safe_load(recipe.read_text())
    for kind in ("bridge", "llm"):
        for name in raw.get(kind, {}):
            assert resolved_params(kind, name, registry=recipe)["params"]
    sets = [
        tok
        for line in recipe.read_text().splitlines()
        for tok in line.split()
        if "=" in tok and tok.count(".") >= 1 and not tok.startswith("-")
    ]
    parsed = parse_sets([s for s in sets if s.split("=")[0].split(".")[0] in {"train", "mapper", "run", "encoder"}])
    from mats_core.model.mapper import MapperConfig
    from mats_core.train.trainer import TrainConfig

    MapperConfig.model_validate(parsed["mapper"])
    TrainConfig.model_validate(parsed.get("train", {}))


def test_the_paper_recipes_are_found():
    """An empty RECIPES would make the test above collect zero cases and pass: the recipes the
    suites and docs name must be there."""
    assert {p.stem for p in RECIPES} >= {"mats-gpt2", "mats-llama"}

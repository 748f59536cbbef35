"""One definition of the training options (TrainConfig): archkit.train's keywords, the CLI's options
and the search's recipe are derived from it or checked against it here, so they cannot drift."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from typer.testing import CliRunner

import archkit
from archkit.cli import app
from archkit.search.config import SEARCH_DEFAULTS, SEARCH_SETS, TrainRecipe
from archkit.training import ConfigError
from archkit.training.config import TrainConfig, option

FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def test_the_search_recipe_is_trainconfig_less_what_the_search_sets():
    assert set(TrainRecipe.model_fields) == (set(FIELDS) - SEARCH_SETS) | {"device"}
    defaults = TrainRecipe()
    for name in set(FIELDS) - SEARCH_SETS:
        assert getattr(defaults, name) == SEARCH_DEFAULTS.get(name, FIELDS[name].default), name
    assert SEARCH_DEFAULTS == {"epochs": 3}  # the one deliberate difference: a trial is short


@pytest.mark.parametrize(("name", "value"), [("lr", -1.0), ("momentum", 1.0), ("schedule", "linear"),
                                             ("warmup_epochs", -0.5), ("label_smoothing", 1.0), ("batch_size", 0),
                                             ("precision", "fp8"), ("test_fraction", 0.0)])
def test_the_recipe_refuses_what_trainconfig_refuses_with_its_words(name, value):
    with pytest.raises(ConfigError) as direct:
        TrainConfig(**{name: value})
    with pytest.raises(Exception) as recipe:  # pydantic's ValidationError
        TrainRecipe.model_validate({name: value})
    assert str(direct.value).removeprefix(option(name) + " ") in str(recipe.value)


def test_archkit_train_takes_every_option():
    params = inspect.signature(archkit.train).parameters
    assert set(FIELDS) <= set(params)
    assert all(params[name].default is None for name in FIELDS)  # None = TrainConfig's default


def test_the_cli_has_every_option():
    out = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).stdout
    for name in FIELDS:
        flag = option(name)
        assert flag in out or f"{flag}/--no-{name.replace('_', '-')}" in out, flag

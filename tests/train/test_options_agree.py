"""One definition of the training options (TrainConfig): archkit.train's keywords, the CLI's options
and the search's recipe are derived from it. Checked here against the options written out by hand
(name, flag, default; the refusals' words), so that a drift in any of them, or in the derivation,
fails."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from typer.testing import CliRunner

import archkit
from archkit.cli import app
from archkit.search.config import TrainRecipe
from archkit.training import ConfigError
from archkit.training.config import TrainConfig

# Every training option: its command-line flag and its default (README's `archkit train` table).
OPTIONS = {
    "data": ("--data", "digits"), "epochs": ("--epochs", None), "steps": ("--steps", None),
    "batch_size": ("--batch-size", 64), "lr": ("--lr", 0.05), "momentum": ("--momentum", 0.9),
    "weight_decay": ("--weight-decay", 5e-4), "schedule": ("--schedule", "cosine"),
    "warmup_epochs": ("--warmup-epochs", 1.0), "label_smoothing": ("--label-smoothing", 0.0),
    "precision": ("--precision", "auto"), "channels_last": ("--channels-last", True),
    "compile": ("--compile", False), "seed": ("--seed", 0), "val_fraction": ("--val-fraction", 0.2),
    "train_fraction": ("--train-fraction", 1.0), "test_fraction": ("--test-fraction", 0.2),
    "workers": ("--workers", None), "download": ("--download", False),
    "skip_bad_images": ("--skip-bad-images", False), "eval_every": ("--eval-every", 1),
}
# What a search trial's recipe leaves out (the search sets them) and what it changes: trials are short.
SEARCH_SETS = {"data", "seed", "eval_every"}
SEARCH_DEFAULTS = {"epochs": 3}


def test_trainconfig_holds_every_option_with_its_default():
    assert {f.name: f.default for f in dataclasses.fields(TrainConfig)} == {k: d for k, (_, d) in OPTIONS.items()}


def test_the_search_recipe_is_trainconfig_less_what_the_search_sets():
    expected = {k: SEARCH_DEFAULTS.get(k, d) for k, (_, d) in OPTIONS.items() if k not in SEARCH_SETS}
    # plus the search's own: where trials run, and the cap of `batch_size: auto` (README, Search)
    assert TrainRecipe().model_dump() == {**expected, "device": "auto", "max_batch_size": None}


@pytest.mark.parametrize(("name", "value", "words"), [
    ("lr", -1.0, "must be in (0.0, inf), but got -1.0"),
    ("momentum", 1.0, "must be in [0.0, 1.0), but got 1.0"),
    ("schedule", "linear", "must be one of paper, cosine, onecycle, constant, but got 'linear'"),
    ("warmup_epochs", -0.5, "must be in [0.0, inf), but got -0.5"),
    ("label_smoothing", 1.0, "must be in [0.0, 1.0), but got 1.0"),
    ("batch_size", 0, "must be a positive integer, but got 0"),
    ("precision", "fp8", "must be one of auto, fp32, bf16, fp16, but got 'fp8'"),
    ("test_fraction", 0.0, "must be in (0.0, 1.0), but got 0.0"),
])
def test_the_recipe_refuses_what_trainconfig_refuses_with_its_words(name, value, words):
    with pytest.raises(ConfigError) as direct:
        TrainConfig(**{name: value})
    assert str(direct.value) == f"{OPTIONS[name][0]} {words}"
    with pytest.raises(Exception) as recipe:  # pydantic's ValidationError, under the field's name
        TrainRecipe.model_validate({name: value})
    # (batch_size may also be `auto` in a search: the error is under the union's integer member)
    assert f"{name}\n  Value error, {words}" in str(recipe.value) or (
        name == "batch_size" and f"Value error, {words}" in str(recipe.value))


def test_archkit_train_takes_every_option():
    params = inspect.signature(archkit.train).parameters
    assert set(OPTIONS) <= set(params)
    assert all(params[name].default is None for name in OPTIONS)  # None = TrainConfig's default


def test_the_cli_has_every_option():
    out = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).stdout
    for name, (flag, _) in OPTIONS.items():
        assert flag in out, flag

import pytest

from archkit.training.config import TrainConfig, make_config
from archkit.training.errors import ConfigError, ResumeError


def test_defaults():
    c = TrainConfig()
    assert (c.data, c.batch_size, c.lr, c.momentum, c.schedule, c.precision) == ("digits", 64, 0.05, 0.9, "cosine",
                                                                                "auto")
    assert c.target_epochs == 10
    assert (c.val_fraction, c.test_fraction) == (0.2, 0.2)
    assert TrainConfig(steps=7).target_epochs is None
    assert TrainConfig(epochs=3).target_epochs == 3


@pytest.mark.parametrize("kwargs, message", [
    (dict(batch_size=0), "--batch-size must be a positive integer, but got 0"),
    (dict(batch_size=True), "--batch-size must be a positive integer, but got True"),
    (dict(epochs=2, steps=5), "give --epochs or --steps, not both"),
    (dict(lr=0.0), r"--lr must be in \(0.0, inf\), but got 0.0"),
    (dict(lr=float("nan")), "--lr must be in"),
    (dict(momentum=1.0), r"--momentum must be in \[0.0, 1.0\), but got 1.0"),
    (dict(label_smoothing=-0.1), "--label-smoothing must be in"),
    (dict(val_fraction=1.0), "--val-fraction must be in"),
    (dict(test_fraction=0.0), r"--test-fraction must be in \(0.0, 1.0\), but got 0.0"),
    (dict(test_fraction=1.5), "--test-fraction must be in"),
    (dict(val_fraction=0.5, test_fraction=0.5), r"^--val-fraction 0.5 and --test-fraction 0.5 must add up to less "
                                                r"than 1 \(the training split is the rest\), but they add up to 1$"),
    (dict(val_fraction=0.7, test_fraction=0.4), "must add up to less than 1"),
    (dict(schedule="step"), "--schedule must be one of paper, cosine, onecycle, constant, but got 'step'"),
    (dict(precision="fp8"), "--precision must be one of auto, fp32, bf16, fp16, but got 'fp8'"),
    (dict(workers=-1), "--workers must be an integer >= 0, but got -1"),
])
def test_bad_values_are_named_with_the_value(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)


def test_make_config_takes_given_values_and_defaults():
    c = make_config({"lr": 0.2, "epochs": None, "data": "synthetic"})
    assert c.lr == 0.2 and c.data == "synthetic" and c.epochs is None and c.batch_size == 64
    with pytest.raises(TypeError, match="unknown training options"):
        make_config({"learning_rate": 0.1})


def test_resume_keeps_the_checkpoint_settings_and_refuses_changes():
    saved = TrainConfig(lr=0.3, epochs=5, schedule="paper").to_dict()
    c = make_config({"lr": None, "schedule": None}, saved)
    assert (c.lr, c.schedule, c.epochs) == (0.3, "paper", 5)
    assert make_config({"lr": 0.3}, saved).lr == 0.3  # the same value is fine
    with pytest.raises(ResumeError, match="--lr 0.1 differs from the checkpoint's 0.3"):
        make_config({"lr": 0.1}, saved)
    extended = make_config({"steps": 99, "compile": True}, saved)
    assert (extended.steps, extended.epochs, extended.compile) == (99, None, True)
    with pytest.raises(ResumeError, match="--test-fraction 0.3 differs from the checkpoint's 0.2"):
        make_config({"test_fraction": 0.3}, saved)  # it decides the training images


def test_resume_refuses_a_checkpoint_from_before_the_test_split():
    saved = TrainConfig().to_dict()
    del saved["test_fraction"]
    with pytest.raises(ResumeError, match="the checkpoint predates the train/val/test split"):
        make_config({}, saved)

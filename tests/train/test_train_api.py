import json
import subprocess
import sys

import pytest
import torch

import archkit
from archkit.training import ConfigError, DataError

from .formats import write_pngs

# A slightly wider tiny net for the accuracy check: the digits at their own 8x8 size.
ACCURATE = """
name: tiny-digits
input: {channels: 1, size: 8}
classes: 10
defaults: {activation: relu, batch_norm: true, bias: false}
layers:
  - {name: conv1, conv: {out: 32, kernel: 3}}
  - {name: inc, inception: {1x1: 16, 3x3_reduce: 16, 3x3: 32, 5x5_reduce: 8, 5x5: 16, pool_proj: 16}}
  - {name: avgpool, global_avgpool: {}}
  - {name: linear, linear: {}}
"""


def test_digits_reaches_90_percent_in_seconds():
    # The small, fast stand-in for the README's figure (googlenet-32, 10 epochs, >= 95%).
    spec = archkit.spec_from_yaml(ACCURATE)
    result = archkit.train(spec, "digits", epochs=4, batch_size=32, lr=0.4, warmup_epochs=0.5)
    assert result.val_top1 >= 0.90, result.history
    assert result.val_top5 >= result.val_top1 and len(result.history) == 4
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]


def test_result_and_metrics_json(tiny, tmp_path):
    out = tmp_path / "runs" / "m.json"
    result = archkit.train(tiny, "synthetic", epochs=1, batch_size=64, metrics_out=out)
    data = json.loads(out.read_text())
    for key in ("val_top1", "val_top5", "train_images_per_s", "seconds", "epochs", "device", "precision", "history"):
        assert key in data
    assert data == result.to_dict() and "model" not in data
    assert 0 <= data["val_top1"] <= data["val_top5"] <= 1 and data["train_images_per_s"] > 0
    assert data["epochs"] == 1 and data["steps"] == 8 and data["device"] == "cpu"  # 512 images / 64
    assert data["history"][0]["epoch"] == 1 and data["config"]["batch_size"] == 64
    assert isinstance(result.model, torch.nn.Module)


def test_the_classifier_follows_the_data(tiny, cifar100_root, capsys):
    result = archkit.train(tiny, f"cifar100:{cifar100_root}", steps=2, batch_size=8)
    err = capsys.readouterr().err
    assert err.count("has 100 classes and tiny 10: the classifier (and any aux heads) follow the data") == 1
    assert result.classes == 100 and result.model.linear.fc.out_features == 100


def test_aux_heads_follow_the_data_too(tiny_aux, cifar10_root, tmp_path):
    write_pngs(tmp_path / "f", {"a": 4, "b": 4, "c": 4})
    result = archkit.train(tiny_aux, f"imagefolder:{tmp_path / 'f'}", steps=2, batch_size=4, workers=0)
    head = getattr(result.model, result.model.aux_names[0])
    assert result.classes == 3 and head.linear.fc.out_features == 3
    cifar = archkit.train(tiny_aux, f"cifar10:{cifar10_root}", steps=1, batch_size=10)
    assert cifar.classes == 10 and cifar.data.startswith("cifar10:")


def test_bad_input_fails_before_training(tiny, tmp_path):
    with pytest.raises(DataError, match="unknown data 'mnist'"):
        archkit.train(tiny, "mnist")
    with pytest.raises(DataError, match="no such folder"):
        archkit.train(tiny, f"imagefolder:{tmp_path / 'none'}")
    with pytest.raises(ConfigError, match="give --epochs or --steps, not both"):
        archkit.train(tiny, epochs=1, steps=1)
    with pytest.raises(ConfigError, match="--device must be auto, cpu, cuda or cuda:N, but got 'tpu'"):
        archkit.train(tiny, "synthetic", steps=1, device="tpu")
    with pytest.raises(ConfigError, match="--nproc must be a positive integer, but got 0"):
        archkit.train(tiny, nproc=0)


def test_train_leaves_the_callers_rng_alone(tiny):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    archkit.train(tiny, "synthetic", steps=1, batch_size=16)
    assert torch.equal(torch.rand(3), expected)


def test_on_epoch_gets_each_epochs_metrics(tiny):
    seen = []
    archkit.train(tiny, "synthetic", epochs=2, batch_size=128, on_epoch=lambda e, m: seen.append((e, m["val_top1"])))
    assert [e for e, _ in seen] == [0, 1] and all(0 <= acc <= 1 for _, acc in seen)


def test_import_archkit_does_not_import_torch_and_train_stays_a_function():
    code = ("import sys, archkit, archkit.training.commands; assert 'torch' not in sys.modules; "
            "import archkit.cli, archkit.training.api; "
            "assert callable(archkit.train) and archkit.train.__module__ == 'archkit.training'")
    subprocess.run([sys.executable, "-c", code], check=True)

import json
import subprocess
import sys

import pytest
import torch

import archkit
from archkit.training import ConfigError, DataError

from ..conftest import whole_images
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
    assert whole_images(data["val_top1"], 256) and whole_images(data["val_top5"], 256)  # synthetic: 256 val
    assert data["epochs"] == 1 and data["steps"] == 8 and data["device"] == "cpu"  # 512 images / 64
    assert data["history"][0]["epoch"] == 1 and data["config"]["batch_size"] == 64
    assert isinstance(result.model, torch.nn.Module)


def test_the_classifier_follows_the_data(tiny, cifar100_root, caplog):
    with caplog.at_level("WARNING", logger="archkit"):
        result = archkit.train(tiny, f"cifar100:{cifar100_root}", steps=2, batch_size=8)
    notes = [r.getMessage() for r in caplog.records if r.name.startswith("archkit")]
    assert sum("has 100 classes and tiny 10: the classifier (and any aux heads) follow the data" in n
               for n in notes) == 1
    assert result.classes == 100 and result.model.linear.fc.out_features == 100


def test_aux_heads_follow_the_data_too(tiny_aux, cifar10_root, tmp_path):
    write_pngs(tmp_path / "f", {"a": 4, "b": 4, "c": 4})
    result = archkit.train(tiny_aux, f"imagefolder:{tmp_path / 'f'}", steps=2, batch_size=4, workers=0,
                           score_test=True)
    head = getattr(result.model, result.model.aux_names[0])
    assert result.classes == 3 and head.linear.fc.out_features == 3
    # a folder's test split goes through its own loader, made when it is scored
    assert result.split_sizes == {"train": 8, "val": 2, "test": 2} and result.test_top1 in (0.0, 0.5, 1.0)
    cifar = archkit.train(tiny_aux, f"cifar10:{cifar10_root}", steps=1, batch_size=10)
    assert cifar.classes == 10 and cifar.data.startswith("cifar10:")


def test_bad_input_fails_before_training(tiny, tmp_path):
    with pytest.raises(DataError, match="unknown data 'svhn'"):
        archkit.train(tiny, "svhn")
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


@pytest.mark.slow  # trains on real data for 10+ s: left out of make test-fast
def test_score_test_equals_an_independent_evaluation_of_the_model(tiny):
    from archkit.training.data import load_data, parse_data

    # fp32 pinned: the numbers are compared with a plain evaluation in fp32
    result = archkit.train(tiny, "digits", epochs=1, batch_size=64, precision="fp32", score_test=True)
    assert result.split_sizes == {"train": 1079, "val": 359, "test": 359}
    data = load_data(parse_data("digits"), channels=3, hw=(8, 8), classes=10, val_fraction=0.2, batch_size=64)
    mean, std = torch.tensor(data.mean).view(1, -1, 1, 1), torch.tensor(data.std).view(1, -1, 1, 1)
    model = result.model.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(data.test), 128):  # the engine's evaluation batch: 2 x 64
            x = ((data.test.images[i:i + 128].float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last)
            y = data.test.labels[i:i + 128]
            logits = model(x)
            correct += int((logits.argmax(1) == y).sum())
            loss += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
    assert result.test_top1 == correct / 359
    assert result.test_loss == pytest.approx(loss / 359, rel=1e-5)
    assert result.test_top1 <= result.test_top5 <= 1
    assert len(result.history) == 1 and result.history[-1]["val_top1"] == result.val_top1
    assert not any(k.startswith("test_") for h in result.history for k in h)  # scored once, at the end


def test_test_fields_are_none_without_score_test_and_reach_the_json(tiny, tmp_path):
    plain = archkit.train(tiny, "synthetic", steps=3, batch_size=64)
    assert (plain.test_top1, plain.test_top5, plain.test_loss) == (None, None, None)
    assert plain.split_sizes == {"train": 512, "val": 256, "test": 256}
    out = tmp_path / "m.json"
    # stops mid-epoch (3 of 8 steps): the test split is still scored, once, at the end
    scored = archkit.train(tiny, "synthetic", steps=3, batch_size=64, score_test=True, metrics_out=out)
    data = json.loads(out.read_text())
    assert data["split_sizes"] == {"train": 512, "val": 256, "test": 256}
    assert data["test_top1"] == scored.test_top1 is not None and data["test_loss"] == scored.test_loss
    assert 0 <= data["test_top1"] <= data["test_top5"] <= 1
    assert whole_images(data["test_top1"], 256) and whole_images(data["test_top5"], 256)
    assert plain.to_dict()["test_top1"] is None
    # score_test does not change what is computed
    assert scored.val_top1 == plain.val_top1 and scored.val_loss == plain.val_loss


def test_bad_fractions_are_one_line_config_errors(tiny):
    with pytest.raises(ConfigError, match=r"^--val-fraction 0.5 and --test-fraction 0.5 must add up to less than 1"
                                          ) as err:
        archkit.train(tiny, val_fraction=0.5, test_fraction=0.5)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"--test-fraction must be in \(0.0, 1.0\), but got 1.0"):
        archkit.train(tiny, test_fraction=1.0)


def test_eval_every_scores_val_only_when_due_and_changes_no_weights(tiny):
    recipe = dict(epochs=3, batch_size=64, precision="fp32")
    every = archkit.train(tiny, "digits", **recipe)
    seen = []
    sparse = archkit.train(tiny, "digits", eval_every=2, on_epoch=lambda e, m: seen.append((e, "val_top1" in m)),
                           **recipe)
    assert seen == [(0, False), (1, True), (2, True)]  # epoch 2 (every 2nd) and epoch 3 (the last)
    end = archkit.train(tiny, "digits", eval_every=0, **recipe)
    assert ["val_top1" in h for h in end.history] == [False, False, True]
    # scoring val changes nothing a run computes: the same weights and the same scores where scored
    for name, value in every.model.state_dict().items():
        assert torch.equal(value, end.model.state_dict()[name]), name
    assert end.val_top1 == every.val_top1 and sparse.history[1]["val_top1"] == every.history[1]["val_top1"]
    assert [h["train_loss"] for h in end.history] == [h["train_loss"] for h in every.history]
    with pytest.raises(ConfigError, match="--eval-every must be"):
        archkit.train(tiny, "digits", eval_every=-1, epochs=1)

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from archkit.training.data import (
    DataSource,
    channel_stats,
    load_data,
    match_channels,
    parse_data,
    split_indices,
)
from archkit.training.errors import DataError

from .formats import cifar_images, write_cifar10, write_pngs


def load(text: str, channels: int = 3, hw=(32, 32), classes: int = 10, **kw):
    return load_data(parse_data(text), channels=channels, hw=hw, classes=classes, val_fraction=0.2,
                     batch_size=16, **kw)


def test_parse_data_kinds_and_errors(tmp_path):
    assert parse_data("digits") == DataSource("digits")
    assert parse_data("Synthetic") == DataSource("synthetic")
    assert parse_data(f"cifar10:{tmp_path}") == DataSource("cifar10", tmp_path)
    assert parse_data("imagefolder:~/x").root == Path("~/x").expanduser()
    with pytest.raises(DataError, match="unknown data 'svhn': use digits, fashion-mnist, synthetic"):
        parse_data("svhn")
    with pytest.raises(DataError, match="cifar100 needs a folder: cifar100:ROOT, but got 'cifar100'"):
        parse_data("cifar100")
    with pytest.raises(DataError, match="digits takes no folder"):
        parse_data("digits:/tmp")


def test_digits_real_images_split_deterministically():
    data = load("digits")
    assert data.classes == 10 and data.in_memory and not data.flip
    # 1,797 images, 20% held out for val and 20% for test (by class: see the stratified test below)
    assert (len(data.train), len(data.val), len(data.test)) == (1079, 359, 359)
    assert data.split_sizes == {"train": 1079, "val": 359, "test": 359}
    assert data.train.images.shape[1:] == (3, 8, 8) and data.train.images.dtype == torch.uint8
    assert int(data.train.images.max()) == 255 and set(data.val.labels.tolist()) == set(range(10))
    # gray repeated into the spec's three channels
    assert torch.equal(data.train.images[:, 0], data.train.images[:, 2])
    again = load("digits")
    assert torch.equal(again.val.labels, data.val.labels) and torch.equal(again.train.images, data.train.images)
    assert torch.equal(again.test.images, data.test.images)
    gray = load("digits", channels=1)
    assert gray.train.images.shape[1] == 1


def official_cifar10(per_batch: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixture's five training batches as (N, 3, 32, 32) images and labels, in file order."""
    rows = np.concatenate([cifar_images(per_batch, i) for i in range(1, 6)])
    labels = [(i * per_batch + k) % 10 for i in range(1, 6) for k in range(per_batch)]
    return torch.from_numpy(rows).reshape(-1, 3, 32, 32), torch.tensor(labels)


def test_cifar10_reads_the_python_batches(cifar10_root):
    data = load(f"cifar10:{cifar10_root}")
    assert data.classes == 10 and data.flip
    # the official test batch is the test split; val is 20% of the 30 official training images
    assert data.split_sizes == {"train": 24, "val": 6, "test": 10}
    test_rows = torch.from_numpy(cifar_images(10, 99)).reshape(-1, 3, 32, 32)  # R plane, then G, then B
    assert torch.equal(data.test.images, test_rows) and data.test.labels.tolist() == [k % 10 for k in range(10)]
    images, labels = official_cifar10()
    train, val, _ = split_indices(30, 0.2, 0.0, "x")  # the seeded draw, independent of --seed
    assert torch.equal(data.train.images, images[train]) and torch.equal(data.train.labels, labels[train])
    assert torch.equal(data.val.images, images[val]) and torch.equal(data.val.labels, labels[val])
    assert sorted(train.tolist() + val.tolist()) == list(range(30))
    # ROOT may also be the batches folder itself
    direct = load(f"cifar10:{cifar10_root / 'cifar-10-batches-py'}")
    assert torch.equal(direct.val.images, data.val.images) and torch.equal(direct.test.images, data.test.images)
    # test_fraction does not apply: CIFAR has its own test split
    other = load_data(parse_data(f"cifar10:{cifar10_root}"), channels=3, hw=(32, 32), classes=10,
                      val_fraction=0.5, test_fraction=0.4, batch_size=16)
    assert other.split_sizes == {"train": 15, "val": 15, "test": 10}


def test_cifar100_uses_fine_labels(cifar100_root):
    data = load(f"cifar100:{cifar100_root}", channels=1)
    assert data.classes == 100 and data.split_sizes == {"train": 32, "val": 8, "test": 12}
    train, val, _ = split_indices(40, 0.2, 0.0, "x")
    fine = torch.tensor([(7 * k) % 100 for k in range(40)])
    assert torch.equal(data.train.labels, fine[train]) and torch.equal(data.val.labels, fine[val])
    assert data.train.images.shape == (32, 1, 32, 32) and data.test.labels.tolist() == list(range(12))


def test_cifar_errors_are_one_line_and_name_the_problem(tmp_path):
    with pytest.raises(DataError, match=r"cifar10:.*missing: no such folder \(add --download"):
        load(f"cifar10:{tmp_path / 'missing'}")
    with pytest.raises(DataError, match="no cifar-10-batches-py/ folder"):
        load(f"cifar10:{tmp_path}")
    root = write_cifar10(tmp_path / "c")
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3 is missing"):
        load(f"cifar10:{root}")
    (root / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="data_batch_3 is not a CIFAR python pickle") as err:
        load(f"cifar10:{root}")
    assert "\n" not in str(err.value)
    with open(root / "cifar-10-batches-py" / "data_batch_3", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(DataError, match=r"has no 'data' of shape \(N, 3072\)"):
        load(f"cifar10:{root}")


def test_cifar_download_fetches_into_root(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    calls = []

    def fake_download(url, download_root, filename=None, md5=None, **kw):
        calls.append((url, download_root, filename))
        write_cifar10(Path(download_root))

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", fake_download)
    data = load(f"cifar10:{tmp_path / 'new'}", download=True)
    assert len(data.train) + len(data.val) == 30
    assert calls == [("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", str(tmp_path / "new"),
                      "cifar-10-python.tar.gz")]

    def failing(*a, **kw):
        raise OSError("network unreachable")

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", failing)
    with pytest.raises(DataError, match="download failed: network unreachable"):
        load(f"cifar10:{tmp_path / 'other'}", download=True)


def test_imagefolder_with_train_and_val(tmp_path):
    write_pngs(tmp_path / "train", {"cat": 3, "dog": 2, "eel": 2})
    write_pngs(tmp_path / "val", {"cat": 1, "dog": 1, "eel": 1}, seed=1)
    data = load(f"imagefolder:{tmp_path}")
    assert data.classes == 3 and not data.in_memory
    # val/ is the validation split; no test/: the test split is carved from train/ (round(7 * 0.2) = 1)
    assert data.split_sizes == {"train": 6, "val": 3, "test": 1}
    assert data.val.dataset.root == str(tmp_path / "val")
    carved = data.train.dataset.indices + data.test.dataset.indices
    assert sorted(carved) == list(range(7)) and data.test.dataset.dataset.root == str(tmp_path / "train")
    image, label = data.train.dataset.dataset[3]
    assert image.size == (20, 24) and label == 1  # dog


def test_imagefolder_with_train_val_and_test(tmp_path):
    write_pngs(tmp_path / "train", {"cat": 3, "dog": 2})
    write_pngs(tmp_path / "val", {"cat": 1, "dog": 1}, seed=1)
    write_pngs(tmp_path / "test", {"cat": 2, "dog": 2}, seed=2)
    data = load(f"imagefolder:{tmp_path}")
    assert data.split_sizes == {"train": 5, "val": 2, "test": 4}  # every folder as it is, nothing carved
    assert [d.dataset.root for d in (data.train, data.val, data.test)] == [
        str(tmp_path / name) for name in ("train", "val", "test")]


def test_imagefolder_with_train_and_test_carves_val(tmp_path):
    write_pngs(tmp_path / "train", {"a": 5, "b": 5})
    write_pngs(tmp_path / "test", {"a": 1, "b": 2}, seed=2)
    data = load(f"imagefolder:{tmp_path}")
    assert data.split_sizes == {"train": 8, "val": 2, "test": 3}
    assert data.test.dataset.root == str(tmp_path / "test")
    assert sorted(data.train.dataset.indices + data.val.dataset.indices) == list(range(10))
    write_pngs(tmp_path / "val", {"a": 1, "c": 1}, seed=1)
    with pytest.raises(DataError, match="train/ and val/ have different class folders"):
        load(f"imagefolder:{tmp_path}")
    write_pngs(tmp_path / "bad" / "train", {"a": 2, "b": 2})
    write_pngs(tmp_path / "bad" / "test", {"a": 1})
    with pytest.raises(DataError, match=r"train/ and test/ have different class folders \(2 vs 1\)") as err:
        load(f"imagefolder:{tmp_path / 'bad'}")
    assert "\n" not in str(err.value)
    write_pngs(tmp_path / "orphan" / "test", {"a": 1})
    write_pngs(tmp_path / "orphan" / "a", {"x": 1})
    with pytest.raises(DataError, match="test/ but no train/"):
        load(f"imagefolder:{tmp_path / 'orphan'}")


def test_imagefolder_seeded_split_and_errors(tmp_path):
    write_pngs(tmp_path / "flat", {"a": 5, "b": 5})
    data = load(f"imagefolder:{tmp_path / 'flat'}")
    assert data.split_sizes == {"train": 6, "val": 2, "test": 2}  # 20% and 20% of 10 carved
    again = load(f"imagefolder:{tmp_path / 'flat'}")
    assert data.val.dataset.indices == again.val.dataset.indices
    assert data.test.dataset.indices == again.test.dataset.indices
    parts = data.train.dataset.indices + data.val.dataset.indices + data.test.dataset.indices
    assert sorted(parts) == list(range(10))
    write_pngs(tmp_path / "two", {"a": 1, "b": 1})
    with pytest.raises(DataError, match=r"--val-fraction 0.2 and --test-fraction 0.2 of 2 image\(s\) leave no "
                                        r"training images"):
        load(f"imagefolder:{tmp_path / 'two'}")
    with pytest.raises(DataError, match="no such folder"):
        load(f"imagefolder:{tmp_path / 'nope'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="Couldn't find any class folder"):
        load(f"imagefolder:{tmp_path / 'empty'}")
    write_pngs(tmp_path / "mixed" / "train", {"a": 2, "b": 2})
    write_pngs(tmp_path / "mixed" / "val", {"a": 1, "c": 1})
    with pytest.raises(DataError, match="train/ and val/ have different class folders"):
        load(f"imagefolder:{tmp_path / 'mixed'}")
    with pytest.raises(DataError, match="1 or 3 channels, but the spec's input has 4"):
        load(f"imagefolder:{tmp_path / 'flat'}", channels=4)


def test_synthetic_follows_the_spec():
    data = load("synthetic", channels=1, hw=(12, 10), classes=7)
    assert data.classes == 7 and data.train.images.shape == (512, 1, 12, 10) and len(data.val) == 256
    assert int(data.train.labels.max()) <= 6
    assert data.test.images.shape == (256, 1, 12, 10) and not torch.equal(data.test.images, data.val.images)


def test_match_channels_and_stats():
    gray = torch.arange(4, dtype=torch.uint8).view(1, 1, 2, 2)
    assert torch.equal(match_channels(gray, 3, "x")[0, 1], gray[0, 0])
    rgb = torch.tensor([255, 0, 0], dtype=torch.uint8).view(1, 3, 1, 1)
    assert match_channels(rgb, 1, "x").item() == 76  # 0.299 * 255
    with pytest.raises(DataError, match="x: images have 3 channels, but the spec's input has 2"):
        match_channels(rgb, 2, "x")
    images = torch.randint(0, 256, (50, 3, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    mean, std = channel_stats(images, chunk=7)
    ref = images.double().div(255).permute(1, 0, 2, 3).reshape(3, -1)
    assert mean == pytest.approx(ref.mean(1).tolist()) and std == pytest.approx(ref.std(1, correction=0).tolist())


def test_digits_split_is_stratified_disjoint_and_seeded():
    from sklearn.datasets import load_digits

    labels = torch.from_numpy(load_digits().target).long()
    classes, counts = np.unique(labels.numpy(), return_counts=True)
    assert counts.tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    # by hand: round(0.2 * n) of each class for val and again for test, e.g. 0.2 * 178 = 35.6 -> 36
    held = [36, 36, 35, 37, 36, 36, 36, 36, 35, 36]
    assert [round(0.2 * int(n)) for n in counts] == held and sum(held) == 359
    train, val, test = split_indices(len(labels), 0.2, 0.2, "digits", labels=labels)
    for idx, want in ((val, held), (test, held), (train, [int(n) - 2 * h for n, h in zip(counts, held)])):
        got_classes, got = np.unique(labels[idx].numpy(), return_counts=True)
        assert got_classes.tolist() == classes.tolist() and got.tolist() == want
    assert (len(train), len(val), len(test)) == (1079, 359, 359)
    everything = torch.cat([train, val, test]).tolist()
    assert len(set(everything)) == len(everything) and sorted(everything) == list(range(1797))  # disjoint, all
    # seeded: the same on every call, and the same whatever --seed a run uses
    again = split_indices(len(labels), 0.2, 0.2, "digits", labels=labels)
    assert all(torch.equal(a, b) for a, b in zip((train, val, test), again))
    data = load("digits", channels=1)
    images = torch.from_numpy(load_digits().images).mul(255.0 / 16.0).round().to(torch.uint8).unsqueeze(1)
    for split, idx in ((data.train, train), (data.val, val), (data.test, test)):
        assert torch.equal(split.images, images[idx]) and torch.equal(split.labels, labels[idx])
    # other fractions: per class again
    _, v, t = split_indices(len(labels), 0.1, 0.3, "digits", labels=labels)
    assert np.unique(labels[v].numpy(), return_counts=True)[1].tolist() == [round(0.1 * int(n)) for n in counts]
    assert np.unique(labels[t].numpy(), return_counts=True)[1].tolist() == [round(0.3 * int(n)) for n in counts]


def test_digits_split_ignores_the_run_seed():
    import archkit

    from .conftest import TINY

    spec = archkit.spec_from_yaml(TINY)
    a = archkit.train(spec, "digits", steps=1, batch_size=64, seed=0)
    b = archkit.train(spec, "digits", steps=1, batch_size=64, seed=5)
    assert a.split_sizes == b.split_sizes == {"train": 1079, "val": 359, "test": 359}
    # the split draws from its own generator (SPLIT_SEED), not from the global RNG that --seed seeds
    torch.manual_seed(1)
    first = load("digits")
    torch.manual_seed(2)
    second = load("digits")
    assert all(torch.equal(getattr(first, s).labels, getattr(second, s).labels) and
               torch.equal(getattr(first, s).images, getattr(second, s).images) for s in ("train", "val", "test"))


def test_split_indices_errors_name_the_fractions():
    labels = torch.arange(20) % 2
    with pytest.raises(DataError, match=r"^d: --val-fraction 0.5 and --test-fraction 0.5 of 20 image\(s\) leave no "
                                        r"training images$"):
        split_indices(20, 0.5, 0.5, "d", labels=labels)
    with pytest.raises(DataError, match="--val-fraction 0.01 and --test-fraction 0.2 of 20 image.* no validation"):
        split_indices(20, 0.01, 0.2, "d", labels=labels)  # round(0.1) = 0 of each class
    train, val, test = split_indices(20, 0.01, 0.2, "d")  # unstratified: at least one image held out
    assert (len(train), len(val), len(test)) == (15, 1, 4)
    train, val, test = split_indices(5, 0.2, 0.0, "d")
    assert (len(train), len(val), len(test)) == (4, 1, 0)


def test_a_reduced_training_split_is_a_seeded_share_of_it():
    from archkit.training.data import reduced

    data = load_data(parse_data("digits"), channels=1, hw=(8, 8), classes=10, val_fraction=0.2, batch_size=64)
    small = reduced(data, 0.25)
    assert len(small.train) == round(1079 * 0.25) == 270
    assert small.val is data.val and small.test is data.test  # held-out splits unchanged
    rows = {tuple(x.flatten().tolist()) + (int(y),) for x, y in zip(data.train.images, data.train.labels)}
    assert all(tuple(x.flatten().tolist()) + (int(y),) in rows for x, y in zip(small.train.images, small.train.labels))
    again = reduced(data, 0.25)
    assert torch.equal(again.train.images, small.train.images)  # the same images on every call
    assert reduced(data, 1.0) is data


def test_train_fraction_trains_on_fewer_images(tiny):
    import archkit
    from archkit.training import ConfigError

    result = archkit.train(tiny, "digits", epochs=1, batch_size=64, train_fraction=0.25, precision="fp32")
    assert result.split_sizes == {"train": 270, "val": 359, "test": 359} and result.steps == 270 // 64
    for bad in (0.0, 1.5):
        with pytest.raises(ConfigError, match="--train-fraction must be in"):
            archkit.train(tiny, "digits", steps=1, train_fraction=bad)

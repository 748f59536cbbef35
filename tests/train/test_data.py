import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from archkit.training.data import (
    DataSource,
    TensorSet,
    channel_stats,
    load_data,
    match_channels,
    parse_data,
    seeded_split,
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
    with pytest.raises(DataError, match="unknown data 'mnist': use digits, synthetic"):
        parse_data("mnist")
    with pytest.raises(DataError, match="cifar100 needs a folder: cifar100:ROOT, but got 'cifar100'"):
        parse_data("cifar100")
    with pytest.raises(DataError, match="digits takes no folder"):
        parse_data("digits:/tmp")


def test_digits_real_images_split_deterministically():
    data = load("digits")
    assert data.classes == 10 and data.in_memory and not data.flip
    assert len(data.train) == 1438 and len(data.val) == 359  # 1,797 images, 20% held out
    assert data.train.images.shape[1:] == (3, 8, 8) and data.train.images.dtype == torch.uint8
    assert int(data.train.images.max()) == 255 and set(data.val.labels.tolist()) == set(range(10))
    # gray repeated into the spec's three channels
    assert torch.equal(data.train.images[:, 0], data.train.images[:, 2])
    again = load("digits")
    assert torch.equal(again.val.labels, data.val.labels) and torch.equal(again.train.images, data.train.images)
    gray = load("digits", channels=1)
    assert gray.train.images.shape[1] == 1


def test_cifar10_reads_the_python_batches(cifar10_root):
    data = load(f"cifar10:{cifar10_root}")
    assert data.classes == 10 and data.flip
    assert data.train.images.shape == (30, 3, 32, 32) and data.val.images.shape == (10, 3, 32, 32)
    row = cifar_images(6, 1)[0]  # data_batch_1, first image: R plane, then G, then B
    assert torch.equal(data.train.images[0, 0].flatten(), torch.from_numpy(row[:1024]))
    assert torch.equal(data.train.images[0, 2].flatten(), torch.from_numpy(row[2048:]))
    assert data.train.labels[:6].tolist() == [6, 7, 8, 9, 0, 1]
    # ROOT may also be the batches folder itself
    direct = load(f"cifar10:{cifar10_root / 'cifar-10-batches-py'}")
    assert torch.equal(direct.val.images, data.val.images)


def test_cifar100_uses_fine_labels(cifar100_root):
    data = load(f"cifar100:{cifar100_root}", channels=1)
    assert data.classes == 100
    assert data.train.labels[:3].tolist() == [0, 7, 14] and data.train.images.shape == (40, 1, 32, 32)


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
    assert len(data.train) == 30
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
    assert len(data.train) == 7 and len(data.val) == 3
    image, label = data.train.dataset[3]
    assert image.size == (20, 24) and label == 1  # dog


def test_imagefolder_seeded_split_and_errors(tmp_path):
    write_pngs(tmp_path / "flat", {"a": 5, "b": 5})
    data = load(f"imagefolder:{tmp_path / 'flat'}")
    assert (len(data.train), len(data.val)) == (8, 2)
    assert data.val.dataset.indices == load(f"imagefolder:{tmp_path / 'flat'}").val.dataset.indices
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


def test_seeded_split_is_a_partition():
    train, val = seeded_split(10, 0.25)
    assert sorted(train.tolist() + val.tolist()) == list(range(10)) and len(val) == 2  # round(2.5) == 2
    assert seeded_split(2, 0.01)[1].numel() == 1 and seeded_split(2, 0.99)[0].numel() == 1
    assert isinstance(TensorSet(torch.zeros(1), torch.zeros(1)), TensorSet)

"""Fashion-MNIST and MNIST: the four IDX files read from a folder (fixtures written here from the
format's description) or from Debian's dataset-fashion-mnist package (the real set; CI installs it)."""

import gzip

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from archkit.cli import app
from archkit.training import sources
from archkit.training.data import DataSource, load_data, parse_data, reduced
from archkit.training.errors import DataError

from .formats import idx_bytes, write_idx_set


def load(text: str, channels: int = 1, val_fraction: float = 0.25):
    return load_data(parse_data(text), channels=channels, hw=(32, 32), classes=10, val_fraction=val_fraction,
                     batch_size=8)


def test_parse_idx_sources(tmp_path):
    assert parse_data("fashion-mnist") == DataSource("fashion-mnist")
    assert parse_data(f"fashion-mnist:{tmp_path}") == DataSource("fashion-mnist", tmp_path)
    assert parse_data(f"MNIST:{tmp_path}") == DataSource("mnist", tmp_path)
    with pytest.raises(DataError, match="mnist needs a folder: mnist:ROOT, but got 'mnist'"):
        parse_data("mnist")
    with pytest.raises(DataError, match="fashion-mnist:DIR needs a folder after the colon"):
        parse_data("fashion-mnist:")


@pytest.mark.parametrize("compress", [True, False])
def test_idx_files_give_the_official_splits_and_a_stratified_val(tmp_path, compress):
    train_images, train_labels, test_images, test_labels = write_idx_set(tmp_path / "f", compress=compress)
    data = load(f"fashion-mnist:{tmp_path / 'f'}")
    # 40 training images, 4 per class: a quarter of each class (1 image) is validation; the test
    # files are the test split, as written.
    assert data.split_sizes == {"train": 30, "val": 10, "test": 20}
    assert torch.bincount(data.val.labels).tolist() == [1] * 10
    assert torch.bincount(data.train.labels).tolist() == [3] * 10
    assert torch.equal(data.test.images[:, 0], torch.from_numpy(test_images))
    assert torch.equal(data.test.labels, torch.from_numpy(test_labels).long())
    # train and val are the official training images, each once, each with its own label
    written = {train_images[i].tobytes(): int(train_labels[i]) for i in range(len(train_labels))}
    seen = [(img[0].numpy().tobytes(), int(label)) for split in (data.train, data.val)
            for img, label in zip(split.images, split.labels, strict=True)]
    assert sorted(seen) == sorted(written.items())
    assert data.classes == 10 and data.flip and data.in_memory
    assert data.train.images.dtype == torch.uint8 and data.train.images.shape[1:] == (1, 28, 28)
    # the per-channel statistics of the training split, on the 0-1 scale
    pixels = data.train.images.double() / 255
    assert data.mean[0] == pytest.approx(float(pixels.mean()), abs=1e-9)
    assert data.std[0] == pytest.approx(float(pixels.std(unbiased=False)), abs=1e-9)


def test_gray_repeated_for_three_channels_and_mnist_not_flipped(tmp_path):
    write_idx_set(tmp_path / "raw")
    rgb = load(f"mnist:{tmp_path / 'raw'}", channels=3)
    assert rgb.train.images.shape[1] == 3 and torch.equal(rgb.train.images[:, 0], rgb.train.images[:, 2])
    assert not rgb.flip  # a mirrored digit is not a digit
    # torchvision's layout: DIR/MNIST/raw holds the files
    write_idx_set(tmp_path / "tv" / "MNIST" / "raw", compress=False)
    assert load(f"mnist:{tmp_path / 'tv'}").split_sizes["test"] == 20


def test_train_fraction_keeps_each_class_share(tmp_path):
    write_idx_set(tmp_path / "f", train=200)  # 20 per class; 5 per class go to val, 15 stay
    data = load(f"fashion-mnist:{tmp_path / 'f'}")
    small = reduced(data, 0.2)  # round(15 * 0.2) = 3 of each class
    assert torch.bincount(small.train.labels).tolist() == [3] * 10
    again = reduced(load(f"fashion-mnist:{tmp_path / 'f'}"), 0.2)
    assert torch.equal(small.train.images, again.train.images)  # seeded: the same images every run
    assert small.val is data.val and small.test is data.test


def _corrupt(folder, name, data: bytes):
    (folder / f"{name}.gz").write_bytes(gzip.compress(data))


@pytest.mark.parametrize("fault, message", [
    ("missing", "has no t10k-labels-idx1-ubyte[.gz]"),
    ("magic", "train-images-idx3-ubyte.gz: not an IDX image file (magic number 0x00000801, expected 0x00000803)"),
    ("truncated", "train-images-idx3-ubyte.gz: truncated: the header says 40 x 28 x 28 bytes of data"),
    ("count", "has 40 images but"),
    ("label", "label 12 is out of range (the set has 10 classes, 0..9)"),
    ("gzip", "train-labels-idx1-ubyte.gz: cannot be read"),
])
def test_bad_files_are_named_in_one_line(tmp_path, fault, message):
    folder = tmp_path / "f"
    train_images, train_labels, *_ = write_idx_set(folder)
    if fault == "missing":
        (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    elif fault == "magic":  # a label file where the images should be
        _corrupt(folder, "train-images-idx3-ubyte", idx_bytes(train_labels))
    elif fault == "truncated":
        _corrupt(folder, "train-images-idx3-ubyte", idx_bytes(train_images)[:-100])
    elif fault == "count":
        _corrupt(folder, "train-labels-idx1-ubyte", idx_bytes(train_labels[:-1]))
    elif fault == "label":
        _corrupt(folder, "train-labels-idx1-ubyte", idx_bytes(np.where(train_labels == 3, 12, train_labels)))
    elif fault == "gzip":
        (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(train_labels))[:-20])
    with pytest.raises(DataError) as info:
        load(f"fashion-mnist:{folder}")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_set_is_read_once_per_process_until_its_files_change(tmp_path, monkeypatch):
    """A search loads the same files for every trial: read once, and read again (and checked again)
    once a file changes, even to the same size."""
    from archkit.training import idx

    folder = tmp_path / "f"
    _, train_labels, *_ = write_idx_set(folder, compress=False)
    reads = []
    real = idx.read_split
    monkeypatch.setattr(idx, "read_split", lambda *a, **k: reads.append(a[0].name) or real(*a, **k))
    first = load(f"fashion-mnist:{folder}")
    second = load(f"fashion-mnist:{folder}")
    assert reads == ["train-images-idx3-ubyte", "t10k-images-idx3-ubyte"]  # two splits, read once
    assert torch.equal(first.train.images, second.train.images) and first.mean == second.mean
    assert first is not second  # callers may replace a field of theirs without touching the other's
    load(f"fashion-mnist:{folder}", channels=3)  # other arguments: read again
    assert len(reads) == 4
    # the same number of bytes, one label out of range: refused, not served from memory
    labels = folder / "train-labels-idx1-ubyte"
    size = labels.stat().st_size
    labels.write_bytes(idx_bytes(np.where(train_labels == 3, 12, train_labels)))
    assert labels.stat().st_size == size
    with pytest.raises(DataError, match="label 12 is out of range"):
        load(f"fashion-mnist:{folder}")


def test_not_installed_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "FASHION_MNIST_DEBIAN", tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"sudo apt-get install dataset-fashion-mnist\) or point to the four IDX "
                                        r"files with --data fashion-mnist:DIR"):
        load("fashion-mnist")


def test_a_four_channel_spec_is_refused(tmp_path):
    write_idx_set(tmp_path / "f")
    with pytest.raises(DataError, match=r"images have 1 channel, but the spec's input has 4 \(use 1 or 3\)"):
        load(f"fashion-mnist:{tmp_path / 'f'}", channels=4)


def test_the_real_set_from_debian():
    """Xiao et al. 2017: 60,000 training images (6,000 per class) and 10,000 test images (1,000 per
    class); the training images' mean and std on the 0-1 scale are 0.2860 and 0.3530."""
    if not sources.FASHION_MNIST_DEBIAN.is_dir():
        pytest.fail("Debian's dataset-fashion-mnist is not installed: sudo apt-get install dataset-fashion-mnist "
                    "(make system-deps does it as root)")
    data = load("fashion-mnist", val_fraction=0.2)
    assert data.split_sizes == {"train": 48_000, "val": 12_000, "test": 10_000}
    assert torch.bincount(data.val.labels).tolist() == [1_200] * 10
    assert torch.bincount(data.test.labels).tolist() == [1_000] * 10
    assert data.train.images.shape[1:] == (1, 28, 28)
    assert data.mean[0] == pytest.approx(0.2860, abs=0.002) and data.std[0] == pytest.approx(0.3530, abs=0.002)


def test_cli_trains_on_idx_files_and_refuses_bad_ones(tmp_path):
    folder = tmp_path / "f"
    write_idx_set(folder, train=80)
    spec = tmp_path / "gray.yaml"
    spec.write_text("name: gray\ninput: {channels: 1, size: 8}\nclasses: 10\nlayers:\n"
                    "  - {name: conv1, conv: {out: 4, kernel: 3}}\n  - {name: pool, global_avgpool: {}}\n"
                    "  - {name: linear, linear: {}}\n")
    runner = CliRunner()
    ok = runner.invoke(app, ["train", str(spec), "--data", f"fashion-mnist:{folder}", "--steps", "3",
                             "--batch-size", "8", "--score-test", "-q"])
    assert ok.exit_code == 0, ok.output
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not gzip")
    bad = runner.invoke(app, ["train", str(spec), "--data", f"fashion-mnist:{folder}", "--steps", "3", "-q"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    lines = bad.stderr.splitlines()
    assert len(lines) == 1 and "train-images-idx3-ubyte.gz: cannot be read" in lines[0], bad.stderr

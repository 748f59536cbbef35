"""Data sets for training: parse `--data`, check the files, load the images and the seeded split.

Sources (the `--data` value):
- `digits`: scikit-learn's bundled handwritten digits, 1,797 real 8x8 gray images, 10 classes;
  a seeded split stratified by class (`val_fraction` and `test_fraction` of each class held out).
- `cifar10:ROOT`, `cifar100:ROOT`: torchvision's CIFAR python format (`cifar-10-batches-py/`,
  `cifar-100-python/`) under ROOT; the official test batch is the test split, and a seeded
  `val_fraction` of the official training batches is the validation split.
- `imagefolder:PATH`: torchvision's ImageFolder layout, PATH/train/CLASS/*.png with PATH/val/CLASS/*
  and PATH/test/CLASS/* where present (what is missing is carved from train/ by a seeded draw),
  or PATH/CLASS/* split three ways by a seeded draw.
- `fashion-mnist`: Fashion-MNIST (Xiao et al. 2017: 60,000 + 10,000 28x28 gray images of clothing,
  10 classes) from Debian's `dataset-fashion-mnist` package; `fashion-mnist:DIR` and `mnist:DIR` read
  the same four IDX files (gzip or not) from any folder. The official test files are the test split;
  a seeded, stratified `val_fraction` of the official training images is the validation split.
- `synthetic`: random images of the spec's input shape and random labels (for throughput only).

Three splits: the loop trains on `train`, scores every epoch on `val` (what a search selects on),
and scores `test` only when asked, once at the end (`score_test`): a search never sees it.

Small sets become uint8 tensors at their own resolution (`TensorSet`); the batch pipeline puts them
on the device and augments and resizes there. Image folders stay on disk (`FolderSet`) and go
through a DataLoader with workers. Every failure here is a one-line `DataError`.
"""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import DataError
from .images import read_image
from .sources import IDX_SETS, KINDS, DataSource, idx_folder, parse_data  # noqa: F401 (re-exported)

# The held-out split does not follow --seed, so runs with different seeds are scored on the same images.
SPLIT_SEED = 0
# ImageNet statistics (torchvision's), for image folders whose statistics are not computed.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SYNTHETIC_VAL = 256


@dataclass
class TensorSet:
    """Images as uint8 (N, C, H, W) at their own resolution, channels already the spec's; labels int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class FolderSet:
    """A torch Dataset of (PIL image, label) pairs read from disk when asked."""

    dataset: torch.utils.data.Dataset

    def __len__(self) -> int:
        return len(self.dataset)


@dataclass
class Data:
    """A loaded data set: train, validation and test splits, class count, normalization, augmentation kind.

    `flip` says whether a horizontal flip keeps the label (not for digits: a flipped 3 is no digit).
    `mean`/`std` are per channel on the 0-1 scale.
    """

    source: DataSource
    classes: int
    train: TensorSet | FolderSet
    val: TensorSet | FolderSet
    test: TensorSet | FolderSet
    mean: tuple[float, ...]
    std: tuple[float, ...]
    flip: bool

    @property
    def in_memory(self) -> bool:
        return isinstance(self.train, TensorSet)

    @property
    def split_sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def reduced(data: Data, fraction: float) -> Data:
    """`data` with only `fraction` of its training split (a draw seeded apart from --seed, so every
    run and every candidate trains on the same images; at least one image); val and test unchanged.
    In-memory sets are drawn by class (round(n_class * fraction) of each, at least one), so a small
    subset keeps the classes' shares; image folders by a plain draw."""
    if fraction >= 1.0:
        return data
    n = len(data.train)
    generator = torch.Generator().manual_seed(SPLIT_SEED + 1)
    if isinstance(data.train, TensorSet):
        keep = stratified_subset(data.train.labels, fraction, generator)
        train = TensorSet(data.train.images[keep], data.train.labels[keep])
    else:
        keep = torch.randperm(n, generator=generator)[:max(1, round(n * fraction))].sort().values
        from torch.utils.data import Subset

        train = FolderSet(Subset(data.train.dataset, keep.tolist()))
    return dataclasses.replace(data, train=train)


def stratified_subset(labels: torch.Tensor, fraction: float, generator: torch.Generator) -> torch.Tensor:
    """Sorted indices of round(n_c * fraction) images of each class c (at least one), drawn by `generator`."""
    perm = torch.randperm(len(labels), generator=generator)
    keep = [group[:max(1, round(len(group) * fraction))]
            for group in (perm[labels[perm] == c] for c in torch.unique(labels).tolist())]
    return torch.cat(keep).sort().values


def load_data(source: DataSource, *, channels: int, hw: tuple[int, int], classes: int,
              val_fraction: float, batch_size: int, download: bool = False, test_fraction: float = 0.2) -> Data:
    """Load a source for a spec with `channels` input channels and input size `hw`.

    `val_fraction` and `test_fraction` are shares of the whole set, held out where the data has no
    such split of its own (CIFAR has its test batch: only `val_fraction` applies there).
    `classes` and `batch_size` only shape the synthetic set (its labels and its size).
    """
    if source.kind == "digits":
        return _digits(source, channels, val_fraction, test_fraction)
    if source.kind == "synthetic":
        return _synthetic(source, channels, hw, classes, batch_size)
    if source.kind in CIFAR:
        return _cifar(source, channels, download, val_fraction)
    if source.kind in IDX_SETS:
        return _idx_set(source, channels, val_fraction)
    return _imagefolder(source, channels, val_fraction, test_fraction)


# --- digits ----------------------------------------------------------------------------------


def _digits(source: DataSource, channels: int, val_fraction: float, test_fraction: float) -> Data:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # 0..16 gray levels -> 0..255 so every in-memory set is uint8 on the same scale.
    images = torch.from_numpy(bunch.images).mul(255.0 / 16.0).round().to(torch.uint8).unsqueeze(1)
    labels = torch.from_numpy(bunch.target).long()
    images = match_channels(images, channels, str(source))
    # Stratified: 1,797 images are few enough that a plain draw would leave the classes' shares in
    # val and test a few images apart.
    train, val, test = split_indices(len(labels), val_fraction, test_fraction, str(source), labels=labels)
    train_set = TensorSet(images[train], labels[train])
    mean, std = channel_stats(train_set.images)
    return Data(source, 10, train_set, TensorSet(images[val], labels[val]), TensorSet(images[test], labels[test]),
                mean, std, flip=False)


# --- Fashion-MNIST and MNIST (IDX files) -------------------------------------------------------


# The last IDX sets loaded in this process, by their files' identity and the arguments: a search
# trains dozens of networks on the same 70,000 images, and reading, splitting and measuring them
# took ~9% of a 2-epoch trial's time. A file changed since (size or modification time) is read again.
_IDX_CACHE: dict[tuple, Data] = {}
_IDX_CACHE_SIZE = 2


def _file_stamp(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def _idx_set(source: DataSource, channels: int, val_fraction: float) -> Data:
    from .idx import find_files

    files = find_files(idx_folder(source), str(source), IDX_SETS[source.kind])
    key = (source.kind, channels, val_fraction, tuple(_file_stamp(files[k]) for k in sorted(files)))
    if key not in _IDX_CACHE:
        while len(_IDX_CACHE) >= _IDX_CACHE_SIZE:
            _IDX_CACHE.pop(next(iter(_IDX_CACHE)))
        _IDX_CACHE[key] = _read_idx_set(source, files, channels, val_fraction)
    # A new Data each time (its splits' tensors shared, never written to): callers replace fields.
    return dataclasses.replace(_IDX_CACHE[key])


def _read_idx_set(source: DataSource, files: dict[str, Path], channels: int, val_fraction: float) -> Data:
    from .idx import read_split

    official = read_split(files["train_images"], files["train_labels"], classes=10)
    test = read_split(files["test_images"], files["test_labels"], classes=10)

    def tensors(split) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.from_numpy(split.images.copy()).unsqueeze(1)  # (N, 1, 28, 28) uint8
        return match_channels(images, channels, str(source)), torch.from_numpy(split.labels)

    images, labels = tensors(official)
    # The official test files are the test split; validation is carved from the official training
    # images, by class (60,000 x 0.2 = 12,000 by default: 1,200 of each class).
    train_idx, val_idx, _ = split_indices(len(labels), val_fraction, 0.0, str(source), labels=labels)
    train = TensorSet(images[train_idx], labels[train_idx])
    mean, std = channel_stats(train.images)
    # A mirrored shirt is still a shirt (digits are the ones a flip would change).
    return Data(source, 10, train, TensorSet(images[val_idx], labels[val_idx]), TensorSet(*tensors(test)),
                mean, std, flip=source.kind == "fashion-mnist")


# --- synthetic -------------------------------------------------------------------------------


def _synthetic(source: DataSource, channels: int, hw: tuple[int, int], classes: int, batch_size: int) -> Data:
    g = torch.Generator().manual_seed(SPLIT_SEED)
    n_train = max(512, 2 * batch_size)

    def make(n: int) -> TensorSet:
        images = torch.randint(0, 256, (n, channels, *hw), generator=g, dtype=torch.uint8)
        return TensorSet(images, torch.randint(0, classes, (n,), generator=g))

    train = make(n_train)
    val = make(SYNTHETIC_VAL)  # drawn before test: train and val are what they were before test existed
    mean, std = channel_stats(train.images)
    return Data(source, classes, train, val, make(SYNTHETIC_VAL), mean, std, flip=True)


# --- CIFAR -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CifarLayout:
    folder: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    label_key: str
    meta: str
    names_key: str
    classes: int


CIFAR = {
    "cifar10": CifarLayout("cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",),
                           "labels", "batches.meta", "label_names", 10),
    "cifar100": CifarLayout("cifar-100-python", ("train",), ("test",), "fine_labels", "meta",
                            "fine_label_names", 100),
}


def cifar_folder(source: DataSource) -> Path:
    """The folder holding the batch files: ROOT/cifar-10-batches-py (torchvision's `root`) or ROOT itself."""
    layout = CIFAR[source.kind]
    root = source.root
    assert root is not None
    if (root / layout.folder).is_dir():
        return root / layout.folder
    if (root / layout.meta).is_file():
        return root
    return root / layout.folder


def _cifar(source: DataSource, channels: int, download: bool, val_fraction: float) -> Data:
    layout = CIFAR[source.kind]
    root = source.root
    assert root is not None
    folder = cifar_folder(source)
    if not folder.is_dir() and download:
        _download_cifar(source)
        folder = cifar_folder(source)
    if not root.exists():
        raise DataError(f"{source}: no such folder{'' if download else ' (add --download to fetch it)'}")
    if not folder.is_dir():
        raise DataError(f"{source}: no {layout.folder}/ folder (torchvision's python format) in {root}")
    for name in (*layout.train, *layout.test, layout.meta):
        if not (folder / name).is_file():
            raise DataError(f"{source}: {folder / name} is missing (expected torchvision's {layout.folder} files)")
    names = _unpickle(folder / layout.meta, source).get(layout.names_key)
    classes = len(names) if isinstance(names, list) and names else layout.classes
    official = _cifar_batches(folder, layout.train, layout.label_key, classes, source)
    test = _cifar_batches(folder, layout.test, layout.label_key, classes, source)
    images = match_channels(official.images, channels, str(source))
    test.images = match_channels(test.images, channels, str(source))
    # The official test batch is the test split; validation is carved from the official training batches.
    train_idx, val_idx, _ = split_indices(len(official), val_fraction, 0.0, str(source))
    train = TensorSet(images[train_idx], official.labels[train_idx])
    val = TensorSet(images[val_idx], official.labels[val_idx])
    mean, std = channel_stats(train.images)
    return Data(source, classes, train, val, test, mean, std, flip=True)


def _download_cifar(source: DataSource) -> None:
    from torchvision.datasets import CIFAR10, CIFAR100
    from torchvision.datasets.utils import download_and_extract_archive

    cls = CIFAR10 if source.kind == "cifar10" else CIFAR100
    try:
        download_and_extract_archive(cls.url, str(source.root), filename=cls.filename, md5=cls.tgz_md5)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError; a bad checksum a RuntimeError
        raise DataError(f"{source}: download failed: {exc}") from None


def _unpickle(path: Path, source: DataSource) -> dict:
    try:
        with open(path, "rb") as f:
            # The files were pickled by Python 2: keys and strings come back as bytes.
            data = pickle.load(f, encoding="bytes")
    except Exception as exc:  # any unpickling failure means "not this format"
        raise DataError(f"{source}: {path} is not a CIFAR python pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{source}: {path} is not a CIFAR python pickle (a {type(data).__name__}, not a dict)")
    return {(k.decode() if isinstance(k, bytes) else k): _decode(v) for k, v in data.items()}


def _decode(value):
    if isinstance(value, list):
        return [v.decode() if isinstance(v, bytes) else v for v in value]
    return value


def _cifar_batches(folder: Path, names: tuple[str, ...], label_key: str, classes: int,
                   source: DataSource) -> TensorSet:
    images, labels = [], []
    for name in names:
        batch = _unpickle(folder / name, source)
        data, lab = batch.get("data"), batch.get(label_key)
        shape = getattr(data, "shape", None)
        if shape is None or len(shape) != 2 or shape[1] != 3 * 32 * 32 or not isinstance(lab, list):
            raise DataError(f"{source}: {folder / name} has no 'data' of shape (N, 3072) and '{label_key}' list "
                            f"(got data shape {shape})")
        if len(lab) != shape[0]:
            raise DataError(f"{source}: {folder / name} has {shape[0]} images but {len(lab)} labels")
        # Rows are the R, G and B planes of a 32x32 image, one after the other.
        images.append(torch.as_tensor(data, dtype=torch.uint8).reshape(-1, 3, 32, 32))
        labels.append(torch.as_tensor(lab, dtype=torch.long))
    labels_t = torch.cat(labels)
    if len(labels_t) and (labels_t.min() < 0 or labels_t.max() >= classes):
        raise DataError(f"{source}: labels must be in [0, {classes}), but got {labels_t.min()}..{labels_t.max()}")
    return TensorSet(torch.cat(images), labels_t)


# --- image folders ---------------------------------------------------------------------------


def _imagefolder(source: DataSource, channels: int, val_fraction: float, test_fraction: float) -> Data:
    from torchvision.datasets import ImageFolder

    root = source.root
    assert root is not None
    if not root.is_dir():
        raise DataError(f"{source}: no such folder")
    if channels not in (1, 3):
        raise DataError(f"{source}: image folders give 1 or 3 channels, but the spec's input has {channels}")

    def open_folder(path: Path) -> ImageFolder:
        try:
            return ImageFolder(str(path), loader=read_image)
        except (FileNotFoundError, OSError) as exc:
            raise DataError(f"{source}: {exc}".rstrip()) from None

    given = {name: (root / name).is_dir() for name in ("train", "val", "test")}
    if not given["train"] and (given["val"] or given["test"]):
        held = " and ".join(f"{name}/" for name in ("val", "test") if given[name])
        raise DataError(f"{source}: {held} but no train/ (put the training images in train/CLASS/, or use a "
                        f"flat CLASS/ layout without val/ and test/)")
    base = open_folder(root / "train" if given["train"] else root)
    held_out = {}
    for name in ("val", "test"):
        if given[name]:
            ds = open_folder(root / name)
            if ds.classes != base.classes:
                raise DataError(f"{source}: train/ and {name}/ have different class folders "
                                f"({len(base.classes)} vs {len(ds.classes)})")
            held_out[name] = FolderSet(ds)
    # What the folder does not give is carved from the training images by a seeded draw.
    carve = {name: fraction for name, fraction in (("val", val_fraction), ("test", test_fraction))
             if name not in held_out}
    if carve:
        from torch.utils.data import Subset

        train, val, test = split_indices(len(base), carve.get("val", 0.0), carve.get("test", 0.0), str(source))
        train_set = FolderSet(Subset(base, train.tolist()))
        for name, idx in (("val", val), ("test", test)):
            if name in carve:
                held_out[name] = FolderSet(Subset(base, idx.tolist()))
    else:
        train_set = FolderSet(base)
    mean = IMAGENET_MEAN if channels == 3 else (sum(IMAGENET_MEAN) / 3,)
    std = IMAGENET_STD if channels == 3 else (sum(IMAGENET_STD) / 3,)
    return Data(source, len(base.classes), train_set, held_out["val"], held_out["test"], mean, std, flip=True)


# --- shared helpers --------------------------------------------------------------------------


def split_indices(n: int, val_fraction: float, test_fraction: float, what: str, *,
                  labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train, val, test) indices of n images by a fixed-seed draw (SPLIT_SEED, not --seed).

    The fractions are shares of all n images (0 holds none out). Without `labels`, round(n*fraction)
    images each (at least one); with `labels`, each class is split alike, round(n_class*fraction) of
    it held out (stratified). A split that would leave train, or a requested held-out split, empty is
    a DataError naming the fractions.
    """
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    part = torch.zeros(n, dtype=torch.long)  # by image index: 0 train, 1 val, 2 test
    groups = [perm] if labels is None else [perm[labels[perm] == c] for c in torch.unique(labels).tolist()]
    for group in groups:  # each group in the permutation's order: val first, then test
        size = len(group)
        n_val, n_test = round(size * val_fraction), round(size * test_fraction)
        if labels is None:
            n_val, n_test = (max(1, n_val) if val_fraction else 0), (max(1, n_test) if test_fraction else 0)
        part[group[:n_val]] = 1
        part[group[n_val:n_val + n_test]] = 2
    assigned = part[perm]
    train, val, test = (perm[assigned == k] for k in range(3))
    fractions = " and ".join(f"--{name}-fraction {fraction:g}" for name, fraction in
                             (("val", val_fraction), ("test", test_fraction)) if fraction)
    if len(train) == 0:
        raise DataError(f"{what}: {fractions} of {n} image(s) leave no training images")
    for name, idx, fraction in (("validation", val, val_fraction), ("test", test, test_fraction)):
        if fraction and len(idx) == 0:
            raise DataError(f"{what}: {fractions} of {n} image(s) leave no {name} images")
    return train, val, test


def match_channels(images: torch.Tensor, channels: int, what: str) -> torch.Tensor:
    """uint8 (N, C, H, W) -> the spec's channel count: gray is repeated into RGB, RGB -> gray by
    luminance; any other count (a 4-channel input for gray images) is a DataError."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.expand(-1, channels, -1, -1).contiguous()
    if have == 3 and channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    raise DataError(f"{what}: images have {have} channel{'' if have == 1 else 's'}, but the spec's input has "
                    f"{channels} (use 1 or 3)")


def channel_stats(images: torch.Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images on the 0-1 scale: exact sums from a histogram of the
    256 levels per channel (in chunks: CIFAR as one flat copy per channel is 50 MB), ~10x faster than
    summing the images as float64."""
    c = images.shape[1]
    levels = torch.arange(256, dtype=torch.float64)
    counts = torch.zeros(c, 256, dtype=torch.float64)
    for start in range(0, len(images), chunk):
        part = images[start:start + chunk]
        for k in range(c):
            counts[k] += torch.bincount(part[:, k].reshape(-1), minlength=256).to(torch.float64)
    n = counts.sum(dim=1).clamp_min(1.0)
    mean = (counts * levels).sum(dim=1) / n / 255.0
    squares = (counts * levels * levels).sum(dim=1) / n / (255.0 * 255.0)
    std = (squares - mean * mean).clamp_min(1e-12).sqrt()
    return tuple(float(m) for m in mean), tuple(max(float(s), 1e-3) for s in std)

"""Writers of fixture files in the real on-disk formats: CIFAR python pickles, PNG class folders."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def cifar_images(n: int, seed: int) -> np.ndarray:
    """n random 32x32 RGB images as CIFAR stores them: rows of 3072 bytes, the R, G, B planes in turn."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)


def _dump(path: Path, obj) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_cifar10(root: Path, per_batch: int = 6, test: int = 10) -> Path:
    """ROOT/cifar-10-batches-py with data_batch_1..5, test_batch and batches.meta (bytes keys, as the
    real files have after Python 2 pickling). Labels cycle 0..9."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(1, 6):
        _dump(folder / f"data_batch_{i}", {b"batch_label": f"training batch {i} of 5".encode(),
                                           b"data": cifar_images(per_batch, i),
                                           b"labels": [(i * per_batch + k) % 10 for k in range(per_batch)]})
    _dump(folder / "test_batch", {b"data": cifar_images(test, 99), b"labels": [k % 10 for k in range(test)]})
    _dump(folder / "batches.meta", {b"label_names": [n.encode() for n in (
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")]})
    return root


def write_cifar100(root: Path, train: int = 40, test: int = 12) -> Path:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    _dump(folder / "train", {b"data": cifar_images(train, 1), b"fine_labels": [(7 * k) % 100 for k in range(train)],
                             b"coarse_labels": [k % 20 for k in range(train)]})
    _dump(folder / "test", {b"data": cifar_images(test, 2), b"fine_labels": [k % 100 for k in range(test)],
                            b"coarse_labels": [k % 20 for k in range(test)]})
    _dump(folder / "meta", {b"fine_label_names": [f"class{k}".encode() for k in range(100)],
                            b"coarse_label_names": [f"super{k}".encode() for k in range(20)]})
    return root


def write_pngs(folder: Path, classes: dict[str, int], size: tuple[int, int] = (20, 24), seed: int = 0) -> None:
    """folder/CLASS/img_K.png, `classes[CLASS]` RGB images of `size` (w, h) each."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, count in classes.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for k in range(count):
            pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / name / f"img_{k}.png")


def idx_bytes(array: np.ndarray) -> bytes:
    """An array of unsigned bytes in the IDX format, written from LeCun's description: magic
    0x00000800 + number of dimensions, one big-endian 32-bit size per dimension, then the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx_set(folder: Path, train: int = 40, test: int = 20, compress: bool = True,
                  size: int = 28) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four MNIST/Fashion-MNIST files in `folder` (gzip-compressed by default): random images,
    labels cycling 0..9. Returns (train images, train labels, test images, test labels)."""
    import gzip

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(train, size, size), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(test, size, size), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(test, dtype=np.uint8) * 3) % 10,
    }
    for name, array in arrays.items():
        data = idx_bytes(array)
        if compress:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return tuple(arrays.values())

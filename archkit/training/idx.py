"""MNIST-format (IDX) files: find the four files of a set in a folder, read them, check them.

The IDX format (LeCun's MNIST page; torchvision's `read_sn3_pascalvincent_tensor` reads it too) is
a big-endian header — a magic number whose third byte is the element type (0x08: unsigned byte)
and whose fourth is the number of dimensions, then one 32-bit size per dimension — followed by the
elements in C order. MNIST and Fashion-MNIST ship four such files, gzip-compressed or not.

torchvision's reader opens plain files only and checks with `assert` (a wrong file ends in an
AssertionError or a reshape error), so the header is checked here, where each fault can be named
in one line, and the elements are read with numpy. Every failure is a `DataError` naming the file.
"""

from __future__ import annotations

import functools
import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions: (count, rows, columns)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension: (count,)
# The four files of a set, by the names MNIST and Fashion-MNIST both use.
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class IdxSplit:
    """One official split: uint8 images (N, rows, columns) and int64 labels (N,)."""

    images: np.ndarray
    labels: np.ndarray


def find_files(folder: Path, what: str, torchvision_name: str) -> dict[str, Path]:
    """The four IDX files in `folder` (or torchvision's `folder/<torchvision_name>/raw`), each with
    or without `.gz`. A missing folder or file is a DataError naming it."""
    if not folder.is_dir():
        raise DataError(f"{what}: no such folder {folder}")
    candidates = [folder, folder / torchvision_name / "raw", folder / "raw"]
    where = next((d for d in candidates if _find(d, FILES["train_images"])), folder)
    found, missing = {}, []
    for key, name in FILES.items():
        path = _find(where, name)
        if path is None:
            missing.append(name)
        else:
            found[key] = path
    if missing:
        raise DataError(f"{what}: {where} has no {', '.join(n + '[.gz]' for n in missing)} "
                        f"(expected the four IDX files: {', '.join(FILES.values())}, gzip or not)")
    return found


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def read_split(images_path: Path, labels_path: Path, classes: int) -> IdxSplit:
    """An image file and its label file, checked against each other (the same count, every label in
    [0, classes))."""
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(f"{images_path} has {len(images):,} images but {labels_path} has {len(labels):,} labels")
    if len(labels) and int(labels.max()) >= classes:
        raise DataError(f"{labels_path}: label {int(labels.max())} is out of range (the set has {classes} classes, "
                        f"0..{classes - 1})")
    return IdxSplit(images, labels.astype(np.int64))


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The array in an IDX file of unsigned bytes with the given magic number (images or labels).

    Read once per process and file version: a search reads the same set for every trial."""
    stat = path.stat()
    return _read_idx(str(path), stat.st_mtime_ns, stat.st_size, magic)


@functools.lru_cache(maxsize=8)
def _read_idx(path: str, mtime_ns: int, size: int, magic: int) -> np.ndarray:
    raw = _bytes(Path(path))
    kind = "image" if magic == IMAGES_MAGIC else "label"
    if len(raw) < 4:
        raise DataError(f"{path}: truncated: {len(raw)} bytes, not even an IDX header")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DataError(f"{path}: not an IDX {kind} file (magic number 0x{found:08x}, expected 0x{magic:08x})")
    dims = magic & 0xFF
    header = 4 + 4 * dims
    if len(raw) < header:
        raise DataError(f"{path}: truncated: {len(raw)} bytes, shorter than its {header}-byte header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=dims, offset=4))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(f"{path}: {what}: the header says {' x '.join(f'{d:,}' for d in shape)} bytes of data "
                        f"({expected:,} bytes with the header) but the file has {len(raw):,}")
    array = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
    array.flags.writeable = False  # shared by every caller of the cache
    return array


def _bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:  # a bad or cut gzip stream is an OSError or EOFError
        raise DataError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None

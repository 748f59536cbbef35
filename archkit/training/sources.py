"""What `--data` names: the kinds of data set, a parsed source, and where Fashion-MNIST is installed.

No torch here: the command line reads DATA_CHOICES for its help, and a config is checked against
`parse_data` before any data set is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import DataError

KINDS = ("digits", "synthetic", "cifar10", "cifar100", "imagefolder", "fashion-mnist", "mnist")
# Where Debian's dataset-fashion-mnist package installs the four IDX files (`dpkg -L` lists them).
FASHION_MNIST_DEBIAN = Path("/usr/share/datasets/fashion-mnist")
# The IDX-file sets, each with the folder name torchvision's FashionMNIST/MNIST classes keep their
# raw files under (DIR/FashionMNIST/raw is read as well as DIR).
IDX_SETS = {"fashion-mnist": "FashionMNIST", "mnist": "MNIST"}


@dataclass(frozen=True)
class DataSource:
    """A parsed `--data` value: the kind and, for file-backed kinds, the folder (user-expanded)."""

    kind: str
    root: Path | None = None

    def __str__(self) -> str:
        return self.kind if self.root is None else f"{self.kind}:{self.root}"


DATA_CHOICES = ("digits, fashion-mnist, synthetic, fashion-mnist:DIR, mnist:DIR, cifar10:ROOT, cifar100:ROOT "
                "or imagefolder:PATH")


def parse_data(text: str) -> DataSource:
    """A `--data` value (one of DATA_CHOICES) -> DataSource."""
    kind, sep, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise DataError(f"unknown data {text!r}: use {DATA_CHOICES}")
    if kind in ("digits", "synthetic"):
        if sep:
            raise DataError(f"{kind} takes no folder, but got {text!r}")
        return DataSource(kind)
    if kind == "fashion-mnist" and not rest.strip():
        if sep:
            raise DataError(f"fashion-mnist:DIR needs a folder after the colon, but got {text!r}")
        return DataSource(kind)  # Debian's package
    if not rest.strip():
        raise DataError(f"{kind} needs a folder: {kind}:ROOT, but got {text!r}")
    return DataSource(kind, Path(rest.strip()).expanduser())


def idx_folder(source: DataSource) -> Path:
    """The folder a `fashion-mnist` / `mnist` source reads: its own, or Debian's for plain fashion-mnist."""
    if source.root is not None:
        return source.root
    if not FASHION_MNIST_DEBIAN.is_dir():
        raise DataError(f"fashion-mnist is not installed ({FASHION_MNIST_DEBIAN} does not exist): install Debian's "
                        f"package (sudo apt-get install dataset-fashion-mnist) or point to the four IDX files "
                        f"with --data fashion-mnist:DIR")
    return FASHION_MNIST_DEBIAN

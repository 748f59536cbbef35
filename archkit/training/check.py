"""`archkit data check`: read every file of a data set once, before a long run meets a bad one.

Image folders: every file torchvision's ImageFolder would load, decoded in full on all cores (the
same `check_image` the training loader's `read_image` uses). CIFAR, Fashion-MNIST and MNIST: the
batch or IDX files, read as a run reads them. The result lists what cannot be read; nothing is changed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from .data import CIFAR, IDX_SETS, DataSource, cifar_folder, idx_folder, load_data, parse_data
from .errors import DataError
from .images import check_image


@dataclass
class CheckResult:
    source: str
    checked: int
    bad: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def image_files(source: DataSource) -> list[str]:
    """The files of an image folder that a run would load (train/, val/, test/ or the class folders)."""
    from torchvision.datasets import ImageFolder

    root = source.root
    assert root is not None
    if not root.is_dir():
        raise DataError(f"{source}: no such folder")
    parts = [root / p for p in ("train", "val", "test") if (root / p).is_dir()] or [root]
    files = []
    for part in parts:
        try:
            files += [path for path, _ in ImageFolder(str(part), loader=lambda p: None).samples]
        except (FileNotFoundError, OSError) as exc:
            raise DataError(f"{source}: {exc}".rstrip()) from None
    return files


def check(text: str, workers: int | None = None, on_progress: Callable[[int, int], None] | None = None
          ) -> CheckResult:
    """Read every file of the data set `text` (a `--data` value) once; `on_progress(done, total)`."""
    source = parse_data(text)
    if source.kind in CIFAR:
        folder = cifar_folder(source)
        layout = CIFAR[source.kind]
        names = (*layout.train, *layout.test, layout.meta)
        try:
            load_data(source, channels=3, hw=(32, 32), classes=layout.classes, val_fraction=0.2, batch_size=1)
        except DataError as exc:
            return CheckResult(str(source), len(names), [(str(folder), str(exc))])
        return CheckResult(str(source), len(names))
    if source.kind in IDX_SETS:  # four IDX files: read and checked in full, as a run reads them
        try:
            load_data(source, channels=1, hw=(28, 28), classes=10, val_fraction=0.2, batch_size=1)
        except DataError as exc:
            return CheckResult(str(source), 4, [(str(source.root or idx_folder(source)), str(exc))])
        return CheckResult(str(source), 4)
    if source.kind != "imagefolder":
        return CheckResult(str(source), 0)  # digits and synthetic are made in memory: nothing to read
    files = image_files(source)
    bad = []
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        results = map(check_image, files)
    else:
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(max_workers=workers)
        results = pool.map(check_image, files, chunksize=32)
    try:
        for done, (path, reason) in enumerate(zip(files, results, strict=True), start=1):
            if reason is not None:
                bad.append((path, reason))
            if on_progress:
                on_progress(done, len(files))
    finally:
        if workers != 1:
            pool.shutdown(cancel_futures=True)
    return CheckResult(str(source), len(files), bad)

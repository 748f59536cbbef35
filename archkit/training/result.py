"""`TrainResult`: what `archkit.train` returns and `--metrics-out` writes. No torch here."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass
class TrainResult:
    """The outcome of a run. Accuracies are fractions (0-1): `val_*` on the validation split (scored
    every epoch; what a search selects on), `test_*` on the test split, scored once after training and
    only when asked (`score_test`; None otherwise); `split_sizes` gives the images in each split
    (`{"train": n, "val": n, "test": n}`, all processes together). `epochs` counts
    completed epochs (fractional when the run stopped mid-epoch); `seconds` is the wall time of
    training and per-epoch evaluation, earlier sessions of a resumed run included;
    `train_images_per_s` is the steady state of this
    session (its first steps, which include warm-up work such as compilation, are left out).

    `model` is the trained module (on the CPU after a multi-process run); it is not serialized.
    """

    spec: str
    data: str
    classes: int
    val_top1: float
    val_top5: float
    val_loss: float
    train_images_per_s: float
    seconds: float
    epochs: float
    steps: int
    batch_size: int
    device: str
    precision: str
    world_size: int
    config: dict[str, Any]
    history: list[dict[str, Any]]
    split_sizes: dict[str, int] = field(default_factory=dict)
    test_top1: float | None = None
    test_top5: float | None = None
    test_loss: float | None = None
    skipped_images: int = 0  # unreadable files left out (with skip_bad_images), over all processes
    skipped_paths: list[str] = field(default_factory=list)  # the first few of them (this process's)
    model: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it would deep-copy the model.
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model"}

    def to_json(self) -> str:
        from ..util.files import json_text

        return json_text(self.to_dict())

    def write_json(self, path: str | Path) -> None:
        from ..util.files import atomic_write_text

        atomic_write_text(path, self.to_json())

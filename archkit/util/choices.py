"""The values archkit's options take, each list defined once: the checks, the error messages, the
command line's choices and its help text all derive from these (a leaf module: the standard
library only).
"""

from __future__ import annotations

from enum import Enum

# Bytes of one activation element at each precision (weights stay fp32: autocast keeps them so).
ELEMENT_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
PRECISIONS = tuple(ELEMENT_BYTES)  # what a training step computes in (`archkit profile --train`)
# What the latency tools time and predict: fp16 on a CPU is emulated, so it is left out.
TIMED_PRECISIONS = ("fp32", "bf16")
TRAIN_PRECISIONS = ("auto", *PRECISIONS)  # `archkit train`: auto picks one per device
DEVICES = ("cpu", "cuda")  # (and cuda:N)

# Output formats of `archkit profile` and `archkit compare`, and the one a file's suffix implies.
FORMATS = ("table", "csv", "markdown", "json", "html")
SUFFIX_FORMATS = {".html": "html", ".htm": "html", ".csv": "csv", ".md": "markdown", ".json": "json",
                  ".txt": "table"}


def either(values, last: str = "or") -> str:
    """The values as a sentence says them: "fp32, bf16 or fp16"."""
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} {last} {values[-1]}"


def choice_enum(name: str, values) -> type[Enum]:
    """A str Enum of `values` (member name = value), for typer's choices."""
    return Enum(name, [(v, v) for v in values], type=str)

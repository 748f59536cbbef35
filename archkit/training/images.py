"""Reading image files: the one loader every image folder uses.

A real data set holds files that are not what their names say (text saved as .png, a truncated
download, an empty file). Such a file must not end a 90-epoch run in a traceback from a loader
worker: `read_image` turns any failure to decode into a `BadImageError` naming the file and the
reason; the run stops with that line, or with `skip_bad_images` the sample is left out of its batch
and counted. `check_image` is the same test for `archkit data check`.
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import DataError

SKIP_HINT = "add --skip-bad-images (skip_bad_images: true in a search's train:) to leave such files out"


class BadImageError(DataError):
    """A file that cannot be read as an image. `path` and `reason` are kept apart from the message;
    across a DataLoader worker only the message survives (see `message_of`)."""

    def __init__(self, message: str, path: str = "", reason: str = ""):
        super().__init__(message)
        self.path = path
        self.reason = reason


class Skipped(NamedTuple):
    """Stands in a batch for a sample whose file could not be read (with skip_bad_images)."""

    path: str
    reason: str


def _decode(path: str):
    from PIL import Image

    with open(path, "rb") as f:
        image = Image.open(f)
        image.load()  # decode the whole file now: a truncated one fails here, not mid-transform
        return image.convert("RGB")


def _reason(path: str, exc: Exception) -> str:
    """Why a file failed to decode, in a few words."""
    import os

    from PIL import UnidentifiedImageError

    try:
        if os.path.getsize(path) == 0:
            return "an empty file (0 bytes)"
    except OSError as err:
        return f"cannot open it ({err.strerror or err})"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image format PIL can identify"
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]  # e.g. "OSError: Truncated File Read"


def check_image(path: str) -> str | None:
    """Why the file at `path` cannot be read as an image, or None when it can."""
    try:
        _decode(path)
    except Exception as exc:  # noqa: BLE001 - PIL raises OSError, ValueError, SyntaxError, DecompressionBombError...
        return _reason(path, exc)
    return None


def read_image(path: str):
    """The RGB image at `path` (ImageFolder's loader); `BadImageError` if it cannot be decoded."""
    try:
        return _decode(path)
    except Exception as exc:  # noqa: BLE001 - see check_image
        reason = _reason(path, exc)
        raise BadImageError(f"{path}: cannot read the image ({reason}); {SKIP_HINT}", path, reason) from None


def message_of(exc: BadImageError) -> str:
    """The one line of a BadImageError, also when a DataLoader worker raised it (the main process then
    gets the worker's whole traceback as the message; the error's own line is its last)."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    last = lines[-1] if lines else str(exc)
    marker = "BadImageError: "
    return last.split(marker, 1)[1] if marker in last else last

"""archkit's folder in the user's cache directory: the one place every cache (validated built-in
specs, latency tables) lives, so one setting moves or isolates them all."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "ARCHKIT_CACHE_DIR"


def cache_dir(path: str | Path | None = None) -> Path | None:
    """`path` if given, else $ARCHKIT_CACHE_DIR, else $XDG_CACHE_HOME/archkit (an absolute one: the
    XDG rules ignore a relative value), else ~/.cache/archkit; None when there is no home folder
    to put it in (then nothing is cached rather than written below the current folder)."""
    if path is not None:
        return Path(path).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    root = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(root):
        root = os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(root):
        return None
    return Path(root) / "archkit"

"""The validated form of a built-in spec, kept between runs in the user's cache folder."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from ..util.cache import cache_dir
from .models import Spec

# A built-in's validated form is kept between runs (pickled, in the user's cache folder): parsing
# its YAML and building pydantic's validators for the spec models is most of what a short command
# like `archkit profile googlenet` spends after its imports. The file is named by a hash of all
# that validation depends on: the YAML, every source file of this package (the models, their
# validators, resolution; the models import nothing else of archkit), pydantic's and Python's
# versions; any change to them reads another file, so a stale form is never used. Anything wrong
# with the cache (unwritable, corrupt, no home folder) only means the spec is validated as without it.


def cache_path(name: str, text: str) -> Path | None:
    """Where the validated form of built-in `name` (YAML `text`) is kept; None: nowhere to keep it."""
    import hashlib

    import pydantic_core
    from pydantic.version import VERSION

    digest = hashlib.sha256()
    for part in (sys.version, VERSION, pydantic_core.__version__, text):
        digest.update(part.encode() + b"\0")
    try:
        for source in sorted(Path(__file__).parent.glob("*.py")):
            digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    except OSError:
        return None
    root = cache_dir()
    if root is None:  # no home folder: keep nothing rather than write below the current one
        return None
    return root / "builtin-specs" / name / f"{digest.hexdigest()[:32]}.pickle"


def read(path: Path) -> Spec | None:
    """The kept form at `path`, or None (missing, unreadable, corrupt, not a Spec)."""
    import pickle

    try:
        with open(path, "rb") as f:
            spec = pickle.load(f)
    except Exception:  # noqa: BLE001 - missing (the usual miss), unreadable or corrupt: validate instead
        return None
    return spec if type(spec) is Spec else None


def write(path: Path, spec: Spec) -> None:
    """Keep `spec` at `path` (atomically; older forms of the same built-in removed; never raises)."""
    import pickle

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, path)  # atomic: a concurrent reader sees the whole file or none
        for old in path.parent.glob("*.pickle"):  # forms of older sources
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)

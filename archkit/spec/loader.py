"""From YAML text, a file, a built-in name or plain data to a validated, resolved `Spec`; the
resolution cache. (pydantic's errors become one-line `SpecError`s in `messages`.)"""

from __future__ import annotations

import contextlib
import os
import sys
import weakref
from functools import cache
from pathlib import Path

from pydantic import ValidationError

from ..util.cache import cache_dir
from .errors import SpecError
from .messages import validation_error
from .models import Spec
from .resolve import ResolvedSpec, resolve

BUILTIN_PACKAGE = "archkit.spec.builtin"


@cache
def _builtin_dir():
    """The built-in specs' folder: a plain directory beside this file when archkit is installed as
    files (the usual case; importing `importlib.resources` costs a short command a few ms), else
    the package's resources (a zip import)."""
    here = Path(__file__).with_name("builtin")
    if here.is_dir():
        return here
    from importlib import resources

    return resources.files(BUILTIN_PACKAGE)


def builtin_names() -> list[str]:
    """Names of the specs shipped with archkit, sorted."""
    files = _builtin_dir().iterdir()
    return sorted(f.name[: -len(".yaml")] for f in files if f.name.endswith(".yaml"))


def builtin_text(name: str) -> str:
    """The YAML text of a built-in spec."""
    if name not in builtin_names():
        raise SpecError(f"no built-in spec named {name!r} (built-ins: {', '.join(builtin_names())})")
    return _builtin_dir().joinpath(f"{name}.yaml").read_text(encoding="utf-8")


_KIND_OF_DOCUMENT = {"list": "a list", "str": "a string", "int": "an integer", "float": "a number",
                     "bool": "a boolean", "NoneType": "null", "datetime": "a date", "date": "a date"}


def spec_from_data(data: object, source: str | None = None, lines: dict | None = None) -> Spec:
    """Validate and resolve plain data (a dict as YAML gives it) into a `Spec`.

    Raises `SpecError` naming the field path, and the line when `lines` (from the YAML) is given.
    """
    lines = lines or {}
    if not isinstance(data, dict):
        got = _KIND_OF_DOCUMENT.get(type(data).__name__, type(data).__name__)
        raise SpecError(f"a spec must be a YAML mapping, got {got}", (), source, 1 if lines else None)
    try:
        spec = Spec.model_validate(data)
        _share_repeated_bodies(data, spec)
        resolved = resolve(spec)
    except ValidationError as exc:
        from .yamlio import line_for

        err = validation_error(exc, Spec)
        raise err.located(source, line_for(err.path, lines)) from None
    except SpecError as err:
        from .yamlio import line_for

        raise err.located(source, line_for(err.path, lines)) from None
    _remember(spec, resolved)
    return spec


# The layer kinds whose body `resolve` resolves once per (body, input shape) in one call.
SHARED_KINDS = ("module", "inception")


def _share_repeated_bodies(data: dict, spec: Spec) -> None:
    """Layers whose module is one object in the data (a YAML alias, `module: *block35`: the
    document says "this same block again") get one validated body too, as a spec built in Python
    from one `Module` object has. Pydantic validates each occurrence into a copy of its own; the
    copies are equal and frozen, so sharing one changes no value, and lets `resolve` resolve (and
    the profiler count) that module once per input shape in a call instead of once per layer."""
    _share_layers(data.get("layers"), spec.layers)
    heads = data.get("aux")
    if type(heads) is list:
        for raw, head in zip(heads, spec.aux, strict=True):
            if type(raw) is dict:
                _share_layers(raw.get("layers"), head.layers)


def _share_layers(raw_layers: object, layers: list) -> None:
    if type(raw_layers) is not list:
        return
    first: dict[int, object] = {}  # id of a raw body (alive in `raw_layers`) -> its validated body
    for raw, layer in zip(raw_layers, layers, strict=True):
        if type(raw) is not dict:
            continue
        for kind in SHARED_KINDS:
            body = raw.get(kind)
            if type(body) is dict:
                # Validation is a pure function of the raw body, so the copies are equal (a test
                # holds this); the model is frozen: set here, before anyone else sees it.
                layer.__dict__[kind] = first.setdefault(id(body), layer.__dict__[kind])
                break


def spec_from_yaml(text: str, source: str | None = None) -> Spec:
    """Parse (safely) and validate YAML text."""
    from .yamlio import load_yaml  # (YAML's parser is imported only by what reads YAML)

    data, lines = load_yaml(text, source)
    return spec_from_data(data, source, lines)


def load_spec(name_or_path: str | Path) -> Spec:
    """A built-in spec by name (`googlenet`, `googlenet-32`) or a YAML file by path.

    Raises `SpecError` with `file:line field.path: message` for anything wrong with it.
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if isinstance(name_or_path, str) and text in builtin_names() and not path.exists():
        return _load_builtin(text)
    if not path.exists():
        hint = f" (built-in specs: {', '.join(builtin_names())})" if "/" not in text and not text.endswith(
            (".yaml", ".yml")) else ""
        raise SpecError(f"no such file or built-in spec{hint}", (), text)
    if path.is_dir():
        raise SpecError("is a directory, not a spec file", (), text)
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the file: {exc.__class__.__name__}: {exc}".splitlines()[0], (), text) from None
    return spec_from_yaml(content, text)


@cache
def _load_builtin(name: str) -> Spec:
    text = builtin_text(name)
    path = _validated_cache(name, text)
    spec = _read_validated(path) if path is not None else None
    if spec is None:
        spec = spec_from_yaml(text, name)
        if path is not None:
            _write_validated(path, spec)
    return spec


# A built-in's validated form is kept between runs (pickled, in the user's cache folder): parsing
# its YAML and building pydantic's validators for the spec models is most of what a short command
# like `archkit profile googlenet` spends after its imports. The file is named by a hash of all
# that validation depends on: the YAML, every source file of this package (the models, their
# validators, resolution; the models import nothing else of archkit), pydantic's and Python's
# versions; any change to them reads another file, so a stale form is never used. Anything wrong
# with the cache (unwritable, corrupt, no home folder) only means the spec is validated as without it.


def _validated_cache(name: str, text: str) -> Path | None:
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


def _read_validated(path: Path) -> Spec | None:
    import pickle

    try:
        with open(path, "rb") as f:
            spec = pickle.load(f)
    except Exception:  # noqa: BLE001 - missing (the usual miss), unreadable or corrupt: validate instead
        return None
    return spec if type(spec) is Spec else None


def _write_validated(path: Path, spec: Spec) -> None:
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


# Resolution is pure and a Spec is frozen, so each spec is resolved once and the result kept for
# as long as the spec lives: a weak reference drops the entry with the spec. (Holding specs alive
# instead made a search's heap grow by thousands of specs, and the garbage collector's full passes
# over them cost more than the resolving they saved.)
_RESOLVED: dict[int, tuple[weakref.ref, ResolvedSpec]] = {}


def _remember(spec: Spec, resolved: ResolvedSpec) -> None:
    key = id(spec)
    # Kept without its `spec` field, which would keep the spec alive through this very table.
    _RESOLVED[key] = (weakref.ref(spec, lambda _ref, key=key: _RESOLVED.pop(key, None)),
                      resolved._replace(spec=None))


def resolved(spec: Spec) -> ResolvedSpec:
    """The resolved form of a spec (shapes known); raises `SpecError` if it cannot be resolved."""
    hit = _RESOLVED.get(id(spec))
    if hit is not None and hit[0]() is spec:
        return hit[1]._replace(spec=spec)
    result = resolve(spec)
    _remember(spec, result)
    return result

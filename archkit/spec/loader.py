"""From YAML text, a file, a built-in name or plain data to a validated, resolved `Spec`.
(pydantic's errors become one-line `SpecError`s in `messages`; a built-in's validated form is kept
between runs by `validated`; each spec's resolution is kept by `resolve.resolved`.)"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import ValidationError

from . import validated
from .errors import SpecError
from .messages import validation_error
from .models import Spec
from .resolve import remember, resolve

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
    remember(spec, resolved)
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
    path = validated.cache_path(name, text)
    spec = validated.read(path) if path is not None else None
    if spec is None:
        spec = spec_from_yaml(text, name)
        if path is not None:
            validated.write(path, spec)
    return spec



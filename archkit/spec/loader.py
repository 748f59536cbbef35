"""From YAML text, a file, a built-in name or plain data to a validated, resolved `Spec`; the
resolution cache. (pydantic's errors become one-line `SpecError`s in `messages`.)"""

from __future__ import annotations

import weakref
from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from .errors import SpecError
from .messages import validation_error
from .models import Spec
from .resolve import ResolvedSpec, resolve
from .yamlio import line_for, load_yaml

BUILTIN_PACKAGE = "archkit.spec.builtin"


def builtin_names() -> list[str]:
    """Names of the specs shipped with archkit, sorted."""
    files = resources.files(BUILTIN_PACKAGE).iterdir()
    return sorted(f.name[: -len(".yaml")] for f in files if f.name.endswith(".yaml"))


def builtin_text(name: str) -> str:
    """The YAML text of a built-in spec."""
    if name not in builtin_names():
        raise SpecError(f"no built-in spec named {name!r} (built-ins: {', '.join(builtin_names())})")
    return resources.files(BUILTIN_PACKAGE).joinpath(f"{name}.yaml").read_text(encoding="utf-8")


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
        resolved = resolve(spec)
    except ValidationError as exc:
        err = validation_error(exc, Spec)
        raise err.located(source, line_for(err.path, lines)) from None
    except SpecError as err:
        raise err.located(source, line_for(err.path, lines)) from None
    _remember(spec, resolved)
    return spec


def spec_from_yaml(text: str, source: str | None = None) -> Spec:
    """Parse (safely) and validate YAML text."""
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
    return spec_from_yaml(builtin_text(name), name)


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

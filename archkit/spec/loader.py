"""From YAML text, a file, a built-in name or plain data to a validated, resolved `Spec`."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from .errors import SpecError
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


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _message(err: dict) -> str:
    """A short, human sentence for one pydantic error."""
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind in ("greater_than", "greater_than_equal") and isinstance(value, int) and not isinstance(value, bool):
        bound = ctx.get("gt", ctx.get("ge"))
        what = "a positive integer" if bound == 0 and kind == "greater_than" else f"an integer >= {bound}"
        return f"must be {what}, got {_describe(value)}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()), "?")
        return f"must be {op} {bound}, got {_describe(value)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be an integer, got {_describe(value)}"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number, got {_describe(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, got {_describe(value)}"
    if kind in ("string_type",):
        return f"must be a string, got {_describe(value)}"
    if kind == "string_pattern_mismatch":
        return f"must be a name of letters, digits and underscores, got {_describe(value)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping, got {_describe(value)}"
    if kind == "list_type":
        return f"must be a list, got {_describe(value)}"
    if kind in ("too_short", "too_long"):
        return err["msg"].replace("List", "list").replace("Value", "value")
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '?')}, got {_describe(value)}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return err["msg"]


def _best_error(exc: ValidationError) -> dict:
    """Of the errors pydantic reports, the one that best explains the problem.

    Union fields (`kernel: 3 | [3, 3]`) report one error per alternative; the deepest path is the
    most specific. Among equals, the first in document order.
    """
    errors = exc.errors(include_url=False)
    # For unions pydantic inserts the alternative's type name into loc; drop those pieces.
    return max(errors, key=lambda e: len(_clean_loc(e["loc"])) - errors.index(e) * 1e-6)


def _clean_loc(loc: tuple) -> tuple:
    noise = ("int", "list[int]", "literal['same','valid']", "function-after[_from_list(), list[BranchOp]]")
    out = []
    for part in loc:
        if isinstance(part, str) and (
            part in noise or part.startswith(("literal[", "list[", "function-", "constrained-", "union["))
        ):
            continue
        out.append(part)
    return tuple(out)


def validation_error(exc: ValidationError) -> SpecError:
    """Turn pydantic's report into one `SpecError` with a field path."""
    err = _best_error(exc)
    return SpecError(_message(err), _clean_loc(err["loc"]))


def spec_from_data(data: object, source: str | None = None, lines: dict | None = None) -> Spec:
    """Validate and resolve plain data (a dict as YAML gives it) into a `Spec`.

    Raises `SpecError` naming the field path, and the line when `lines` (from the YAML) is given.
    """
    lines = lines or {}
    if not isinstance(data, dict):
        raise SpecError(f"a spec must be a YAML mapping, got {type(data).__name__}", (), source, 1 if lines else None)
    try:
        spec = Spec.model_validate(data)
        resolved = resolve(spec)
    except ValidationError as exc:
        err = validation_error(exc)
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


@lru_cache(maxsize=None)
def _load_builtin(name: str) -> Spec:
    return spec_from_yaml(builtin_text(name), name)


# Resolution is pure and a Spec is frozen, so each spec is resolved once and the result kept.
_RESOLVED: dict[int, tuple[Spec, ResolvedSpec]] = {}


def _remember(spec: Spec, resolved: ResolvedSpec) -> None:
    if len(_RESOLVED) > 4096:
        _RESOLVED.clear()
    _RESOLVED[id(spec)] = (spec, resolved)


def resolved(spec: Spec) -> ResolvedSpec:
    """The resolved form of a spec (shapes known); raises `SpecError` if it cannot be resolved."""
    hit = _RESOLVED.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    result = resolve(spec)
    _remember(spec, result)
    return result

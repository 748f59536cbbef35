"""pydantic's validation report -> one `SpecError`: the most telling error, a short sentence, the
field path (and from it the YAML line), and for an unknown key the nearest valid one."""

from __future__ import annotations

import difflib
import reprlib
from typing import Annotated, get_args, get_origin

from pydantic import BaseModel, ValidationError

from .errors import SpecError

# Bounded repr: a value built from nested YAML aliases can be exponentially large when expanded.
_REPR = reprlib.Repr()  # keyword arguments only from Python 3.12
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 3, 4, 4, 40, 40


def _describe(value: object) -> str:
    text = _REPR.repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(bound: object) -> str:
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


def _message(err: dict) -> str:
    """A short, human sentence for one pydantic error."""
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind in ("greater_than", "greater_than_equal"):
        bound = ctx.get("gt", ctx.get("ge"))
        # An int bound is an integer field (PositiveInt); a float bound a number field (LRN alpha, weight).
        noun = "integer" if isinstance(bound, int) and not isinstance(bound, bool) else "number"
        if bound == 0 and kind == "greater_than":
            return f"must be a positive {noun}, got {_describe(value)}"
        return f"must be {'an' if noun == 'integer' else 'a'} {noun} >= {_number(bound)}, got {_describe(value)}"
    if kind in ("less_than", "less_than_equal"):
        op = "<" if kind == "less_than" else "<="
        bound = ctx.get("lt", ctx.get("le"))
        return f"must be {op} {_number(bound)}, got {_describe(value)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be an integer, got {_describe(value)}"
    if kind == "finite_number":
        return f"must be a finite number, got {_describe(value)}"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number, got {_describe(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, got {_describe(value)}"
    if kind in ("string_type",):
        return f"must be a string, got {_describe(value)}"
    if kind == "string_pattern_mismatch":
        return f"must be a name of letters, digits and underscores, got {_describe(value)}"
    if kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return "must not be empty" if n == 1 else f"must have at least {n} characters, got {_describe(value)}"
    if kind == "string_too_long":
        return f"must have at most {ctx.get('max_length', '?')} characters, got {len(value)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping, got {_describe(value)}"
    if kind == "list_type":
        return f"must be a list, got {_describe(value)}"
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        return f"must have at least {n} item{'s' if n != 1 else ''}, got {ctx.get('actual_length', len(value))}"
    if kind == "too_long":
        n = ctx.get("max_length", "?")
        return f"must have at most {n} item{'s' if n != 1 else ''}, got {ctx.get('actual_length', len(value))}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '?')}, got {_describe(value)}"
    if kind == "invalid_key":
        return f"keys must be strings, got {_describe(value)}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return err["msg"]


# A value of the wrong type for a union field fails every alternative with a type error; these say
# nothing alone ("must be an integer" for `kernel: [3]`), so the alternatives are named together.
_TYPE_ERRORS = frozenset(("int_type", "int_parsing", "int_from_float", "list_type", "literal_error", "too_short",
                          "too_long", "float_type", "string_type", "bool_type", "dict_type", "model_type"))


def _alternative(err: dict) -> str:
    """What one union alternative wanted, from the type tag pydantic puts in its loc."""
    tag = next((p for p in reversed(err["loc"]) if isinstance(p, str)), "")
    if err["type"] == "literal_error":
        return str((err.get("ctx") or {}).get("expected", "?")).replace(" or ", ", ")
    if tag.startswith("list["):
        return "a [height, width] list"
    if "int" in tag:
        return "an integer"
    return tag


def _best_error(exc: ValidationError) -> tuple[dict, str]:
    """Of the errors pydantic reports, the one that best explains the problem, and its message.

    Union fields (`kernel: 3 | [3, 3]`) report one error per alternative; the deepest path is the
    most specific; then a broken constraint (`kernel: 0`) over a type mismatch; among equals, the
    first in document order. When every alternative only refuses the value's type, all are named.
    """
    errors = exc.errors(include_url=False)
    depth = max(len(_clean_loc(e["loc"])) for e in errors)
    deepest = [e for e in errors if len(_clean_loc(e["loc"])) == depth]
    first = deepest[0]
    same_field = [e for e in deepest if _clean_loc(e["loc"]) == _clean_loc(first["loc"])]
    constraint = [e for e in same_field if e["type"] not in _TYPE_ERRORS]
    if constraint:
        return constraint[0], _message(constraint[0])
    if len(same_field) > 1 and len({e["loc"] for e in same_field}) == len(same_field):
        alternatives = [_alternative(e) for e in same_field]
        wanted = ", ".join(alternatives[:-1]) + " or " + alternatives[-1]
        return first, f"must be {wanted}, got {_describe(first.get('input'))}"
    return first, _message(first)


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


def validation_error(exc: ValidationError, root: type[BaseModel] | None = None) -> SpecError:
    """Turn pydantic's report into one `SpecError` with a field path. With `root` (the model that
    was validated), an unknown key gets the nearest valid key at its place as a suggestion."""
    err, message = _best_error(exc)
    path = _clean_loc(err["loc"])
    if err["type"] == "invalid_key":
        path = path[:-1]  # the key itself is not a field; point at the mapping that holds it
    if err["type"] == "extra_forbidden" and root is not None and path and isinstance(path[-1], str):
        near = difflib.get_close_matches(path[-1], sorted(keys_at(root, path[:-1])), n=1, cutoff=0.6)
        if near:
            message += f" (did you mean {near[0]!r}?)"
    return SpecError(message, path)


def _models_in(annotation) -> tuple[list[type[BaseModel]], bool]:
    """The pydantic models a field's annotation can hold (through Optional, unions, Annotated, lists
    and dict values), and whether they sit under a dict (whose keys are the user's, not fields)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation], False
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _models_in(args[0])
    if origin is dict:
        return _models_in(args[1])[0], True
    models, under_dict = [], False
    for arg in args:
        found, in_dict = _models_in(arg)
        models += found
        under_dict |= in_dict
    return models, under_dict


def keys_at(root: type[BaseModel], path: tuple) -> set[str]:
    """The keys a mapping at `path` (a cleaned field path from `root`) may hold."""
    models, skip_key = [root], False
    for part in path:
        if isinstance(part, int):
            continue  # a list index: the element's models are already the current ones
        if skip_key:
            skip_key = False  # a key of a user's dict (a stage name): its value's models stay current
            continue
        found, skip_key = [], False
        for model in models:
            for name, field in model.model_fields.items():
                if part in (name, field.alias):
                    inner, under_dict = _models_in(field.annotation)
                    found += inner
                    skip_key |= under_dict
        models = found
    return {field.alias or name for model in models for name, field in model.model_fields.items()}

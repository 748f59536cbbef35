"""Loading a search config: the YAML read and validated (`config.SearchConfig`), then checked against
its base spec (stages the space names, a training memory budget the smallest candidate must fit).

Apart from config.py, which defines the config's models only: these checks build candidates
(space.py, budget.py), which themselves read the models.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..spec.errors import SpecError
from ..spec.loader import load_spec, validation_error
from ..spec.models import Spec
from ..spec.yamlio import line_for, load_yaml
from .budget import MIN_SCALE
from .config import _TAGS, LoadedConfig, SearchConfig
from .space import _range_ends, candidate
from .stages import stages_of
from .train_cost import train_cost


def _check_against_base(config: SearchConfig, base: Spec, lines: dict, source: str) -> None:
    stages = stages_of(base)
    if not stages:
        raise SpecError(f"the base spec {base.name!r} has no inception modules to search over", ("base",),
                        source, line_for(("base",), lines))
    space = config.space
    if not any(base.layers[i].inception is not None for stage in stages.values() for i in stage.indices):
        for key in ("branch_shares", "reduce_ratio", "factorize_5x5"):
            if getattr(space, key):
                path = ("space", key)
                raise SpecError(f"{base.name} has no `inception:` rows (Table 1's shorthand), whose branches "
                                f"{key} varies; its modules are scaled by width and depth only", path, source,
                                line_for(path, lines))
    for key in (config.space.depth or {}):
        path = ("space", "depth", key)
        if key not in stages:
            raise SpecError(f"no stage {key!r} in {base.name} (stages: {', '.join(stages)})", path, source,
                            line_for(path, lines))
        if not stages[key].repeatable:
            only = ", ".join(base.layers[i].name for i in stages[key].indices)
            raise SpecError(f"{key} of {base.name} is only a grid reduction ({only}): no module to drop or repeat",
                            path, source, line_for(path, lines))


def smallest_candidate(config: SearchConfig, base: Spec) -> Spec:
    """The smallest network the search can make of `base`: every width at its lowest (the base's
    scaled by budget.MIN_SCALE, rounded up to the divisor) and the fewest modules per stage."""
    space = config.space
    params = {f"{stage}.depth": _range_ends(depth)[0] for stage, depth in (space.depth or {}).items()}
    if space.width is not None:
        params["width"] = _range_ends(space.width)[0]
    if space.stage_width is not None:
        params.update({f"{stage}.width": _range_ends(space.stage_width)[0] for stage in stages_of(base)})
    return candidate(base, params, space.divisor, MIN_SCALE, f"{base.name}-smallest")


def _check_train_memory(config: SearchConfig, base: Spec, lines: dict, source: str) -> None:
    """A training memory budget that not even the smallest candidate can train within, at the
    batch the config asks for (batch 1 with `batch_size: auto`): refused before any trial."""
    from ..profile.memory import fmt_bytes
    from ..spec.resolve import resolved

    limit = config.budget.train_memory
    if limit is None:
        return
    cost = train_cost(config)
    smallest = smallest_candidate(config, base)
    r = resolved(smallest)
    batch, peak = cost.measure(r)
    if peak <= limit:
        return
    one = cost.profile(r)  # batch 1
    largest = one.largest_batch(limit)
    how = f"{cost.precision} on {cost.device}"
    if cost.batch is None or largest < 1:
        path = ("budget", "train_memory")
        message = (f"{fmt_bytes(limit)} cannot train even the smallest candidate ({base.name} at its lowest widths, "
                   f"fewest modules) at batch 1: it needs {fmt_bytes(one.peak_bytes)} ({how})")
    else:
        path = ("train", "batch_size") if ("train", "batch_size") in lines else ("budget", "train_memory")
        message = (f"batch {batch:,} cannot train within budget.train_memory {fmt_bytes(limit)} even on the "
                   f"smallest candidate ({base.name} at its lowest widths, fewest modules): it needs "
                   f"{fmt_bytes(peak)} ({how}); its largest batch within the budget is {largest:,}")
    raise SpecError(message, path, source, line_for(path, lines))


def load_search_config(path: str | Path, overrides: dict | None = None) -> LoadedConfig:
    """Read, validate and check a search config against its base spec. `overrides` are applied to
    the plain data before validation (CLI options such as `{"trials": 40}` or budget values), so they
    are validated like the file's own values. Raises `SpecError` naming the file, line and field."""
    p = Path(path).expanduser()
    source = str(path)
    if not p.is_file():
        raise SpecError("no such search config file" if not p.exists() else "is not a file", (), source)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the file: {exc}".splitlines()[0], (), source) from None
    data, lines = load_yaml(text, source)
    if not isinstance(data, dict):
        raise SpecError(f"a search config must be a YAML mapping, got {type(data).__name__}", (), source, 1)
    for dotted, value in (overrides or {}).items():
        target = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            if not isinstance(target.get(key, {}), dict):
                raise SpecError("must be a mapping", tuple(dotted.split(".")[:1]), source)
            target = target.setdefault(key, {})
        target[leaf] = value
    try:
        config = SearchConfig.model_validate(data)
    except ValidationError as exc:
        err = validation_error(exc, SearchConfig)
        path = tuple(part for part in err.path if part not in _TAGS)
        raise SpecError(err.message, path, source, line_for(path, lines)) from None
    base_ref = config.base
    base_path = (p.parent / base_ref) if base_ref.endswith((".yaml", ".yml")) and not Path(base_ref).is_absolute() \
        else Path(base_ref)
    try:
        base = load_spec(str(base_path) if base_path.exists() else base_ref)
    except SpecError as err:
        if err.source in (base_ref, str(base_path)) and err.line is None:
            raise SpecError(err.message, ("base",), source, line_for(("base",), lines)) from None
        raise
    _check_against_base(config, base, lines, source)
    _check_train_memory(config, base, lines, source)
    return LoadedConfig(config, base, p)

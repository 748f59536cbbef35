"""The search space: stages of the base spec, Optuna suggestions, and the pure function
`candidate(base, params, divisor, scale) -> Spec` that turns sampled parameters into a network.

Parameter names (what Optuna stores and reports show):
  width                          global width multiplier
  stage_width_growth             stage k's width is growth**k times the first stage's
  stage4.width, stage4.depth     per stage
  inception4b.share_1x1 ...      per module: branch weights (1x1, 3x3, 5x5, pool)
  inception4b.reduce_ratio       per module: multiplier on the base reduce ratios
  inception4b.factorize_5x5      per module: two 3x3 convs instead of a 5x5
  stage4.share_1x1 ..., stage4.reduce_ratio, stage4.factorize_5x5
                                 the same, once for every module of the stage (share_module_params: stage)
  share_1x1 ..., reduce_ratio, factorize_5x5
                                 the same, once for the whole network (share_module_params: network)
A module takes its own value, else its stage's, else the network's. A parameter left out means
"as in the base spec".
"""

from __future__ import annotations

from ..spec.models import Inception, Layer, Spec
from .config import FloatChoices, FloatRange, IntRange, Space
from .stages import Stage, stages_of

BRANCHES = ("1x1", "3x3", "5x5", "pool")


def module_name(stage: Stage, base: Spec, j: int) -> str:
    """The name of the stage's j-th module: the base's own name where it exists, else the next letter."""
    if j < len(stage.indices):
        return base.layers[stage.indices[j]].name
    letter = ord(base.layers[stage.indices[-1]].name[-1]) + (j - len(stage.indices) + 1)
    if stage.prefix.endswith("_") or letter > ord("z"):
        return f"{stage.prefix}{j}" if stage.prefix.endswith("_") else f"{stage.prefix}_{j}"
    return stage.prefix + chr(letter)


def stage_widths(base: Spec) -> dict[str, float]:
    """Each stage's width in the base: the mean output channels of its inception modules."""
    widths = {}
    for stage in stages_of(base).values():
        outs = [sum(_outputs(base.layers[i].inception)) for i in stage.indices]
        widths[stage.name] = sum(outs) / len(outs)
    return widths


def _outputs(inc: Inception) -> tuple[int, int, int, int]:
    return inc.n1x1, inc.n3x3, inc.n5x5, inc.pool_proj


def _suggest(trial, name: str, param):
    if isinstance(param, FloatRange):
        return trial.suggest_float(name, param.low, param.high, log=param.log)
    if isinstance(param, IntRange):
        return trial.suggest_int(name, param.low, param.high)
    return trial.suggest_categorical(name, list(param.choices))


def _suggest_module(trial, space: Space, prefix: str, params: dict) -> None:
    """The per-module parameters, named `prefix` + `share_1x1` etc. (prefix: a module, a stage or '')."""
    if space.branch_shares is not None:
        for b in BRANCHES:
            params[f"{prefix}share_{b}"] = _suggest(trial, f"{prefix}share_{b}", space.branch_shares)
    if space.reduce_ratio is not None:
        params[f"{prefix}reduce_ratio"] = _suggest(trial, f"{prefix}reduce_ratio", space.reduce_ratio)
    if space.factorize_5x5:
        params[f"{prefix}factorize_5x5"] = trial.suggest_categorical(f"{prefix}factorize_5x5", [False, True])


def suggest(trial, space: Space, base: Spec) -> dict:
    """Sample every parameter of the space with an Optuna trial; returns `trial.params`' subset."""
    params: dict = {}
    if space.width is not None:
        params["width"] = _suggest(trial, "width", space.width)
    if space.stage_width_growth is not None:
        params["stage_width_growth"] = _suggest(trial, "stage_width_growth", space.stage_width_growth)
    if space.share_module_params == "network":
        _suggest_module(trial, space, "", params)
    for stage in stages_of(base).values():
        if space.stage_width is not None:
            params[f"{stage.name}.width"] = _suggest(trial, f"{stage.name}.width", space.stage_width)
        depth = len(stage.indices)
        if space.depth and stage.name in space.depth:
            depth = params[f"{stage.name}.depth"] = _suggest(trial, f"{stage.name}.depth", space.depth[stage.name])
        if space.share_module_params == "stage":
            _suggest_module(trial, space, f"{stage.name}.", params)
        elif space.share_module_params == "none":
            for j in range(depth):
                _suggest_module(trial, space, f"{module_name(stage, base, j)}.", params)
    return params


def _range_ends(param) -> tuple:
    """The lowest and highest value a range or choice list allows."""
    if isinstance(param, (FloatRange, IntRange)):
        return param.low, param.high
    return min(param.choices), max(param.choices)


def _between(param, fraction: float):
    """A value of the range (or choice list) `fraction` of the way from its lowest to its highest
    (geometrically for a log range)."""
    if isinstance(param, FloatRange):
        if param.log:
            return param.low * (param.high / param.low) ** fraction
        return param.low + (param.high - param.low) * fraction
    if isinstance(param, IntRange):
        return param.low + round((param.high - param.low) * fraction)
    values = sorted(param.choices)
    return values[round((len(values) - 1) * fraction)]


def priors(space: Space, base: Spec) -> list[tuple[str, dict]]:
    """Structured candidates to try before sampling, as (description, params) in order of
    preference, each with values inside the space's ranges and only parameters the space has (the
    rest is sampled as usual; the global width is left to budget filling or the sampler):

    - "widths growing across stages": stage_width rising from its lowest to its highest value
      across stages, or stage_width_growth at its highest;
    - "fewer, wider modules per stage": every searched depth at its lowest (and stage_width at its
      highest): budget filling makes the fewer modules wider;
    - "more, narrower modules per stage": every searched depth at its highest (stage_width lowest).
    A prior the space cannot express (no stage widths, no depths) is left out, as is a repeat."""
    stages = list(stages_of(base).values())
    found: list[tuple[str, dict]] = []
    growing: dict = {}
    if space.stage_width is not None:
        for k, stage in enumerate(stages):
            growing[f"{stage.name}.width"] = _between(space.stage_width, k / max(1, len(stages) - 1))
    if space.stage_width_growth is not None:
        growing["stage_width_growth"] = _range_ends(space.stage_width_growth)[1]
    found.append(("widths growing across stages", growing))
    for description, end in (("fewer, wider modules per stage", 0), ("more, narrower modules per stage", 1)):
        params = {f"{stage.name}.depth": _range_ends(space.depth[stage.name])[end]
                  for stage in stages if space.depth and stage.name in space.depth}
        if params and space.stage_width is not None:
            params.update({f"{stage.name}.width": _range_ends(space.stage_width)[1 - end] for stage in stages})
        found.append((description, params))
    out: list[tuple[str, dict]] = []
    for description, params in found:
        if params and all(params != other for _, other in out):
            out.append((description, params))
    return out


def round_width(value: float, divisor: int) -> int:
    """The nearest multiple of `divisor`, at least `divisor`, and never more than 10% below `value`
    (the make-divisible rule of MobileNet/EfficientNet)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def _lookup(params: dict, module: str, stage: str, key: str, default=None):
    """A per-module parameter: the module's own, else its stage's, else the network's."""
    for name in (f"{module}.{key}", f"{stage}.{key}", key):
        if name in params:
            return params[name]
    return default


def _module(base_inc: Inception, params: dict, name: str, stage: str, mult: float, divisor: int) -> Inception:
    base_out = _outputs(base_inc)
    if _lookup(params, name, stage, "share_1x1") is not None:
        weights = [_lookup(params, name, stage, f"share_{b}") for b in BRANCHES]
        total = sum(base_out) * mult
        outs = [total * w / sum(weights) for w in weights]
    else:
        outs = [n * mult for n in base_out]
    ratio = _lookup(params, name, stage, "reduce_ratio", 1.0)
    r3 = base_inc.n3x3_reduce / base_inc.n3x3 * ratio * outs[1]
    r5 = base_inc.n5x5_reduce / base_inc.n5x5 * ratio * outs[2]
    return base_inc.model_copy(update={
        "n1x1": round_width(outs[0], divisor),
        "n3x3_reduce": round_width(r3, divisor),
        "n3x3": round_width(outs[1], divisor),
        "n5x5_reduce": round_width(r5, divisor),
        "n5x5": round_width(outs[2], divisor),
        "pool_proj": round_width(outs[3], divisor),
        "factorize_5x5": _lookup(params, name, stage, "factorize_5x5", base_inc.factorize_5x5),
    })


def candidate(base: Spec, params: dict, divisor: int = 8, scale: float = 1.0, name: str | None = None) -> Spec:
    """The network for sampled `params` (a pure function: same inputs, same spec).

    `scale` multiplies every width on top of the params (budget filling uses it). Stem convs follow
    the global width; inception modules follow global x stage width (x growth**k / the base's own
    growth from the first stage to stage k, with `stage_width_growth`); the classifier and aux heads
    keep their widths. An aux head whose module was dropped moves to its stage's last module.
    The result is not yet resolved: call `archkit.spec.resolved` (shape checks) before using it.
    """
    width = params.get("width", 1.0) * scale
    stages = stages_of(base)
    growth = params.get("stage_width_growth")
    base_widths = stage_widths(base) if growth is not None else {}
    first = next(iter(base_widths.values()), 1.0)
    position = {name: k for k, name in enumerate(stages)}
    stage_at = {stage.indices[0]: stage for stage in stages.values()}
    in_stage = {i for stage in stages.values() for i in stage.indices}
    layers: list[Layer] = []
    renamed: dict[str, str] = {}  # dropped module -> the module its aux head moves to
    for i, layer in enumerate(base.layers):
        if i in stage_at:
            stage = stage_at[i]
            mult = width * params.get(f"{stage.name}.width", 1.0)
            if growth is not None:  # stage k's width: growth**k x the first stage's
                mult *= growth ** position[stage.name] * first / base_widths[stage.name]
            depth = params.get(f"{stage.name}.depth", len(stage.indices))
            for j in range(depth):
                source = base.layers[stage.indices[min(j, len(stage.indices) - 1)]]
                new_name = module_name(stage, base, j)
                inc = _module(source.inception, params, new_name, stage.name, mult, divisor)
                layers.append(source.model_copy(update={"name": new_name, "inception": inc}))
            kept = module_name(stage, base, depth - 1)
            for j in range(depth, len(stage.indices)):
                renamed[base.layers[stage.indices[j]].name] = kept
        elif i in in_stage:
            continue
        elif layer.conv is not None and width != 1.0:
            conv = layer.conv
            update = {"out": round_width(conv.out * width, divisor)}
            if conv.reduce is not None:
                update["reduce"] = round_width(conv.reduce * width, divisor)
            layers.append(layer.model_copy(update={"conv": conv.model_copy(update=update)}))
        else:
            layers.append(layer)
    aux = [head.model_copy(update={"after": renamed[head.after]}) if head.after in renamed else head
           for head in base.aux]
    return base.model_copy(update={
        "name": name or f"{base.name}-candidate",
        "source": f"archkit search over {base.name}",
        "description": None,
        "layers": layers,
        "aux": aux,
    })


def describe(spec: Spec) -> str:
    """A short summary of a candidate's widths and depths, for progress views and hover text:
    'stem 48/144 | 3: 208,384 | 4: 416,...' (each module's output channels)."""
    from ..spec.loader import resolved

    r = resolved(spec)
    parts: list[str] = []
    stem = [str(layer.out_shape[0]) for layer in r.layers if layer.kind == "conv"]
    if stem:
        parts.append("stem " + "/".join(stem))
    stage: list[str] = []
    for layer in r.layers:
        if layer.kind in ("inception", "module"):
            stage.append(str(layer.out_shape[0]))
        elif stage:
            parts.append(",".join(stage))
            stage = []
    if stage:
        parts.append(",".join(stage))
    return " | ".join(parts)


__all__ = ["BRANCHES", "FloatChoices", "Stage", "candidate", "describe", "module_name", "priors", "round_width",
           "stage_widths", "stages_of", "suggest"]

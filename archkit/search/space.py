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

import math
import re

from ..spec.models import Branch, Conv, Inception, Layer, Module, Spec
from .config import FloatChoices, FloatRange, IntRange, Space
from .record import Widths, widths_text
from .stages import Stage, stages_of

BRANCHES = ("1x1", "3x3", "5x5", "pool")
_TRAILING_NUMBER = re.compile(r"^(.*?)(\d+)$")


def module_name(stage: Stage, base: Spec, j: int) -> str:
    """The name of the j-th of the stage's modules that depth varies: the base's own name where it
    exists, else the next after the last one's (`inception4e` -> `inception4f`, `block35_10` ->
    `block35_11`), never a name the base already uses."""
    reps = stage.repeatable
    if j < len(reps):
        return base.layers[reps[j]].name
    last = base.layers[reps[-1]].name
    step = j - len(reps) + 1
    letter = ord(last[-1]) + step
    number = _TRAILING_NUMBER.match(last)
    if not stage.prefix.endswith("_") and last[-1].isalpha() and letter <= ord("z"):
        name = stage.prefix + chr(letter)
    elif number:
        name = f"{number.group(1)}{int(number.group(2)) + step}"
    else:
        name = f"{stage.prefix}_{j}" if not stage.prefix.endswith("_") else f"{stage.prefix}{j}"
    taken = {layer.name for layer in base.layers} - {base.layers[i].name for i in reps}
    while name in taken:
        name += "_"
    return name


def stage_widths(base: Spec) -> dict[str, float]:
    """Each stage's width in the base: the mean output channels of its modules."""
    from ..spec.resolve import resolved

    layers = resolved(base).layers
    widths = {}
    for stage in stages_of(base).values():
        outs = [layers[i].out_shape[0] for i in stage.indices]
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
        depth = len(stage.repeatable)
        if space.depth and stage.name in space.depth:
            depth = params[f"{stage.name}.depth"] = _suggest(trial, f"{stage.name}.depth", space.depth[stage.name])
        if space.share_module_params == "stage":
            _suggest_module(trial, space, f"{stage.name}.", params)
        elif space.share_module_params == "none":
            # Branch shares, reduce ratios and factorization exist for Table 1's inception rows only.
            for j in range(depth):
                if _source(base, stage, j).inception is not None:
                    _suggest_module(trial, space, f"{module_name(stage, base, j)}.", params)
            for i in stage.indices:
                if i not in stage.repeatable and base.layers[i].inception is not None:
                    _suggest_module(trial, space, f"{base.layers[i].name}.", params)
    return params


def _source(base: Spec, stage: Stage, j: int) -> Layer:
    """The base module the stage's j-th varied module copies (the last one, repeated, past the end)."""
    return base.layers[stage.repeatable[min(j, len(stage.repeatable) - 1)]]


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


def _scaled(source: Layer, params: dict, name: str, stage: str, mult: float, divisor: int) -> Layer:
    """A stage's module under its new name and width: a Table 1 row by `_module` (branch shares,
    reduce ratio, factorization), a general module by scaling every conv in it."""
    if source.inception is not None:
        return source.model_copy(update={"name": name, "inception": _module(source.inception, params, name, stage,
                                                                             mult, divisor)})
    return source.model_copy(update={"name": name, "module": _scale_module(source.module, mult, divisor)})


def _scale_conv(conv: Conv, mult: float, divisor: int) -> Conv:
    # A grouped conv's filters must stay a whole number per group.
    step = divisor * conv.groups // math.gcd(divisor, conv.groups)
    update = {"out": round_width(conv.out * mult, step), "in_": None}
    if conv.reduce is not None:
        update["reduce"] = round_width(conv.reduce * mult, divisor)
    return conv.model_copy(update=update)


def _scale_branch(branch: Branch, mult: float, divisor: int) -> Branch:
    ops = []
    for op in branch.ops:
        if op.conv is not None:
            op = op.model_copy(update={"conv": _scale_conv(op.conv, mult, divisor)})
        elif op.split is not None:
            op = op.model_copy(update={"split": [_scale_branch(b, mult, divisor) for b in op.split]})
        ops.append(op)
    return branch.model_copy(update={"ops": ops})


def _scale_module(module: Module, mult: float, divisor: int) -> Module:
    """Every conv of a general module (branches, splits, a residual's projection and shortcut) x
    `mult`; `_fit_residuals` then makes what is added agree."""
    update: dict = {"branches": [_scale_branch(b, mult, divisor) for b in module.branches]}
    res = module.residual
    if res is not None:
        update["residual"] = res.model_copy(update={
            part: _scale_conv(getattr(res, part), mult, divisor)
            for part in ("projection", "shortcut") if getattr(res, part) is not None})
    return module.model_copy(update=update)


def _branch_channels(branch: Branch, channels: int) -> int:
    for op in branch.ops:
        if op.conv is not None:
            channels = op.conv.out
        elif op.split is not None:
            channels = sum(_branch_channels(b, channels) for b in op.split)
    return channels


def _layer_channels(layer: Layer, channels: int, classes: int) -> int:
    """The output channels of a layer whose input has `channels` (the residual parts already fit)."""
    if layer.conv is not None:
        return layer.conv.out
    if layer.linear is not None:
        return layer.linear.out or classes
    if layer.inception is not None:
        inc = layer.inception
        return inc.n1x1 + inc.n3x3 + inc.n5x5 + inc.pool_proj
    if layer.module is not None:
        res = layer.module.residual
        if res is not None:
            return res.projection.out if res.projection else res.shortcut.out if res.shortcut else channels
        return sum(_branch_channels(b, channels) for b in layer.module.branches)
    return channels


def _fit_residuals(layers: list[Layer], channels: int, classes: int) -> list[Layer]:
    """Residual modules whose widths changed made addable again, following the channels through
    the network: a projection maps back to what it is added to (the input, or the shortcut's
    output); a shortcut without a projection gives the branches' width; an identity residual with
    one branch ending in a conv (Xception's middle blocks) ends at the input's width."""
    out = []
    for layer in layers:
        module = layer.module
        if module is not None and module.residual is not None:
            res = module.residual
            joined = sum(_branch_channels(b, channels) for b in module.branches)
            if res.projection is not None:
                target = res.shortcut.out if res.shortcut is not None else channels
                res = res.model_copy(update={"projection": res.projection.model_copy(update={"out": target})})
                module = module.model_copy(update={"residual": res})
            elif res.shortcut is not None:
                res = res.model_copy(update={"shortcut": res.shortcut.model_copy(update={"out": joined})})
                module = module.model_copy(update={"residual": res})
            elif joined != channels and len(module.branches) == 1 and module.branches[0].ops[-1].conv is not None:
                branch = module.branches[0]
                last = branch.ops[-1]
                last = last.model_copy(update={"conv": last.conv.model_copy(update={"out": channels})})
                module = module.model_copy(update={"branches": [branch.model_copy(update={"ops": [*branch.ops[:-1],
                                                                                                  last]})]})
            layer = layer.model_copy(update={"module": module})
        out.append(layer)
        channels = _layer_channels(layer, channels, classes)
    return out


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
            reps = stage.repeatable
            depth = params.get(f"{stage.name}.depth", len(reps))
            for k in stage.indices:
                if k not in reps:  # a grid reduction opening the stage stays, scaled with it
                    layers.append(_scaled(base.layers[k], params, base.layers[k].name, stage.name, mult, divisor))
                elif k == reps[0]:
                    layers += [_scaled(_source(base, stage, j), params, module_name(stage, base, j), stage.name,
                                       mult, divisor) for j in range(depth)]
            if 0 < depth < len(reps):
                kept = module_name(stage, base, depth - 1)
                for j in range(depth, len(reps)):
                    renamed[base.layers[reps[j]].name] = kept
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
    layers = _fit_residuals(layers, base.input.channels, base.classes)
    aux = [head.model_copy(update={"after": renamed[head.after]}) if head.after in renamed else head
           for head in base.aux]
    return base.model_copy(update={
        "name": name or f"{base.name}-candidate",
        "source": f"archkit search over {base.name}",
        "description": None,
        "layers": layers,
        "aux": aux,
    })


def widths_of(spec: Spec) -> Widths:
    """A candidate's widths as the search stores them (the `widths` trial attr): the stem convs'
    output channels, then per stage (modules between two other layers) each module's."""
    from ..spec.resolve import resolved

    r = resolved(spec)
    stem = [layer.out_shape[0] for layer in r.layers if layer.kind == "conv"]
    stages: list[list[int]] = []
    stage: list[int] = []
    for layer in r.layers:
        if layer.kind in ("inception", "module"):
            stage.append(layer.out_shape[0])
        elif stage:
            stages.append(stage)
            stage = []
    if stage:
        stages.append(stage)
    return Widths(stem=stem, stages=stages)


def describe(spec: Spec) -> str:
    """A short summary of a candidate's widths and depths, for progress views and hover text:
    'stem 48/144 | 208,384 | 416,...' (each module's output channels; `record.widths_text`)."""
    return widths_text(widths_of(spec))


__all__ = ["BRANCHES", "FloatChoices", "Stage", "candidate", "describe", "module_name", "priors", "round_width",
           "stage_widths", "stages_of", "suggest", "widths_of"]

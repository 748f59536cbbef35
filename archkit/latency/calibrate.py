"""Calibration of the lookup table against whole networks, on probe networks of its own.

An op timed alone, over and over, runs faster than the same op inside a network: in a loop of
itself its code, its weights and its input stay in the caches and the branch predictors know its
path; inside a network every op follows a different one. Measured on a 2-core Xeon (2026-11-30),
the table's sums fell short of the whole forward pass by 16-25% on 2M-multiply-add networks (some
8-13 microseconds per op) and by 11% on googlenet-32 (392M, whose weights overflow the L2 cache).
So the prediction of a unit is `scale x table + unit_ms`, and the two numbers are fitted, once per
device, on PROBES: networks generated here from a fixed seed (random inception-style modules of
random widths, residual ones among them, 16x16 to 32x32 inputs, from under one to tens of millions
of multiply-adds), never the networks a user or the benchmark predicts. In rounds, each probe's
units are timed as table entries are (the table keeping the fastest) and then the probe whole (the
fastest of its repeats over the rounds), so both sides are sampled over the same stretch of time;
a least-squares fit of the relative error with scale >= 1 and unit_ms >= 0 (an op inside a network
is never faster than in a loop of itself) gives the two numbers, capped at 2 and 1 ms. Some ten
seconds on a 2-core CPU, once per device, precision and thread count (kept in the table's file).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from .units import op_signature, spec_units

PROBES = 10
PROBE_SEED = 20261130
ROUNDS = 4  # rounds over the probes: their units re-timed, then each probe whole
MAX_SCALE, MAX_UNIT_MS = 2.0, 1.0  # beyond these a fit is surely noise


@dataclass(frozen=True, slots=True)
class Calibration:
    """unit latency = scale x table entry + unit_ms (see the module's docstring). `probes`: how
    many networks it was fitted on; `error`: the fit's root-mean-square relative error on them."""

    scale: float = 1.0
    unit_ms: float = 0.0
    probes: int = 0
    error: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _conv(out: int, kernel, **extra) -> dict:
    return {"conv": {"out": out, "kernel": kernel, **extra}}


def probe_specs(count: int = PROBES, seed: int = PROBE_SEED) -> list:
    """`count` probe networks (validated specs), the same for a given seed."""
    from ..spec.loader import spec_from_data

    rng = random.Random(seed)
    specs = []
    for i in range(count):
        # Half the probes narrow and deep (many small ops: where a fixed cost per op shows), half
        # wider and shallower (where the ops' own time does): the fit needs both to tell them apart.
        narrow = i % 2 == 0
        size = rng.choice((16, 24, 32))
        width = rng.choice((4, 8, 12) if narrow else (16, 32, 48))  # about how many channels a branch has

        def w(factor: float = 1.0, width: int = width) -> int:
            return max(4, 4 * round(width * factor * rng.uniform(0.5, 2.0) / 4))

        layers = [{"name": "stem", "conv": {"out": w(2), "kernel": 3}}]
        channels = layers[0]["conv"]["out"]
        for stage in range(rng.randint(2, 3) if narrow else rng.randint(1, 3)):
            if stage:
                layers.append({"name": f"pool{stage}", "maxpool": {"kernel": 3, "stride": 2, "rounding": "ceil"}})
            for m in range(rng.randint(2, 4) if narrow else rng.randint(1, 3)):
                branches = []
                for _ in range(rng.randint(2, 4)):
                    kind = rng.random()
                    if kind < 0.3:
                        branch = [_conv(w(), 1)]
                    elif kind < 0.6:
                        branch = [_conv(w(0.5), 1), _conv(w(), rng.choice((3, 5)))]
                    elif kind < 0.8:
                        branch = [_conv(w(0.5), 1), _conv(w(), [1, 3]), _conv(w(), [3, 1])]
                    else:
                        branch = [{"maxpool": {"kernel": 3, "padding": 1}}, _conv(w(), 1)]
                    branches.append(branch)
                module: dict = {"branches": branches}
                if rng.random() < 0.3:
                    module["residual"] = {"projection": {"out": channels, "activation": "none"},
                                          "scale": rng.choice((0.2, 1.0))}
                layers.append({"name": f"m{stage}{m}", "module": module})
                if "residual" not in module:
                    channels = sum(_branch_out(b) for b in branches)
        layers += [{"name": "gap", "global_avgpool": {}}, {"name": "drop", "dropout": {"p": 0.2}},
                   {"name": "fc", "linear": {}}]
        specs.append(spec_from_data({"name": f"latency-probe-{i}", "input": {"channels": 3, "size": size},
                                     "classes": 10, "defaults": {"batch_norm": True, "bias": False},
                                     "layers": layers}, source=f"latency probe {i}"))
    return specs


def _branch_out(branch: list[dict]) -> int:
    return branch[-1]["conv"]["out"]


def measure_calibration(table, batch: int = 1, count: int = PROBES, rounds: int = ROUNDS) -> Calibration:
    """Fit `Calibration` on the probe networks with `table` (a `LatencyTable`: its entries for the
    probes' units are measured if missing and kept: they are table entries like any other)."""
    import numpy as np
    import torch
    from scipy.optimize import nnls

    from ..builder import build
    from ..spec.resolve import resolved
    from .measure import precision_context, threads_set
    from .timing import time_call

    dev, precision = table.dev, table.precision
    constants = table.device_constants()
    probes = []  # (its units, fixed overheads, model, input)
    for spec in probe_specs(count):
        r = resolved(spec)
        layers = spec_units(r, precision)
        units = [(op, dtype) for _, lu in layers for op, dtype in lu.units]
        fixed = (constants.model_ms + len(r.layers) * constants.layer_ms
                 + sum(lu.containers for _, lu in layers) * constants.container_ms)
        model = build(spec, seed=0).eval().to(dev)
        probes.append((units, fixed, model, torch.randn(batch, *r.input_shape, device=dev)))
    # Round by round, each probe's units (again: the table keeps their fastest) then the probe
    # whole, so that both sides are sampled over the same stretch of time.
    best = [float("inf")] * len(probes)
    for _ in range(rounds):
        for k, (units, _fixed, model, x) in enumerate(probes):
            table.measure_many(units, batch, rounds=1, refine=True)
            with threads_set(table.threads), torch.inference_mode(), precision_context(dev, precision):
                t = time_call(lambda m=model, x=x: m(x), dev, warmup=2, repeats=3)
            best[k] = min(best[k], t.min_ms)
    rows = [[sum(table.get(op_signature(op, precision, batch, dtype)) for op, dtype in units), len(units), fixed]
            for units, fixed, _model, _x in probes]
    data = np.asarray(rows, dtype=float)
    # An op inside a network is never faster than in a loop of itself: fit the excess over the
    # table, (scale - 1) x table + unit_ms x units, both terms >= 0, to the relative error.
    target = np.asarray(best) - data[:, 2] - data[:, 0]
    weight = 1.0 / np.asarray(best)
    design = np.column_stack([data[:, 0], data[:, 1]]) * weight[:, None]
    norms = np.maximum(design.max(axis=0), 1e-300)
    solution, _ = nnls(design / norms, target * weight)
    excess, unit_ms = (float(v) for v in solution / norms)
    scale = min(1.0 + excess, MAX_SCALE)
    unit_ms = min(unit_ms, MAX_UNIT_MS)
    predicted = scale * data[:, 0] + unit_ms * data[:, 1] + data[:, 2]
    error = float(np.sqrt(np.mean((predicted / np.asarray(best) - 1) ** 2)))
    return Calibration(scale, unit_ms, len(probes), error)

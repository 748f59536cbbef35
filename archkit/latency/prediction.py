"""`predict(spec)`: a network's latency without running it, from the latency table
(`archkit.latency.table`, measured on the device), calibrated against whole networks, with
estimates for what the table lacks.

The network is cut into units (`archkit.latency.units`); each is looked up in the table, measured
on the spot when missing (`measure_missing=True`) or estimated (the table's per-kind fit, else the
device's roofline). An op runs slower inside a network than in a loop of itself: the calibration
(`archkit.latency.calibrate`, fitted once per device on probe networks of its own, never on the
networks predicted) turns a table entry into `scale x entry + unit_ms`. The Python around the units
is measured once per device (`archkit.latency.device`). The prediction is the sum:

    model constant + layers x per-layer step + containers x container call
        + sum over units (scale x table entry + unit_ms)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..spec.models import Spec
from ..spec.resolve import ResolvedSpec, resolved
from .calibrate import Calibration
from .errors import check_batch, check_precision
from .table import LatencyTable, get_table
from .units import op_signature, spec_units


@dataclass(frozen=True, slots=True)
class Prediction:
    """A predicted latency in milliseconds of one forward pass of a batch.

    per_layer_ms: each layer's units and container calls; total_ms adds the model's own forward
    overhead (overhead_ms is that plus every container call, the part no unit holds).
    covered_share: the share of units whose latency came from the table (measured now or before);
    the rest are estimates: `fitted_units` from the table's own per-kind fit, `roofline_units` from
    the device's roofline (a kind the table holds too few entries of). measured_now: signatures
    measured during this call; table_seconds: the time spent measuring during this call (units and device
    constants). per_layer_units: each layer's units with their signature, ms and source ("table",
    "measured", "fit" or "roofline")."""

    spec: str
    total_ms: float
    per_layer_ms: dict[str, float]
    covered_share: float
    units: int
    fitted_units: int
    roofline_units: int
    measured_now: int
    overhead_ms: float
    table_seconds: float
    device: str
    device_name: str
    precision: str
    batch: int
    threads: int
    calibration: Calibration = field(default_factory=Calibration)
    per_layer_units: dict[str, list[dict]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        return {"spec": self.spec, "total_ms": self.total_ms, "per_layer_ms": dict(self.per_layer_ms),
                "covered_share": self.covered_share, "units": self.units, "fitted_units": self.fitted_units,
                "roofline_units": self.roofline_units,
                "measured_now": self.measured_now, "overhead_ms": self.overhead_ms,
                "table_seconds": self.table_seconds, "device": self.device, "device_name": self.device_name,
                "precision": self.precision, "batch": self.batch, "threads": self.threads,
                "calibration": self.calibration.to_dict()}


def predict(spec: Spec, device: str = "cpu", batch: int = 1, precision: str = "fp32", *,
            measure_missing: bool = True, calibrate: bool = True, table: LatencyTable | None = None,
            threads: int | None = None, cache_dir: str | Path | None = None, save: bool = True) -> Prediction:
    """Predict the latency of one forward pass of `spec` (inference path, eval mode) on `device`
    for a batch of `batch` images at `precision`, without running the network.

    Units found in the table cost nothing; missing ones are measured alone on the device and added
    to the table when `measure_missing` (then saved to the cache when `save`), else estimated (the
    table's per-kind fit, or the device's roofline for a kind it holds too few entries of). Each
    unit counts `scale x table + unit_ms` of the table's calibration (`archkit.latency.calibrate`);
    with `calibrate`, a table without one fits it first (once per device: some seconds), else the
    table's calibration is used if it has one, the identity if not. `table`: a `LatencyTable` to use
    (default: `get_table(device, precision, threads=threads, cache_dir=cache_dir)`).
    Raises LatencyError for a bad option (one line)."""
    check_batch(batch)
    if table is None:
        table = get_table(device, precision, threads=threads, cache_dir=cache_dir)
    elif table.precision != check_precision(precision):
        from .errors import LatencyError

        raise LatencyError(f"the table is for {table.precision}, the prediction asks {precision}")
    return predict_resolved(resolved(spec), table, batch, measure_missing=measure_missing, calibrate=calibrate,
                            save=save)


def predict_resolved(r: ResolvedSpec, table: LatencyTable, batch: int = 1, *, measure_missing: bool = True,
                     calibrate: bool = True, save: bool = True) -> Prediction:
    """`predict` of an already resolved spec with a given table (the search resolves once)."""
    check_batch(batch)
    before = table.measure_seconds
    constants = table.device_constants()
    if calibrate:
        calibration = table.calibrated(batch)
    else:
        calibration = table.calibration or Calibration()
    scale, unit_ms = calibration.scale, calibration.unit_ms
    precision = table.precision
    per_layer: dict[str, float] = {}
    details: dict[str, list[dict]] = {}
    n_units = roofline = fitted = 0
    overhead = constants.model_ms + len(r.layers) * constants.layer_ms
    layers = spec_units(r, precision)
    fresh: set[str] = set()
    if measure_missing:  # all at once, in interleaved rounds (see `LatencyTable.measure_many`)
        missing = [(op, dtype) for _, lu in layers for op, dtype in lu.units
                   if table.get(op_signature(op, precision, batch, dtype)) is None]
        fresh = set(table.measure_many(missing, batch)) if missing else set()
    measured = len(fresh)
    for name, lu in layers:
        ms = lu.containers * constants.container_ms
        overhead += ms
        rows = []
        for op, dtype in lu.units:
            signature = op_signature(op, precision, batch, dtype)
            value = table.get(signature)
            source = "table"
            if signature in fresh:
                source = "measured"
            elif value is None:
                value, source = table.estimate(op, batch)
                if source == "fit":
                    fitted += 1
                else:
                    roofline += 1
            ms += scale * value + unit_ms
            n_units += 1
            rows.append({"signature": signature, "ms": scale * value + unit_ms, "table_ms": value, "source": source})
        per_layer[name] = ms
        details[name] = rows
    total = constants.model_ms + len(r.layers) * constants.layer_ms + sum(per_layer.values())
    if save and table.dirty:
        table.save()
    name = r.spec.name if r.spec is not None else ""
    covered = (n_units - roofline - fitted) / n_units if n_units else 1.0
    return Prediction(name, total, per_layer, covered, n_units, fitted, roofline, measured, overhead,
                      table.measure_seconds - before, str(table.dev), table.key["device_name"], precision, batch,
                      table.threads, calibration, details)

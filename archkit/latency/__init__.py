"""Latency: analytic memory traffic (no torch), measured per-layer latency, and a latency model
(a per-op lookup table measured on the device, a roofline for the rest) that predicts a network's
latency without running it.

- `traffic`: `op_bytes`, `layer_traffic` (bytes and multiply-adds; intensity = ops / bytes);
- `measure`: `measure_layers(spec)` (each layer and the whole forward pass, timed), `measure_model`;
- `units`: what the table times (a network cut into units), `op_signature`;
- `device`: the device's roofline and fixed overheads (`DeviceConstants`), measured on probes;
- `table`: `LatencyTable` (cached in archkit's cache folder), `get_table`;
- `calibrate`: the table against whole networks, fitted on probe networks of its own;
- `prediction`: `predict(spec)`, a network's latency from the table.
Importing this package imports no torch; the functions that time anything do, when called.
"""

from __future__ import annotations

from ..util.cache import cache_dir
from .calibrate import Calibration
from .device import DeviceConstants
from .errors import PRECISIONS, LatencyError, check_precision
from .measure import LayerLatencies, measure_layers, measure_model
from .prediction import Prediction, predict, predict_resolved
from .table import LatencyTable, get_table
from .timing import Timing
from .traffic import LayerTraffic, Traffic, intensity, layer_traffic, op_bytes, spec_traffic
from .units import op_signature

__all__ = [
    "PRECISIONS",
    "Calibration",
    "DeviceConstants",
    "LatencyError",
    "LatencyTable",
    "LayerLatencies",
    "LayerTraffic",
    "Prediction",
    "Timing",
    "Traffic",
    "cache_dir",
    "check_precision",
    "get_table",
    "intensity",
    "layer_traffic",
    "measure_layers",
    "measure_model",
    "op_bytes",
    "op_signature",
    "predict",
    "predict_resolved",
    "spec_traffic",
]

"""Latency: analytic memory traffic (no torch), measured per-layer latency, and a latency model
(a per-op lookup table measured on the device, a roofline for the rest) that predicts a network's
latency without running it.

- `traffic`: `op_bytes`, `layer_traffic` (bytes and multiply-adds; intensity = ops / bytes);
- `measure`: `measure_layers(spec)` (each layer and the whole forward pass, timed), `measure_model`;
- `model`: `op_signature`, `LatencyTable` (cached in the user's cache folder), `predict(spec)`;
- `calibrate`: the table against whole networks, fitted on probe networks of its own.
Importing this package imports no torch; the functions that time anything do, when called.
"""

from __future__ import annotations

from .calibrate import Calibration
from .errors import PRECISIONS, LatencyError, check_precision
from .measure import LayerLatencies, measure_layers, measure_model
from .model import (
    DeviceConstants,
    LatencyTable,
    Prediction,
    cache_dir,
    get_table,
    op_signature,
    predict,
    predict_resolved,
)
from .timing import Timing
from .traffic import LayerTraffic, Traffic, intensity, layer_traffic, op_bytes, spec_traffic

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

"""The latency predictor: a per-op lookup table measured on the device (FBNet's), calibrated
against whole networks, with estimates for what it lacks; `predict(spec)`, a network's latency
without running it.

A network is cut into units, each timed alone on the device once per distinct signature
(`op_signature`: kind, shapes, kernel, stride, padding, groups, ..., precision, input dtype, batch):
- every leaf op (a conv with its batch norm and ReLU, a pool, LRN, a linear layer, ...), built with
  the builder's own `op_module`, so it is the very module the model runs;
- every concatenation (a module's branches, a split's sub-branches): `torch.cat` of the parts;
- every residual addition: scale, add the shortcut, activation, as the builder's `Residual` does.
A unit is timed in rounds interleaved with the other units measured with it, and its entry is the
fastest block of calls (`LatencyTable.measure_many`). What the units leave out is the Python
around them: each container module a layer is built of (a `Chain` per branch, the
`Concat`/`Residual` around the branches) costs one more module call, and the model's own forward
pass a constant plus a little per layer; those are measured once per device on purpose-built
probes (a container around an identity against the identity alone; a one-layer and an
eight-layer model against their layers alone). And an op runs slower inside a network than in a
loop of itself: the calibration (`archkit.latency.calibrate`, fitted once per device on probe
networks of its own, never on the networks predicted) turns a table entry into
`scale x entry + unit_ms`. The prediction is the sum:

    model constant + layers x per-layer step + containers x container call
        + sum over units (scale x table entry + unit_ms)

A unit missing from the table is measured on the spot (`measure_missing=True`) or estimated:
by the table's own least-squares fit over its entries of the same kind (ms ~ a + b x multiply-adds
+ c x bytes, once it holds FIT_MIN of them), else by the device's roofline,
max(2 x multiply-adds / peak FLOP/s, bytes / bandwidth) + kernels x launch overhead, with the
peak from a large matmul, the bandwidth from a large copy and the launch overhead from a
one-element op, measured once per device.

The table is a JSON file in the user's cache folder (`cache_dir()`), one per device model, torch
intra-op thread count and precision; the file's key also holds the torch and archkit versions and
the table format. A file whose key differs (an upgrade: stale) or that cannot be read or parsed
(corrupt) is set aside and the table rebuilt from nothing; a prediction never fails on the cache.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from ..spec.models import Spec
from ..spec.resolve import (
    ConvOp,
    DropoutOp,
    GlobalPoolOp,
    LinearOp,
    LRNOp,
    Op,
    PoolOp,
    ReLUOp,
    ResolvedLayer,
    ResolvedSpec,
    Shape,
    SplitOp,
    resolved,
)
from .calibrate import PROBES, ROUNDS, Calibration
from .errors import BYTES_PER_ELEMENT, check_batch, check_precision
from .traffic import op_elements, op_ops

FORMAT = 1  # of the cache file; a change makes every older file stale
CACHE_ENV = "ARCHKIT_CACHE_DIR"
# The table's own timing: rounds x repeats blocks of about TABLE_BLOCK_S after a warm-up; short
# (a search candidate may bring a hundred new signatures), the fastest block kept.
TABLE_WARMUP, TABLE_ROUNDS, TABLE_REPEATS, TABLE_BLOCK_S = 2, 3, 3, 0.001
GROUP_BYTES = 1 << 30  # units measured together hold at most this much data (big batches on a GPU)
FIT_MIN = 8  # entries of a kind before the table's own fit replaces the roofline for that kind


# --- units: what the table times ----------------------------------------------------------------


class ConcatOp(NamedTuple):
    """Parts of `parts` channels each, concatenated along channels (`out_shape` the joined tensor)."""

    name: str
    in_shape: Shape  # the joined shape too: a concatenation reads as many elements as it writes
    out_shape: Shape
    parts: tuple[int, ...]


class AddOp(NamedTuple):
    """A residual module's end: activation(scale x out + shortcut), all of shape `out_shape`."""

    name: str
    in_shape: Shape
    out_shape: Shape
    scale: float
    activation: str


Unit = Op | ConcatOp | AddOp


def _shape(shape: Shape) -> str:
    return "x".join(map(str, shape))


def _pair(pair: tuple[int, int]) -> str:
    return f"{pair[0]}x{pair[1]}"


def compute_dtype(precision: str) -> str:
    """The dtype convs and linear layers give under `precision`'s autocast."""
    return "bf16" if precision == "bf16" else "fp32"


def op_signature(op: Unit, precision: str = "fp32", batch: int = 1, in_dtype: str | None = None) -> str:
    """The table's key of an op: everything that decides its latency and nothing else (not its name,
    nor batch norm's epsilon, nor dropout's rate): kind, input shape, output channels, kernel,
    stride, padding, groups, bias, batch norm, activation, pool mode and rounding, ..., then the
    precision, the input's dtype (under bf16 autocast an op after LRN gets fp32) and the batch.
    A string: hashable, a JSON key, and readable in the cache file.

    >>> from archkit.spec.resolve import ConvOp
    >>> op_signature(ConvOp("x", (16, 8, 8), (8, 8, 8), 8, (3, 3), (1, 1), (1, 1), False, True, "relu"))
    'conv in=16x8x8 out=8 k=3x3 s=1x1 p=1x1 g=1 bias=0 bn=1 act=relu | fp32 x=fp32 b=1'
    """
    check_precision(precision)
    check_batch(batch)
    t = type(op)
    if t is ConvOp:
        body = (f"conv in={_shape(op.in_shape)} out={op.out_channels} k={_pair(op.kernel)} s={_pair(op.stride)} "
                f"p={_pair(op.padding)} g={op.groups} bias={int(op.bias)} bn={int(op.batch_norm)} act={op.activation}")
    elif t is PoolOp:
        body = (f"{op.mode}pool in={_shape(op.in_shape)} k={_pair(op.kernel)} s={_pair(op.stride)} "
                f"p={_pair(op.padding)} ceil={int(op.ceil_mode)} cip={int(op.count_include_pad)}")
    elif t is GlobalPoolOp:
        body = f"gavgpool in={_shape(op.in_shape)}"
    elif t is LRNOp:
        body = f"lrn in={_shape(op.in_shape)} size={op.size}"
    elif t is DropoutOp:
        body = f"dropout in={_shape(op.in_shape)}"  # the identity at inference, whatever its rate
    elif t is LinearOp:
        body = f"linear in={_shape(op.in_shape)} out={op.out_features} bias={int(op.bias)} act={op.activation}"
    elif t is ReLUOp:
        body = f"relu in={_shape(op.in_shape)}"
    elif t is ConcatOp:
        body = f"concat parts={'+'.join(map(str, op.parts))} hw={op.out_shape[1]}x{op.out_shape[2]}"
    elif t is AddOp:
        body = f"add shape={_shape(op.out_shape)} scale={op.scale!r} act={op.activation}"
    elif t is SplitOp:
        raise TypeError("a split is not timed alone: its sub-branches' ops and their concatenation are")
    else:
        raise TypeError(f"no signature for {t.__name__}")
    return f"{body} | {precision} x={in_dtype or compute_dtype(precision)} b={batch}"


def _out_dtype(op: Unit, dtype: str, precision: str) -> str:
    # autocast (CPU and CUDA) runs convs and matmuls in bf16 and LRN in fp32; the rest keep their input's.
    if precision == "fp32":
        return "fp32"
    t = type(op)
    if t is ConvOp or t is LinearOp:
        return "bf16"
    if t is LRNOp:
        return "fp32"
    return dtype


def _widest(dtypes) -> str:
    return "fp32" if "fp32" in dtypes else "bf16"


class LayerUnits(NamedTuple):
    """A layer cut into timed units (each with its input dtype) and the container calls around them."""

    units: list[tuple[Unit, str]]
    containers: int
    out_dtype: str


def _sequence_units(ops, dtype: str, precision: str, units: list) -> tuple[int, str]:
    containers = 0
    for op in ops:
        if type(op) is SplitOp:
            containers += 1  # its Concat
            outs = []
            for branch in op.branches:
                containers += 1  # the branch's Chain
                c, d = _sequence_units(branch.ops, dtype, precision, units)
                containers += c
                outs.append(d)
            dtype = _widest(outs)
            units.append((ConcatOp(op.name, op.out_shape, op.out_shape,
                                   tuple(b.out_shape[0] for b in op.branches)), dtype))
        else:
            units.append((op, dtype))
            dtype = _out_dtype(op, dtype, precision)
    return containers, dtype


def layer_units(layer: ResolvedLayer, precision: str = "fp32", in_dtype: str = "fp32") -> LayerUnits:
    """The units of a layer as the builder builds it (`layer_module`) and its container calls."""
    units: list[tuple[Unit, str]] = []
    if not layer.parallel:
        ops = layer.branches[0].ops
        containers, dtype = _sequence_units(ops, in_dtype, precision, units)
        return LayerUnits(units, containers + (len(ops) > 1), dtype)  # a Chain when several ops
    containers = 1  # the Concat or Residual
    outs = []
    for branch in layer.branches:
        containers += 1  # the branch's Chain
        c, d = _sequence_units(branch.ops, in_dtype, precision, units)
        containers += c
        outs.append(d)
    dtype = _widest(outs)
    res = layer.residual
    joined = (sum(b.out_shape[0] for b in layer.branches), *layer.branches[0].out_shape[1:])
    if res is None or len(layer.branches) > 1:  # Concat always cats; Residual skips a lone branch
        units.append((ConcatOp("concat", joined, joined, tuple(b.out_shape[0] for b in layer.branches)), dtype))
    if res is not None:
        # the projection follows the concatenation; the shortcut starts from the module's input
        c, dtype = _sequence_units(res.projection, dtype, precision, units)
        containers += c + (len(res.projection) > 1)  # a Chain when several ops
        c, skip = _sequence_units(res.shortcut, in_dtype, precision, units)
        containers += c + (len(res.shortcut) > 1)
        dtype = _widest((dtype, skip))
        units.append((AddOp("add", layer.out_shape, layer.out_shape, res.scale, res.activation), dtype))
    return LayerUnits(units, containers, dtype)


def spec_units(r: ResolvedSpec, precision: str = "fp32") -> list[tuple[str, LayerUnits]]:
    """(layer name, its units) for every layer of the inference path, dtypes flowing layer to layer."""
    out = []
    dtype = "fp32"  # the image batch
    for layer in r.layers:
        lu = layer_units(layer, precision, dtype)
        out.append((layer.name, lu))
        dtype = lu.out_dtype
    return out


# --- the roofline ---------------------------------------------------------------------------------


def unit_bytes(op: Unit, precision: str, batch: int) -> int:
    """Bytes a unit moves (as `archkit.latency.traffic` counts them; an addition reads two terms)."""
    size = BYTES_PER_ELEMENT[precision]
    if type(op) is AddOp:
        c, h, w = op.out_shape
        return 3 * batch * c * h * w * size
    return op_elements(op, batch) * size


def unit_ops(op: Unit, batch: int) -> int:
    return 0 if type(op) in (ConcatOp, AddOp) else op_ops(op, batch)


def unit_kind(op: Unit) -> str:
    """The family a unit's latency is fitted within: its signature's kind, grouped convs apart
    (a depthwise conv is memory-bound where a dense one is compute-bound)."""
    t = type(op)
    if t is ConvOp:
        return "conv-grouped" if op.groups > 1 else "conv"
    if t is PoolOp:
        return f"{op.mode}pool"
    return {GlobalPoolOp: "gavgpool", LRNOp: "lrn", DropoutOp: "dropout", LinearOp: "linear", ReLUOp: "relu",
            ConcatOp: "concat", AddOp: "add"}[t]


def kernels(op: Unit) -> int:
    """Kernel launches (module calls for dropout) a unit makes: its share of fixed overhead."""
    t = type(op)
    if t is ConvOp:
        return 1 + op.batch_norm + (op.activation == "relu")
    if t is LinearOp:
        return 2 + (op.activation == "relu")  # flatten, linear, [relu]
    if t is AddOp:
        return 1 + (op.scale != 1.0) + (op.activation == "relu")
    return 1


@dataclass(frozen=True, slots=True)
class DeviceConstants:
    """Measured once per device (and thread count and precision), kept in the table's file.

    peak_flops: FLOP/s of a large matmul; bandwidth: bytes/s of a large copy (read + write);
    launch_ms: one module call running one kernel on one element; container_ms: one container module
    call (a Chain around an identity, minus the identity alone); model_ms and layer_ms: the model's
    forward pass around its layers, a constant and a per-layer step."""

    peak_flops: float
    bandwidth: float
    launch_ms: float
    container_ms: float
    model_ms: float
    layer_ms: float

    def roofline_ms(self, op: Unit, precision: str, batch: int) -> float:
        """max(compute time, memory time) + launch overhead per kernel, in milliseconds."""
        compute = 2 * unit_ops(op, batch) / self.peak_flops
        memory = unit_bytes(op, precision, batch) / self.bandwidth
        return max(compute, memory) * 1e3 + kernels(op) * self.launch_ms


# --- the table ------------------------------------------------------------------------------------


def cache_dir(path: str | Path | None = None) -> Path:
    """Where tables live: `path` if given, else $ARCHKIT_CACHE_DIR, else $XDG_CACHE_HOME/archkit,
    else ~/.cache/archkit."""
    if path is not None:
        return Path(path).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "archkit"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60] or "device"


class LatencyTable:
    """Measured latency per op signature on one device, at one precision and thread count.

    `entries` maps `op_signature(...)` to {"ms": the fastest block, "median", "q1", "q3", "calls",
    "repeats", "kind", "ops", "bytes"} (milliseconds; kind, multiply-adds and bytes for the per-kind
    fit). `constants`: the device's `DeviceConstants`, `calibration`: its `Calibration`, each
    measured on first use. `status` says how the file was found: "loaded", "new" (no file),
    "rebuilt: stale (...)" or "rebuilt: corrupt (...)". `measure_seconds`: the time this object
    spent measuring (entries, constants, calibration). `warmup`, `rounds`, `repeats`, `block_s`,
    `probes`, `probe_rounds`: how it measures (lower them for a quick run).
    Build one with `LatencyTable.open(...)`; `save()` writes it back (atomically, merged with what
    another process may have added meanwhile). Its measurements run with `threads` intra-op threads
    (default: torch's count when opened), set for the measurement and restored after."""

    def __init__(self, dev, precision: str, threads: int, folder: Path):
        import torch

        from .. import __version__
        from .timing import device_name

        self.dev = dev
        self.precision = precision
        self.threads = threads
        name = device_name(dev)
        self.key = {"format": FORMAT, "device": dev.type, "device_name": name, "threads": threads,
                    "precision": precision, "torch": torch.__version__, "archkit": __version__}
        self.path = folder / f"latency-{dev.type}-{_slug(name)}-{precision}-t{threads}.json"
        self.entries: dict[str, dict] = {}
        self.constants: DeviceConstants | None = None
        self.calibration: Calibration | None = None
        self.status = "new"
        self.measure_seconds = 0.0
        self.save_error: str | None = None
        # the timing of each entry (a quick benchmark lowers them) and of the calibration's probes
        self.warmup, self.rounds, self.repeats, self.block_s = TABLE_WARMUP, TABLE_ROUNDS, TABLE_REPEATS, TABLE_BLOCK_S
        self.probes, self.probe_rounds = PROBES, ROUNDS
        self._dirty = False
        self._fits: dict[str, tuple[int, tuple[float, float, float] | None]] = {}
        self._load()

    @classmethod
    def open(cls, device: str = "cpu", precision: str = "fp32", *, threads: int | None = None,
             cache_dir: str | Path | None = None) -> LatencyTable:
        """The table of `device` at `precision` from the cache (LatencyError for a bad option)."""

        from .measure import checked

        dev = checked(device, 1, precision)
        return cls(dev, precision, _thread_count(threads), _cache_dir(cache_dir))

    # -- file --

    def _read(self) -> dict | None:
        """The file's data if it is this table's; sets `status` when the file is stale or corrupt."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self.status = f"rebuilt: corrupt ({exc.__class__.__name__})"
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
                raise ValueError("not a latency table")
            entries = {str(k): _entry(v) for k, v in data["entries"].items()}
            constants = data.get("constants")
            if constants is not None:
                constants = DeviceConstants(**{k: float(constants[k]) for k in DeviceConstants.__slots__})
            calibration = data.get("calibration")
            if calibration is not None:
                calibration = Calibration(float(calibration["scale"]), float(calibration["unit_ms"]),
                                          int(calibration["probes"]),
                                          None if calibration.get("error") is None else float(calibration["error"]))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self.status = f"rebuilt: corrupt ({exc.__class__.__name__})"
            return None
        if data.get("key") != self.key:
            self.status = "rebuilt: stale (key differs: " + ", ".join(
                k for k in self.key if not isinstance(data.get("key"), dict) or data["key"].get(k) != self.key[k]) + ")"
            return None
        return {"entries": entries, "constants": constants, "calibration": calibration}

    def _load(self) -> None:
        data = self._read()
        if data is not None:
            self.entries = data["entries"]
            self.constants = data["constants"]
            self.calibration = data["calibration"]
            self.status = "loaded"
        elif self.status != "new":
            self._dirty = True  # overwrite the bad file at the next save

    def save(self) -> bool:
        """Write the table (merged with entries another process saved meanwhile). False, with
        `save_error` set, when the file cannot be written: the table still works in memory."""
        from ..util.files import atomic_write_text

        status = self.status
        on_disk = self._read()
        self.status = status
        if on_disk is not None:
            self.entries = {**on_disk["entries"], **self.entries}
            if self.constants is None:
                self.constants = on_disk["constants"]
            if self.calibration is None:
                self.calibration = on_disk["calibration"]
        data = {"key": self.key, "constants": None if self.constants is None else
                {k: getattr(self.constants, k) for k in DeviceConstants.__slots__},
                "calibration": None if self.calibration is None else self.calibration.to_dict(),
                "entries": dict(sorted(self.entries.items()))}
        try:
            atomic_write_text(self.path, json.dumps(data, indent=0) + "\n")
        except OSError as exc:
            self.save_error = f"{self.path}: {exc.strerror or exc}"
            return False
        self._dirty = False
        self.save_error = None
        return True

    # -- lookups and measurements --

    def get(self, signature: str) -> float | None:
        """The measured latency (ms) of a signature, or None."""
        entry = self.entries.get(signature)
        return None if entry is None else entry["ms"]

    def measure(self, op: Unit, batch: int = 1, in_dtype: str | None = None) -> float:
        """Time a unit alone on the device, store it under its signature and return its ms."""
        signature = op_signature(op, self.precision, batch, in_dtype)
        return self.measure_many([(op, in_dtype or compute_dtype(self.precision))], batch)[signature]

    def measure_many(self, units: list[tuple[Unit, str]], batch: int = 1, *, rounds: int | None = None,
                     refine: bool = False) -> dict[str, float]:
        """Time units (each with its input dtype) alone on the device, store them and return
        {signature: ms}. Each unit is timed in `rounds` (default `self.rounds`) rounds of
        `self.repeats` blocks, the rounds interleaved across the units, so that its samples spread
        over the whole measurement rather than the few milliseconds a slow phase of the machine
        could cover. The entry's ms is the fastest block (as timeit advises: slower ones are other
        processes' doing); the median is kept too. `refine`: a unit already in the table keeps the
        faster of its entry and the new samples (more samples, spread wider in time)."""
        import torch

        from .measure import precision_context
        from .timing import Timing, time_samples

        todo: dict[str, tuple[Unit, str]] = {}
        for op, dtype in units:
            todo.setdefault(op_signature(op, self.precision, batch, dtype), (op, dtype))
        out: dict[str, float] = {}
        started = time.perf_counter()
        with _threads(self.threads), torch.inference_mode(), precision_context(self.dev, self.precision):
            for group in _groups(list(todo.items()), self.precision, batch):
                runners = [(sig, _runner(op, batch, dtype, self.dev)) for sig, (op, dtype) in group]
                samples: dict[str, list[float]] = {sig: [] for sig, _ in runners}
                calls: dict[str, int] = {}
                for round_ in range(self.rounds if rounds is None else rounds):
                    for sig, fn in runners:
                        got, calls[sig] = time_samples(fn, self.dev, warmup=self.warmup if round_ == 0 else 1,
                                                       repeats=self.repeats, block_s=self.block_s,
                                                       calls=calls.get(sig))
                        samples[sig] += got
                for sig, (op, _) in group:
                    timing = Timing.of(samples[sig], calls[sig])
                    old = self.entries.get(sig) if refine else None
                    entry = {"ms": timing.min_ms, "median": timing.median_ms, "q1": timing.q1_ms,
                             "q3": timing.q3_ms, "calls": timing.calls, "repeats": timing.repeats,
                             "kind": unit_kind(op), "ops": unit_ops(op, batch),
                             "bytes": unit_bytes(op, self.precision, batch)}
                    if old is not None:
                        entry["ms"] = min(entry["ms"], old["ms"])
                        entry["repeats"] += old.get("repeats", 0)
                    self.entries[sig] = entry
                    out[sig] = entry["ms"]
                del runners
        self.measure_seconds += time.perf_counter() - started
        self._dirty = True
        return out

    def estimate(self, op: Unit, batch: int = 1) -> tuple[float, str]:
        """(ms, how) for a unit not in the table, without running it: "fit" when the table holds at
        least FIT_MIN entries of its kind (a least-squares line through them, see `kind_fit`), else
        "roofline" (the device's roofline)."""
        coef = self.kind_fit(unit_kind(op))
        if coef is not None:
            a, b, c = coef
            return a + b * unit_ops(op, batch) + c * unit_bytes(op, self.precision, batch), "fit"
        return self.device_constants().roofline_ms(op, self.precision, batch), "roofline"

    def kind_fit(self, kind: str) -> tuple[float, float, float] | None:
        """ms ~ a + b x multiply-adds + c x bytes over the table's entries of one kind (a, b, c >= 0:
        a fixed cost, a compute time and a memory time), fitted to minimize the squared relative
        error (small and large ops count alike); None below FIT_MIN entries of the kind."""
        rows = [(e["ops"], e["bytes"], e["ms"]) for e in self.entries.values()
                if e.get("kind") == kind and "ops" in e and "bytes" in e]
        cached = self._fits.get(kind)
        if cached is not None and cached[0] == len(rows):
            return cached[1]
        coef = None
        if len(rows) >= FIT_MIN:
            import numpy as np
            from scipy.optimize import nnls

            data = np.asarray(rows, dtype=float)
            scale = 1.0 / data[:, 2]
            design = np.column_stack([np.ones(len(data)), data[:, 0], data[:, 1]]) * scale[:, None]
            # columns scaled to unit size so the solver sees a well-conditioned problem
            norms = np.maximum(np.abs(design).max(axis=0), 1e-300)
            solution, _ = nnls(design / norms, np.ones(len(data)))
            a, b, c = (float(v) for v in solution / norms)
            if a > 0 or b > 0 or c > 0:
                coef = (a, b, c)
        self._fits[kind] = (len(rows), coef)
        return coef

    def device_constants(self) -> DeviceConstants:
        """The device's roofline and overhead constants, measured on first use and kept."""
        if self.constants is None:
            started = time.perf_counter()
            with _threads(self.threads):
                self.constants = _measure_constants(self.dev, self.precision)
            self.measure_seconds += time.perf_counter() - started
            self._dirty = True
        return self.constants

    def calibrated(self, batch: int = 1) -> Calibration:
        """The table's calibration against whole networks (`archkit.latency.calibrate`), fitted on
        the probe networks on first use (their units join the table) and kept."""
        if self.calibration is None:
            from .calibrate import measure_calibration

            before, started = self.measure_seconds, time.perf_counter()
            self.calibration = measure_calibration(self, batch, self.probes, self.probe_rounds,
                                                   spec_units=spec_units, op_signature=op_signature, threads=_threads)
            self.measure_seconds = before + time.perf_counter() - started
            self._dirty = True
        return self.calibration

    @property
    def dirty(self) -> bool:
        return self._dirty


def _cache_dir(path) -> Path:
    return cache_dir(path)  # (the methods' `cache_dir` argument hides the function's name)


_NUMBERS = ("ms", "median", "q1", "q3", "ops", "bytes", "calls", "repeats")


def _entry(value) -> dict:
    """An entry read from a file, checked: numbers where numbers belong, a positive finite `ms`."""
    if not isinstance(value, dict):
        raise TypeError("an entry is not a mapping")
    entry = {k: v for k, v in value.items() if k in _NUMBERS or k == "kind"}
    for k in _NUMBERS:
        if k in entry and (isinstance(entry[k], bool) or not isinstance(entry[k], (int, float))):
            raise TypeError(f"{k} is not a number")
    if "kind" in entry and not isinstance(entry["kind"], str):
        raise TypeError("kind is not a string")
    ms = float(entry["ms"])
    if not (0 < ms < float("inf")):
        raise ValueError("a latency that is not a positive number")
    return entry


def _thread_count(threads: int | None) -> int:
    import torch

    if threads is None:
        return torch.get_num_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        from .errors import LatencyError

        raise LatencyError(f"--threads must be a whole number of at least 1, got {threads!r}")
    return threads


class _threads:
    """torch's thread count set for a block (a table measures with the count it is keyed by)."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        import torch

        self.before = torch.get_num_threads()
        if self.before != self.n:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        import torch

        if torch.get_num_threads() != self.before:
            torch.set_num_threads(self.before)


_DTYPES = {"fp32": "float32", "bf16": "bfloat16"}


def _groups(items: list, precision: str, batch: int) -> list[list]:
    """Consecutive groups of (signature, (unit, dtype)) whose data stays under GROUP_BYTES."""
    groups: list[list] = []
    size = GROUP_BYTES
    for item in items:
        nbytes = unit_bytes(item[1][0], precision, batch)
        if size + nbytes > GROUP_BYTES and (not groups or groups[-1]):
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += nbytes
    return groups


def _runner(op: Unit, batch: int, in_dtype: str, dev):
    """A no-argument callable that runs the unit once on tensors made here."""
    import torch

    from ..builder.blocks import op_module

    dtype = getattr(torch, _DTYPES[in_dtype])
    t = type(op)
    if t is ConcatOp:
        h, w = op.out_shape[1:]
        parts = [torch.randn(batch, c, h, w, device=dev, dtype=dtype) for c in op.parts]
        return lambda: torch.cat(parts, dim=1)
    if t is AddOp:
        out, skip = (torch.randn(batch, *op.out_shape, device=dev, dtype=dtype) for _ in range(2))
        scale, relu = op.scale, op.activation == "relu"

        def add():  # what `archkit.builder.blocks.Residual` does after its branches
            y = out * scale if scale != 1.0 else out
            y = y + skip
            return torch.relu(y) if relu else y

        return add
    module = op_module(op).eval().to(dev)
    x = torch.randn(batch, *op.in_shape, device=dev, dtype=dtype)
    return lambda: module(x)


def _probe_spec(layers: list[dict]) -> Spec:
    from ..spec.loader import spec_from_data

    return spec_from_data({"name": "latency-probe", "input": {"channels": 4, "size": 1}, "classes": 4,
                           "layers": layers})


def _peak_flops(dev, timed) -> float:
    """FLOP/s of a matmul large enough to saturate the device (under autocast for bf16)."""
    import torch

    n = 4096 if dev.type == "cuda" else 768
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    return 2 * n**3 / (timed(lambda: a @ b, 7) / 1e3)


def _bandwidth(dev, precision: str, timed) -> float:
    """Bytes/s of a copy far larger than a CPU's last-level cache (counting the read and the write)."""
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    elements = (256 if dev.type == "cuda" else 64) * 2**20 // BYTES_PER_ELEMENT[precision]
    src, dst = torch.ones(elements, device=dev, dtype=dtype), torch.empty(elements, device=dev, dtype=dtype)
    return 2 * src.numel() * src.element_size() / (timed(lambda: dst.copy_(src), 7) / 1e3)


def _measure_constants(dev, precision: str) -> DeviceConstants:
    import torch
    from torch import nn

    from ..builder import build
    from ..builder.blocks import Chain
    from .measure import precision_context
    from .timing import time_call

    def timed(fn, repeats: int = 15) -> float:
        return time_call(fn, dev, warmup=3, repeats=repeats).median_ms

    with torch.inference_mode(), precision_context(dev, precision):
        peak = _peak_flops(dev, timed)
        bandwidth = _bandwidth(dev, precision, timed)
        # Fixed costs: one kernel on one element; a container call around an identity.
        one = torch.ones(1, device=dev)
        relu, identity, chain = nn.ReLU(), nn.Identity(), Chain({"0": nn.Identity()})
        launch = timed(lambda: relu(one))
        container = max(0.0, timed(lambda: chain(one)) - timed(lambda: identity(one)))
        # The model's forward around its layers: a one-layer and an eight-layer probe.
        x = torch.randn(1, 4, 1, 1, device=dev)
        small = build(_probe_spec([{"name": "fc", "linear": {}}])).eval().to(dev)
        big = build(_probe_spec([{"name": f"d{i}", "dropout": {"p": 0.5}} for i in range(7)]
                                + [{"name": "fc", "linear": {}}])).eval().to(dev)
        fc, drop = small["fc"], big["d0"]
        t_fc, t_drop = timed(lambda: fc(x)), timed(lambda: drop(x))
        over_small = timed(lambda: small(x)) - t_fc
        over_big = timed(lambda: big(x)) - t_fc - 7 * t_drop
        layer = max(0.0, (over_big - over_small) / 7)
        model = max(0.0, over_small - layer)
    return DeviceConstants(peak, bandwidth, launch, container, model, layer)


# --- predictions ----------------------------------------------------------------------------------


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


_OPEN: dict[tuple, LatencyTable] = {}


def get_table(device: str = "cpu", precision: str = "fp32", *, threads: int | None = None,
              cache_dir: str | Path | None = None) -> LatencyTable:
    """The table of this device, precision and thread count, opened once per process (a search
    predicts many candidates: the file is read once, then saved as entries are added)."""

    from .measure import checked

    dev = checked(device, 1, precision)
    n = _thread_count(threads)
    folder = _cache_dir(cache_dir).resolve()
    key = (str(dev), precision, n, str(folder))
    table = _OPEN.get(key)
    if table is None:
        table = _OPEN[key] = LatencyTable(dev, precision, n, folder)
    return table


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
